import { describe, expect, it } from 'vitest';
import { nonzeroRows } from '../../models/sasrec/parallel.ts';

describe('gradient worker transfer', () => {
  it('nonzeroRows sends the rows that are not all zero, and null when they are half or more', () => {
    const dim = 3;
    const g = new Float32Array(8 * dim);
    g.set([1, 0, 0], 1 * dim);
    g.set([0, 0, -2.5], 4 * dim);
    g.set([0, 1e-30, 0], 7 * dim);
    const s = nonzeroRows(g, dim)!;
    expect([...s.ids]).toEqual([1, 4, 7]);
    expect([...s.values]).toEqual([1, 0, 0, 0, 0, -2.5, 0, 1e-30, 0].map(Math.fround));
    // Rebuilt densely, the same array.
    const back = new Float32Array(g.length);
    s.ids.forEach((r, k) => back.set(s.values.subarray(k * dim, (k + 1) * dim), r * dim));
    expect(back).toEqual(g);
    g.set([5, 5, 5], 0);
    expect(nonzeroRows(g, dim)).toBeNull(); // 4 of 8 rows: dense is as cheap
    expect(nonzeroRows(new Float32Array(4 * dim), dim)!.ids).toHaveLength(0);
  });
});

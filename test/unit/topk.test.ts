import { describe, expect, it } from 'vitest';
import { fromFloat16Bits as f16ToF32 } from '../../src/core/quantize.ts';
import { scoreF16, scoreF32, scoreInt8, topK } from '../../src/core/topk.ts';
import { Rng } from '../../src/core/random.ts';
import { isLocalrecError } from '../../src/core/errors.ts';

/** The obvious reference: full sort by (score desc, index asc), NaN and excluded dropped. */
function naiveTopK(
  scores: Float32Array,
  k: number,
  skip: (i: number) => boolean = () => false,
): number[] {
  const idx = Array.from(scores.keys()).filter((i) => !Number.isNaN(scores[i]!) && !skip(i));
  idx.sort((a, b) => scores[b]! - scores[a]! || a - b);
  return idx.slice(0, k);
}

/** float → nearest half bit pattern (round to nearest even), for building f16 fixtures. */
function toHalf(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer)[0]!;
  const sign = (u >>> 16) & 0x8000;
  const exp = ((u >>> 23) & 0xff) - 127 + 15;
  let mant = u & 0x7fffff;
  if (exp <= 0) {
    if (exp < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - exp;
    const half = (mant >> shift) + ((mant >> (shift - 1)) & 1);
    return sign | half;
  }
  if (exp >= 31) return sign | 0x7c00;
  const rounded = (exp << 10) + (mant >> 13) + ((mant >> 12) & 1);
  return sign | rounded;
}

describe('scoreInt8 / scoreF32 / scoreF16', () => {
  const rng = new Rng(7);
  const dim = 13; // not a multiple of 4: exercises the tail loop
  const count = 50;
  const q = Float32Array.from({ length: dim }, () => rng.normal());
  const f32 = Float32Array.from({ length: count * dim }, () => rng.normal());

  it('int8 equals scale times the integer dot product', () => {
    const rows = Int8Array.from({ length: count * dim }, () => rng.int(255) - 127);
    const scales = Float32Array.from({ length: count }, () => rng.next() * 0.05);
    const out = new Float32Array(count);
    scoreInt8(q, rows, scales, dim, out);
    for (let r = 0; r < count; r++) {
      let s = 0;
      for (let j = 0; j < dim; j++) s += q[j]! * rows[r * dim + j]!;
      expect(out[r]).toBeCloseTo(scales[r]! * s, 4);
    }
  });

  it('int8 of a quantized matrix tracks the f32 scores', () => {
    const rows = new Int8Array(count * dim);
    const scales = new Float32Array(count);
    for (let r = 0; r < count; r++) {
      let m = 0;
      for (let j = 0; j < dim; j++) m = Math.max(m, Math.abs(f32[r * dim + j]!));
      scales[r] = m / 127;
      for (let j = 0; j < dim; j++) rows[r * dim + j] = Math.round(f32[r * dim + j]! / scales[r]!);
    }
    const a = new Float32Array(count);
    const b = new Float32Array(count);
    scoreInt8(q, rows, scales, dim, a);
    scoreF32(q, f32, dim, b);
    for (let r = 0; r < count; r++) expect(Math.abs(a[r]! - b[r]!)).toBeLessThan(0.1);
  });

  it('f32 is the plain dot product and writes only count scores', () => {
    const out = new Float32Array(count + 3).fill(-7);
    scoreF32(q, f32, dim, out);
    for (let r = 0; r < count; r++) {
      let s = 0;
      for (let j = 0; j < dim; j++) s += q[j]! * f32[r * dim + j]!;
      expect(out[r]).toBeCloseTo(s, 4);
    }
    expect(Array.from(out.subarray(count))).toEqual([-7, -7, -7]);
  });

  it('f16 decodes halves exactly and scores like f32 on the rounded values', () => {
    expect(f16ToF32(0x3c00)).toBe(1);
    expect(f16ToF32(0xc000)).toBe(-2);
    expect(f16ToF32(0x0001)).toBe(2 ** -24);
    expect(f16ToF32(0x7bff)).toBe(65504);
    expect(f16ToF32(0x7c00)).toBe(Infinity);
    expect(f16ToF32(0x7e00)).toBeNaN();
    const half = Uint16Array.from(f32, toHalf);
    const back = Float32Array.from(half, f16ToF32);
    for (let i = 0; i < f32.length; i++)
      expect(Math.abs(back[i]! - f32[i]!)).toBeLessThanOrEqual(Math.abs(f32[i]!) * 2 ** -10);
    const a = new Float32Array(count);
    const b = new Float32Array(count);
    scoreF16(q, half, dim, a);
    scoreF32(q, back, dim, b);
    for (let r = 0; r < count; r++) expect(a[r]).toBeCloseTo(b[r]!, 5);
  });

  it('rejects mismatched shapes with bad-input', () => {
    const out = new Float32Array(count);
    const expectBad = (f: () => void) => {
      try {
        f();
        expect.unreachable();
      } catch (e) {
        expect(isLocalrecError(e) && e.code).toBe('bad-input');
      }
    };
    expectBad(() => scoreF32(q.subarray(1), f32, dim, out));
    expectBad(() => scoreF32(q, f32.subarray(1), dim, out));
    expectBad(() => scoreF32(q, f32, dim, new Float32Array(count - 1)));
    expectBad(() =>
      scoreInt8(q, new Int8Array(count * dim), new Float32Array(count - 1), dim, out),
    );
    expectBad(() => scoreF16(q, new Uint16Array(dim), 0, out));
  });
});

describe('topK', () => {
  it('returns the best k, best first', () => {
    const s = Float32Array.from([0.1, 0.9, -1, 0.5, 0.7, 0.3]);
    const r = topK(s, 3);
    expect(Array.from(r.indices)).toEqual([1, 4, 3]);
    expect(Array.from(r.scores)).toEqual([s[1], s[4], s[3]]);
  });

  it('breaks ties by lower index, whatever the order of arrival', () => {
    const s = Float32Array.from([1, 2, 2, 0, 2, 1, 2]);
    expect(Array.from(topK(s, 3).indices)).toEqual([1, 2, 4]);
    expect(Array.from(topK(s, 5).indices)).toEqual([1, 2, 4, 6, 0]);
    const all = new Float32Array(20).fill(3);
    expect(Array.from(topK(all, 4).indices)).toEqual([0, 1, 2, 3]);
  });

  it('k > N returns every rankable entry; k = 0 returns nothing', () => {
    const s = Float32Array.from([3, NaN, 1, 2]);
    expect(Array.from(topK(s, 10).indices)).toEqual([0, 3, 2]);
    expect(topK(s, 0).indices.length).toBe(0);
    expect(topK(new Float32Array(0), 5).indices.length).toBe(0);
  });

  it('NaN never ranks, while ±Infinity do', () => {
    const s = Float32Array.from([NaN, -Infinity, NaN, Infinity, 0, NaN]);
    const r = topK(s, 6);
    expect(Array.from(r.indices)).toEqual([3, 4, 1]);
    expect(Array.from(topK(new Float32Array(5).fill(NaN), 3).indices)).toEqual([]);
  });

  it('honours exclusions given as a Set or a predicate', () => {
    const s = Float32Array.from([5, 4, 3, 2, 1, 0]);
    expect(Array.from(topK(s, 3, new Set([0, 2])).indices)).toEqual([1, 3, 4]);
    expect(Array.from(topK(s, 3, (i) => i % 2 === 0).indices)).toEqual([1, 3, 5]);
    expect(Array.from(topK(s, 10, () => true).indices)).toEqual([]);
  });

  it('asks the predicate only about entries that could enter the heap', () => {
    const s = Float32Array.from({ length: 1000 }, (_, i) => i); // ascending: every entry enters
    const desc = Float32Array.from({ length: 1000 }, (_, i) => 1000 - i); // only the first k enter
    let asked = 0;
    topK(desc, 5, () => (asked++, false));
    expect(asked).toBe(5);
    asked = 0;
    topK(s, 5, () => (asked++, false));
    expect(asked).toBe(1000);
  });

  it('matches a full sort on random data with ties, NaN and exclusions', () => {
    const rng = new Rng(123);
    for (let trial = 0; trial < 200; trial++) {
      const n = rng.int(300);
      const s = Float32Array.from({ length: n }, () => {
        const u = rng.next();
        return u < 0.05 ? NaN : Math.round(rng.normal() * 4) / 4; // coarse values → many ties
      });
      const k = rng.int(40);
      const ex = new Set<number>();
      for (let i = 0; i < n / 10; i++) ex.add(rng.int(Math.max(1, n)));
      const got = topK(s, k, ex);
      const want = naiveTopK(s, k, (i) => ex.has(i));
      expect(Array.from(got.indices)).toEqual(want);
      expect(Array.from(got.scores)).toEqual(want.map((i) => s[i]));
    }
  });

  it('rejects a negative or fractional k', () => {
    expect(() => topK(new Float32Array(3), -1)).toThrow(/non-negative integer/);
    expect(() => topK(new Float32Array(3), 1.5)).toThrow(/non-negative integer/);
  });
});

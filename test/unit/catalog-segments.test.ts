/**
 * The browser's catalog on an ensemble's shard (src/core/shard.ts version 2, one int8 scale per
 * member): rows read back (itemVectors) and scores searched by each CPU kernel are the decoded
 * shard's values — the same numbers `localrec eval` scores through exportScorer.
 */
import { describe, expect, it } from 'vitest';
import { newCatalog, readRow } from '../../src/client/ranker/catalog.ts';
import { Rng } from '../../src/core/random.ts';
import { decodeShard, encodeShard, shardRowsAsFloat32 } from '../../src/core/shard.ts';

const SEG = 8;
const DIM = 3 * SEG;

function shard(baseIndex: number, count: number, seed: number): Uint8Array {
  const rng = new Rng(seed);
  const rows = new Float32Array(count * DIM);
  // Three members whose vectors differ 100× in magnitude.
  for (let i = 0; i < rows.length; i++)
    rows[i] = rng.normal() * [1, 0.1, 0.01][Math.floor((i % DIM) / SEG)]!;
  const ids = Array.from({ length: count }, (_, r) => `item-${baseIndex + r}`);
  return encodeShard({ dtype: 'int8', dim: DIM, baseIndex, ids, rows, segments: 3 });
}

describe.each(['ts', 'wasm-simd'] as const)('a catalog of segmented int8 shards (%s)', (kernel) => {
  it('reads rows and scores items as the decoded shard holds them', async () => {
    const blobs = [shard(1, 37, 1), shard(38, 50, 2)];
    const { catalog } = await newCatalog(blobs, kernel, 'test');
    expect(catalog.dim).toBe(DIM);
    const table = new Float32Array((88 + 1) * DIM);
    for (const b of blobs) {
      const d = decodeShard(b);
      expect(d.segments).toBe(3);
      table.set(shardRowsAsFloat32(d), d.baseIndex * DIM);
    }
    const row = new Float32Array(DIM);
    for (let i = 1; i <= 87; i++) {
      expect(readRow(catalog, i, row, 0)).toBe(true);
      expect(Array.from(row)).toEqual(Array.from(table.subarray(i * DIM, (i + 1) * DIM)));
    }
    expect(readRow(catalog, 88, row, 0)).toBe(false);
    // The smallest member still ranks: a query on its segment only finds its best item.
    const rng = new Rng(9);
    const query = new Float32Array(DIM);
    for (let j = 2 * SEG; j < DIM; j++) query[j] = rng.normal();
    const { indices, scores } = await catalog.engine.search(query, 5);
    const exact = (i: number) => {
      let acc = 0;
      for (let j = 0; j < DIM; j++) acc += Math.fround(query[j]! * table[i * DIM + j]!);
      return acc;
    };
    const best = Array.from({ length: 87 }, (_, k) => k + 1).sort((a, b) => exact(b) - exact(a));
    expect(Array.from(indices)).toEqual(best.slice(0, 5));
    for (let k = 0; k < 5; k++) expect(scores[k]).toBeCloseTo(exact(indices[k]!), 5);
    expect(scores[0]).toBeGreaterThan(0);
    catalog.engine.dispose();
  });
});

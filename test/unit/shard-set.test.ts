import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_FIRST_SHARD_ITEMS, writeShardSet } from '../../src/cli/shards.ts';
import { decodeMetadataShard } from '../../src/core/metadata.ts';
import { decodeShard } from '../../src/core/shard.ts';

const dir = mkdtempSync(join(tmpdir(), 'localrec-shardset-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('writeShardSet', () => {
  it('by default keeps the first shard small (the browser answers from it) and the rest ~4 MB', () => {
    const n = 80_000;
    const dim = 16;
    const itemIds = ['', ...Array.from({ length: n }, (_, i) => `item-${i + 1}`)];
    const table = Float32Array.from({ length: (n + 1) * dim }, (_, i) => Math.sin(i));
    const set = writeShardSet({ out: dir, table, dim, itemIds, dtype: 'int8' });
    const counts = set.embedding.map((s) => s.count);
    expect(counts[0]).toBe(DEFAULT_FIRST_SHARD_ITEMS);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(n);
    expect(set.embedding.map((s) => s.baseIndex)).toEqual(
      counts.map((_, i) => 1 + counts.slice(0, i).reduce((a, b) => a + b, 0)),
    );
    for (const s of set.embedding.slice(1, -1))
      expect(s.bytes).toBeLessThanOrEqual(4 * 1024 * 1024);
    // Metadata shards cover the same ranges; every blob decodes as listed.
    expect(set.metadata.map((m) => [m.baseIndex, m.count])).toEqual(
      set.embedding.map((s) => [s.baseIndex, s.count]),
    );
    const last = set.embedding.at(-1)!;
    const decoded = decodeShard(readFileSync(join(dir, 'blobs', last.sha256)));
    expect(decoded.ids[0]).toBe(`item-${last.baseIndex}`);
    const meta = decodeMetadataShard(readFileSync(join(dir, 'blobs', set.metadata[0]!.sha256)));
    expect(meta.items[9_999]!.id).toBe('item-10000');
    // An explicit size applies to every shard.
    const even = writeShardSet({
      out: dir,
      table,
      dim,
      itemIds,
      dtype: 'int8',
      shardItems: 30_000,
    });
    expect(even.embedding.map((s) => s.count)).toEqual([30_000, 30_000, 20_000]);
  });
});

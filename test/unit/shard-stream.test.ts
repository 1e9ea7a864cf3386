import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isLocalrecError } from '../../src/core/errors.ts';
import { encodeShard } from '../../src/core/shard.ts';
import { readShardStream } from '../../src/core/shard-stream.ts';

const dim = 8;
const ids = Array.from({ length: 40 }, (_, i) => `item-${i}`);
const rows = Float32Array.from({ length: ids.length * dim }, (_, i) => Math.sin(i));
const shard = encodeShard({ dtype: 'int8', dim, baseIndex: 1, ids, rows });
const ref = { sha256: createHash('sha256').update(shard).digest('hex'), bytes: shard.length };

/** A stream that hands out `bytes` in pieces of `size`, counting how many pieces were pulled. */
function chunked(bytes: Uint8Array, size: number) {
  const stats = { pulled: 0, cancelled: false };
  let at = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(c) {
      if (at >= bytes.length) return c.close();
      stats.pulled++;
      c.enqueue(bytes.slice(at, at + size));
      at += size;
    },
    cancel() {
      stats.cancelled = true;
    },
  });
  return { stream, stats };
}

async function errorOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return isLocalrecError(e) ? `${e.code}: ${e.message}` : `not a LocalrecError: ${String(e)}`;
  }
  return 'no error';
}

describe('readShardStream', () => {
  it('assembles chunks of any size, reports progress, verifies and decodes', async () => {
    for (const size of [1, 7, 24, 100, shard.length]) {
      const { stream } = chunked(shard, size);
      let seen = 0;
      const s = await readShardStream(stream, ref, { onBytes: (n) => (seen += n) });
      expect(seen).toBe(shard.length);
      expect(s).toMatchObject({ dtype: 'int8', dim, count: 40, baseIndex: 1 });
      expect(s.ids).toEqual(ids);
    }
  });

  it('rejects a tampered shard with integrity, naming the hash', async () => {
    const bad = shard.slice();
    bad[bad.length - 1]! ^= 1;
    expect(await errorOf(readShardStream(chunked(bad, 64).stream, ref))).toMatch(
      /^integrity: embedding shard [0-9a-f]{12}… failed its sha256 check/,
    );
  });

  it('rejects short and long streams', async () => {
    expect(await errorOf(readShardStream(chunked(shard.subarray(0, 100), 64).stream, ref))).toMatch(
      /^integrity: .* has 100 bytes, the manifest says/,
    );
    const longer = new Uint8Array(shard.length + 5);
    longer.set(shard);
    expect(await errorOf(readShardStream(chunked(longer, 64).stream, ref))).toMatch(/^integrity: /);
  });

  it('fails on the header, before the body is downloaded, and cancels the stream', async () => {
    const v3 = shard.slice();
    v3[4] = 3; // version field
    const { stream, stats } = chunked(v3, 32);
    expect(await errorOf(readShardStream(stream, ref))).toMatch(
      /^unsupported-version: .*version 3/,
    );
    expect(stats.pulled).toBe(1);
    expect(stats.cancelled).toBe(true);

    const notShard = chunked(new TextEncoder().encode('<html>'.repeat(50)), 32);
    expect(await errorOf(readShardStream(notShard.stream, { ...ref, bytes: 300 }))).toMatch(
      /^bad-format: not a localrec embedding shard/,
    );
    // A manifest that disagrees with the header: caught at the header too.
    const { stream: s3, stats: st3 } = chunked(shard, 32);
    expect(await errorOf(readShardStream(s3, { ...ref, bytes: shard.length + 4 }))).toMatch(
      /^integrity: .*header describes \d+ bytes, the manifest says/,
    );
    expect(st3.pulled).toBe(1);
  });
});

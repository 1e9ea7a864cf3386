/**
 * The streaming shard reader: turns a download (a WHATWG byte stream, e.g. `Response.body`)
 * into a verified, decoded embedding shard while it arrives.
 *
 * - The 24-byte header is checked as soon as it is in, so a shard of an unknown version, a
 *   wrong magic, or a header whose length disagrees with the manifest fails before the rest is
 *   downloaded.
 * - Bytes land in one exactly-sized buffer: no growing copies, and the decoded rows are views
 *   into it (see {@link decodeShard}), so a shard costs its own size in memory once.
 * - Nothing is returned before the sha256 matches: a caller can never score with a tampered or
 *   truncated shard.
 */
import { readExactly, shortHash, verifyBlob, type BlobRef } from './blob.ts';
import { LocalrecError } from './errors.ts';
import { decodeShard, readShardHeader, SHARD_HEADER_BYTES, type DecodedShard } from './shard.ts';

/** Options of {@link readShardStream}. */
export interface ReadShardOptions {
  /** Called with the number of new bytes as each chunk arrives. */
  onBytes?: (n: number) => void;
  /** What to call the shard in errors (default "embedding shard"). */
  what?: string;
}

/**
 * Reads, verifies and decodes one embedding shard from a stream.
 *
 * ```ts
 * import { readShardStream, verifyManifest } from 'localrec/core';
 *
 * const body = await (await fetch('https://recs.example/v1/manifest')).text();
 * const { manifest } = await verifyManifest(body, 'BASE64_PUBLIC_KEY');
 * let loaded = 0;
 * for (const ref of manifest.shards) {
 *   const res = await fetch(`https://recs.example/v1/blobs/${ref.sha256}`);
 *   const shard = await readShardStream(res.body!, ref, { onBytes: (n) => (loaded += n) });
 * }
 * ```
 *
 * @param ref - the shard's sha256 and byte length, from the manifest.
 * @throws LocalrecError `unsupported-version` / `bad-format` for a header it cannot read (before
 *   the whole body is fetched); `integrity` for a length or sha256 mismatch.
 */
export async function readShardStream(
  stream: ReadableStream<Uint8Array>,
  ref: BlobRef,
  options: ReadShardOptions = {},
): Promise<DecodedShard> {
  const what = options.what ?? 'embedding shard';
  let headerChecked = false;
  const bytes = await readExactly(
    stream,
    ref,
    (n, buf, filled) => {
      if (!headerChecked && filled >= SHARD_HEADER_BYTES) {
        headerChecked = true;
        const h = readShardHeader(buf.subarray(0, SHARD_HEADER_BYTES));
        if (h.byteLength !== ref.bytes) {
          throw new LocalrecError(
            'integrity',
            `${what} ${shortHash(ref.sha256)}: its header describes ${h.byteLength} bytes, the manifest says ${ref.bytes}`,
          );
        }
      }
      options.onBytes?.(n);
    },
    what,
  );
  await verifyBlob(ref, bytes, what);
  return decodeShard(bytes);
}

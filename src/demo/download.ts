/**
 * Fetching the model's blobs with byte-level progress, each checked against its sha256
 * before anything uses it (ARCHITECTURE.md: "every blob is checked against its sha256").
 */
import { readExactly, shortHash, verifyBlob, type BlobRef } from '../core/blob.ts';
import { LocalrecError } from '../core/errors.ts';

/** Progress across all blobs of one download. */
export interface DownloadProgress {
  loaded: number;
  total: number;
}

/**
 * Fetches `/v1/blobs/<sha256>` into one exactly-sized buffer, reporting bytes as they arrive.
 * `onChunk` gets the number of new bytes.
 */
async function fetchBlob(
  ref: BlobRef,
  onChunk: (n: number) => void,
  signal: AbortSignal,
): Promise<Uint8Array> {
  const res = await fetch(`/v1/blobs/${ref.sha256}`, { signal });
  if (!res.ok)
    throw new LocalrecError(
      res.status === 404 ? 'not-found' : 'internal',
      `blob ${shortHash(ref.sha256)} answered HTTP ${res.status}`,
    );
  if (res.body) return readExactly(res.body, ref, onChunk);
  const all = new Uint8Array(await res.arrayBuffer());
  onChunk(all.length);
  return all;
}

/**
 * Downloads and verifies every blob in parallel (the browser caps connections per host),
 * returning them in the order given. The first failure cancels the other downloads: the
 * model is unusable without all of them.
 */
export async function downloadBlobs(
  refs: BlobRef[],
  onProgress: (p: DownloadProgress) => void,
): Promise<Uint8Array[]> {
  const total = refs.reduce((a, r) => a + r.bytes, 0);
  const abort = new AbortController();
  let loaded = 0;
  onProgress({ loaded, total });
  try {
    return await Promise.all(
      refs.map(async (ref) => {
        const bytes = await fetchBlob(
          ref,
          (n) => {
            loaded += n;
            onProgress({ loaded, total });
          },
          abort.signal,
        );
        await verifyBlob(ref, bytes);
        return bytes;
      }),
    );
  } catch (e) {
    abort.abort();
    throw e;
  }
}

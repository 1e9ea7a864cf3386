/**
 * Fetching the model's blobs with byte-level progress, each checked against its sha256
 * before anything uses it (ARCHITECTURE.md: "every blob is checked against its sha256").
 */
import { LocalrecError } from '../core/errors.ts';
import type { BlobRef } from './manifest.ts';

/** Progress across all blobs of one download. */
export interface DownloadProgress {
  loaded: number;
  total: number;
}

function hex(buf: ArrayBuffer): string {
  return Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, '0')).join('');
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
      `blob ${ref.sha256.slice(0, 12)}… answered HTTP ${res.status}`,
    );
  const out = new Uint8Array(ref.bytes);
  let at = 0;
  const reader = res.body?.getReader();
  if (!reader) {
    const all = new Uint8Array(await res.arrayBuffer());
    if (all.length !== ref.bytes) throw sizeMismatch(ref, all.length);
    onChunk(all.length);
    return all;
  }
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (at + value.length > out.length) {
      await reader.cancel();
      throw sizeMismatch(ref, at + value.length);
    }
    out.set(value, at);
    at += value.length;
    onChunk(value.length);
  }
  if (at !== ref.bytes) throw sizeMismatch(ref, at);
  return out;
}

function sizeMismatch(ref: BlobRef, got: number): LocalrecError {
  return new LocalrecError(
    'integrity',
    `blob ${ref.sha256.slice(0, 12)}… has ${got} bytes, the manifest says ${ref.bytes}`,
  );
}

/**
 * Throws `integrity` unless `bytes` hash to `ref.sha256`.
 * crypto.subtle exists only in secure contexts (https, localhost), hence the explicit check.
 */
export async function verifyBlob(ref: BlobRef, bytes: Uint8Array): Promise<void> {
  if (!globalThis.crypto?.subtle) {
    throw new LocalrecError(
      'device-unavailable',
      'crypto.subtle is unavailable because this page is not a secure context; open it over https or via localhost',
    );
  }
  const got = hex(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
  if (got !== ref.sha256) {
    throw new LocalrecError(
      'integrity',
      `blob ${ref.sha256.slice(0, 12)}… failed its sha256 check (got ${got.slice(0, 12)}…); the download was corrupted or the server is misconfigured`,
    );
  }
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

/**
 * Content-addressed blobs: every model file and shard is named by the sha256 of its bytes and
 * checked against it before anything uses it (ARCHITECTURE.md, "Rules that hold everywhere").
 *
 * Web-platform APIs only (Web Crypto, WHATWG streams), which browsers, workers and Node ≥ 20
 * all have, so the same checks run in the recommender worker, the SDK and the CLI.
 */
import { LocalrecError } from './errors.ts';

/** A content-addressed file: its sha256 (64 lowercase hex characters) and length. */
export interface BlobRef {
  sha256: string;
  bytes: number;
}

/**
 * 64 lowercase hex characters.
 *
 * ```ts
 * import { SHA256_HEX } from 'localrec/core';
 *
 * SHA256_HEX.test('../../etc/passwd'); // false: check a name from a URL before using it as one
 * ```
 */
export const SHA256_HEX = /^[0-9a-f]{64}$/;

/** Bytes received so far across one download. */
export interface ByteProgress {
  loaded: number;
  total: number;
}

/** Bytes as lowercase hex, two characters each. */
export function toHex(bytes: ArrayBuffer | Uint8Array): string {
  const b = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let s = '';
  for (let i = 0; i < b.length; i++) s += b[i]!.toString(16).padStart(2, '0');
  return s;
}

/** Web Crypto, or a clear `device-unavailable` error where the page is not a secure context. */
export function subtle(): SubtleCrypto {
  const s = globalThis.crypto?.subtle;
  if (!s) {
    // Browsers expose Web Crypto only in secure contexts.
    throw new LocalrecError(
      'device-unavailable',
      'crypto.subtle is unavailable because this page is not a secure context; open it over https or via localhost',
    );
  }
  return s;
}

/**
 * The sha256 of `bytes` as 64 lowercase hex characters: a blob's name.
 *
 * ```ts
 * import { sha256Hex } from 'localrec/core';
 *
 * await sha256Hex(new TextEncoder().encode('hello')); // '2cf24dba5fb0a30e…'
 * ```
 */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  return toHex(await subtle().digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
}

/**
 * Short form of a hash for messages: the first 12 hex characters.
 *
 * ```ts
 * import { shortHash } from 'localrec/core';
 *
 * const sha256 = '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824';
 * console.warn(`blob ${shortHash(sha256)} is missing`); // 'blob 2cf24dba5fb0… is missing'
 * ```
 */
export function shortHash(sha256: string): string {
  return `${sha256.slice(0, 12)}…`;
}

/**
 * Throws `integrity` unless `bytes` is `ref.bytes` long and hashes to `ref.sha256`.
 *
 * ```ts
 * import { verifyBlob, type BlobRef } from 'localrec/core';
 *
 * declare const ref: BlobRef; // from a verified manifest
 * const bytes = new Uint8Array(await (await fetch(`/v1/blobs/${ref.sha256}`)).arrayBuffer());
 * await verifyBlob(ref, bytes, 'model file');
 * ```
 *
 * @param what - what the blob is, for the message (e.g. "embedding shard 3").
 */
export async function verifyBlob(ref: BlobRef, bytes: Uint8Array, what = 'blob'): Promise<void> {
  if (bytes.length !== ref.bytes) throw sizeMismatch(ref, bytes.length, what);
  const got = await sha256Hex(bytes);
  if (got !== ref.sha256) {
    throw new LocalrecError(
      'integrity',
      `${what} ${shortHash(ref.sha256)} failed its sha256 check (got ${shortHash(got)}); the download was corrupted or the server is misconfigured`,
    );
  }
}

function sizeMismatch(ref: BlobRef, got: number, what: string): LocalrecError {
  return new LocalrecError(
    'integrity',
    `${what} ${shortHash(ref.sha256)} has ${got} bytes, the manifest says ${ref.bytes}`,
  );
}

/**
 * Reads a byte stream into one buffer of exactly `ref.bytes` bytes (no growing copies), calling
 * `onChunk(n, buffer, filled)` as each piece arrives — it may inspect the bytes so far and throw
 * to stop early (e.g. on a header it cannot read). A stream that is longer or shorter than
 * announced is rejected with `integrity`. On any failure the stream is cancelled. The hash is
 * NOT checked here (see {@link verifyBlob}).
 */
export async function readExactly(
  stream: ReadableStream<Uint8Array>,
  ref: BlobRef,
  onChunk: (n: number, buffer: Uint8Array, filled: number) => void = () => {},
  what = 'blob',
): Promise<Uint8Array> {
  const out = new Uint8Array(ref.bytes);
  let at = 0;
  const reader = stream.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (at + value.length > out.length) throw sizeMismatch(ref, at + value.length, what);
      out.set(value, at);
      at += value.length;
      onChunk(value.length, out, at);
    }
  } catch (e) {
    await reader.cancel().catch(() => {});
    throw e;
  } finally {
    reader.releaseLock();
  }
  if (at !== ref.bytes) throw sizeMismatch(ref, at, what);
  return out;
}

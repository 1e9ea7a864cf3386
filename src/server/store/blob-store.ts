import type { Readable } from 'node:stream';
import type { BlobRef } from '../../core/blob.ts';

/** An inclusive byte range, as {@link BlobStore.stream} takes it. */
export interface BlobRange {
  start: number;
  end: number;
}

/**
 * The content-addressed store of immutable blobs (model files, shards): each is named by the
 * sha256 of its bytes. One interface for every backend (the filesystem today, an S3-compatible
 * object store later); `test/unit/store-blob.test.ts` is the suite each backend must pass.
 */
export interface BlobStore {
  /** The URL it was opened from (`file:/srv/localrec`, `memory:`). */
  readonly url: string;
  /**
   * Stores `bytes` under their sha256 and returns the reference. The hash is computed on write
   * and, when `expected` is given, must match it (and its size), else `integrity` and nothing is
   * stored. Idempotent: a blob that exists is left alone. Refuses anything that looks like a
   * private key (`bad-input`), so an owner's signing key cannot end up published by accident.
   * Durable when it resolves.
   */
  put(bytes: Uint8Array, expected?: BlobRef): Promise<BlobRef>;
  /** Size of a stored blob, or undefined when there is none. */
  stat(sha256: string): Promise<{ bytes: number } | undefined>;
  /** The whole blob, or undefined. */
  get(sha256: string): Promise<Uint8Array | undefined>;
  /** A stream of the blob's bytes (a range of them when given). The blob must exist. */
  stream(sha256: string, range?: BlobRange): Readable;
  /** Removes a blob; true when there was one. */
  delete(sha256: string): Promise<boolean>;
  /** Every stored blob's sha256 (no temporary files), in no particular order. */
  list(): AsyncIterable<string>;
  close(): Promise<void>;
}

const PEM_PRIVATE = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/;
/** The first 16 bytes of every PKCS#8 DER encoding of an Ed25519 private key. */
const ED25519_PKCS8_DER = [
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/**
 * Whether `bytes` looks like a private key (any PEM `PRIVATE KEY` block in its first 4 KB, or a
 * DER PKCS#8 Ed25519 key). Stores refuse to hold such blobs and the server refuses to serve them.
 */
export function looksLikePrivateKey(bytes: Uint8Array): boolean {
  if (bytes.length === 48 && ED25519_PKCS8_DER.every((b, i) => bytes[i] === b)) return true;
  const head = new TextDecoder('latin1').decode(bytes.subarray(0, 4096));
  return PEM_PRIVATE.test(head);
}

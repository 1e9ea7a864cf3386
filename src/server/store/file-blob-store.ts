import { createHash } from 'node:crypto';
import { createReadStream, mkdirSync } from 'node:fs';
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { SHA256_HEX, shortHash, type BlobRef } from '../../core/blob.ts';
import { LocalrecError } from '../../core/errors.ts';
import { looksLikePrivateKey, type BlobRange, type BlobStore } from './blob-store.ts';
import { writeFileDurable } from './fs-durable.ts';

/**
 * Blobs as files: `<root>/blobs/<sha256>`, the layout `localrec export` writes too, so an
 * export folder is a valid store. Writes go to a temporary file, are fsynced, and renamed.
 */
export class FileBlobStore implements BlobStore {
  readonly url: string;
  readonly dir: string;

  constructor(root: string) {
    this.url = `file:${root}`;
    this.dir = join(root, 'blobs');
    mkdirSync(this.dir, { recursive: true });
  }

  private path(sha256: string): string {
    if (!SHA256_HEX.test(sha256))
      throw new LocalrecError(
        'bad-input',
        `blob name must be a sha256 (64 lowercase hex), got '${sha256.slice(0, 80)}'`,
      );
    return join(this.dir, sha256);
  }

  async put(bytes: Uint8Array, expected?: BlobRef): Promise<BlobRef> {
    const ref = checkedRef(bytes, expected);
    const path = this.path(ref.sha256);
    const st = await stat(path).catch(() => undefined);
    if (st?.isFile() && st.size === ref.bytes) return ref;
    await writeFileDurable(path, bytes);
    return ref;
  }

  async stat(sha256: string): Promise<{ bytes: number } | undefined> {
    const st = await stat(this.path(sha256)).catch(() => undefined);
    return st?.isFile() ? { bytes: st.size } : undefined;
  }

  async get(sha256: string): Promise<Uint8Array | undefined> {
    return readFile(this.path(sha256)).catch(() => undefined);
  }

  stream(sha256: string, range?: BlobRange): Readable {
    // 256 KB reads: a few thread-pool round trips per multi-megabyte shard instead of dozens.
    const highWaterMark = 256 * 1024;
    return createReadStream(
      this.path(sha256),
      range ? { start: range.start, end: range.end, highWaterMark } : { highWaterMark },
    );
  }

  async delete(sha256: string): Promise<boolean> {
    const path = this.path(sha256);
    const had = (await stat(path).catch(() => undefined)) !== undefined;
    await rm(path, { force: true });
    return had;
  }

  async *list(): AsyncIterable<string> {
    for (const name of await readdir(this.dir)) if (SHA256_HEX.test(name)) yield name;
  }

  async close(): Promise<void> {}
}

/**
 * Hashes `bytes`, checks them against `expected`, and refuses private keys: the checks every
 * backend's `put` makes before storing anything.
 */
export function checkedRef(bytes: Uint8Array, expected?: BlobRef): BlobRef {
  if (looksLikePrivateKey(bytes)) {
    throw new LocalrecError(
      'bad-input',
      'refusing to store a private key as a blob: blobs are served to every visitor',
    );
  }
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  if (expected) {
    if (expected.sha256 !== sha256) {
      throw new LocalrecError(
        'integrity',
        `blob ${shortHash(expected.sha256)} hashes to ${shortHash(sha256)}: its bytes are not what its name says; nothing was stored`,
      );
    }
    if (expected.bytes !== bytes.length) {
      throw new LocalrecError(
        'integrity',
        `blob ${shortHash(sha256)} has ${bytes.length} bytes, the manifest says ${expected.bytes}`,
      );
    }
  }
  return { sha256, bytes: bytes.length };
}

import { Readable } from 'node:stream';
import { SHA256_HEX, type BlobRef } from '../../core/blob.ts';
import { LocalrecError } from '../../core/errors.ts';
import type { BlobRange, BlobStore } from './blob-store.ts';
import { checkedRef } from './file-blob-store.ts';
import type { ManifestStore } from './manifest-store.ts';

/**
 * In-memory blob store (`memory:`): nothing survives the process. For tests and throwaway
 * servers; it passes the same shared suite as the filesystem store.
 */
export class MemoryBlobStore implements BlobStore {
  readonly url = 'memory:';
  private readonly blobs = new Map<string, Uint8Array>();

  async put(bytes: Uint8Array, expected?: BlobRef): Promise<BlobRef> {
    const ref = checkedRef(bytes, expected);
    if (!this.blobs.has(ref.sha256)) this.blobs.set(ref.sha256, Uint8Array.from(bytes));
    return ref;
  }

  private check(sha256: string): string {
    if (!SHA256_HEX.test(sha256))
      throw new LocalrecError(
        'bad-input',
        `blob name must be a sha256 (64 lowercase hex), got '${sha256.slice(0, 80)}'`,
      );
    return sha256;
  }

  async stat(sha256: string): Promise<{ bytes: number } | undefined> {
    const b = this.blobs.get(this.check(sha256));
    return b && { bytes: b.length };
  }

  async get(sha256: string): Promise<Uint8Array | undefined> {
    return this.blobs.get(this.check(sha256));
  }

  stream(sha256: string, range?: BlobRange): Readable {
    const b = this.blobs.get(this.check(sha256));
    if (!b) throw new LocalrecError('not-found', `no blob ${sha256}`);
    return Readable.from([Buffer.from(range ? b.subarray(range.start, range.end + 1) : b)]);
  }

  async delete(sha256: string): Promise<boolean> {
    return this.blobs.delete(this.check(sha256));
  }

  async *list(): AsyncIterable<string> {
    yield* [...this.blobs.keys()];
  }

  async close(): Promise<void> {}
}

/** In-memory manifest store (`memory:`), for tests. */
export class MemoryManifestStore implements ManifestStore {
  readonly url = 'memory:';
  private readonly versions = new Map<number, Uint8Array>();
  private cur: Uint8Array | undefined;

  async current(): Promise<Uint8Array | undefined> {
    return this.cur;
  }

  async putVersion(version: number, bytes: Uint8Array): Promise<void> {
    if (!Number.isSafeInteger(version) || version < 1)
      throw new LocalrecError(
        'bad-input',
        `manifest version must be a positive integer, got ${version}`,
      );
    if (this.versions.has(version))
      throw new LocalrecError(
        'bad-input',
        `manifest version ${version} already exists in ${this.url}`,
      );
    this.versions.set(version, Uint8Array.from(bytes));
  }

  async getVersion(version: number): Promise<Uint8Array | undefined> {
    return this.versions.get(version);
  }

  async listVersions(): Promise<number[]> {
    return [...this.versions.keys()].sort((a, b) => a - b);
  }

  async deleteVersion(version: number): Promise<void> {
    this.versions.delete(version);
  }

  async setCurrent(version: number): Promise<void> {
    const b = this.versions.get(version);
    if (!b) throw new LocalrecError('not-found', `no manifest version ${version} in ${this.url}`);
    this.cur = b;
  }

  async close(): Promise<void> {}
}

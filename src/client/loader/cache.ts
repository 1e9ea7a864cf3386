/**
 * Where verified blobs and the last verified manifest are kept between visits: Cache Storage,
 * keyed by the URL they came from (`{server}/v1/blobs/{sha256}`, `{server}/v1/manifest`), with
 * the memory's IndexedDB blob store as the fallback where Cache Storage is missing or refuses.
 * The memory's cache index (sha256 → kind, size, last use) orders eviction: when the browser's
 * quota is hit, least recently used blobs outside the protected set (the versions in use) go
 * first, and the write is retried once.
 *
 * Nothing read from here is trusted: the loader checks every blob's sha256 and re-verifies the
 * manifest's signature, so a cache edited in devtools costs a download, never a wrong answer.
 */
import { LocalrecError } from '../../core/errors.ts';
import type { Memory } from '../memory/memory-api.ts';
import type { RecommenderWarning } from '../api.ts';

/** The subset of `CacheStorage` used (tests pass a fake). */
export interface CacheStorageLike {
  open(name: string): Promise<CacheLike>;
  delete(name: string): Promise<boolean>;
}

/** The subset of `Cache` used. */
export interface CacheLike {
  match(key: string): Promise<Response | undefined>;
  put(key: string, response: Response): Promise<void>;
  delete(key: string): Promise<boolean>;
  keys(): Promise<readonly Request[]>;
}

/** What {@link BlobCache} needs. */
export interface BlobCacheOptions {
  /** Cache Storage cache name (one per visitor memory). */
  cacheName: string;
  /** Server base URL: the keys are the URLs blobs are fetched from. */
  server: string;
  /** Default: `globalThis.caches`; null: Cache Storage is not used (IndexedDB only). */
  caches?: CacheStorageLike | null;
  /** The visitor's memory (cache index and IndexedDB fallback); undefined while it is closed. */
  memory: () => Memory | undefined;
  /**
   * Settles once the memory has been opened (or failed to): reads that need it wait for it;
   * Cache Storage reads do not.
   */
  memoryReady?: Promise<unknown>;
  onWarning: (w: RecommenderWarning) => void;
}

/**
 * Where the manifest lives in the IndexedDB fallback: a fixed key of the blob store that no
 * content hash takes (kept out of the visitor's settings, so exportMemory() never carries it).
 */
export const MANIFEST_SLOT = '0'.repeat(64);

export const isQuotaError = (e: unknown): boolean =>
  typeof e === 'object' &&
  e !== null &&
  ((e as { name?: unknown }).name === 'QuotaExceededError' ||
    (e as { code?: unknown }).code === 'quota');

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

export class BlobCache {
  private cachePromise: Promise<CacheLike | null> | undefined;
  private readonly storage: CacheStorageLike | null;
  /** Set by {@link destroy}: nothing is written again in this session. */
  private destroyed = false;

  constructor(private readonly o: BlobCacheOptions) {
    const g = (globalThis as { caches?: CacheStorageLike }).caches;
    this.storage = o.caches === undefined ? (g ?? null) : o.caches;
  }

  /** The memory once it is open (undefined when there is none). */
  private async mem(): Promise<Memory | undefined> {
    await this.o.memoryReady?.catch(() => undefined);
    return this.o.memory();
  }

  private blobKey(sha256: string): string {
    return `${this.o.server}/v1/blobs/${sha256}`;
  }

  private get manifestKey(): string {
    return `${this.o.server}/v1/manifest`;
  }

  /** The cache, or null where Cache Storage cannot be used (then IndexedDB is). */
  private cache(): Promise<CacheLike | null> {
    this.cachePromise ??= (async () => {
      if (!this.storage) return null;
      try {
        return await this.storage.open(this.o.cacheName);
      } catch (e) {
        this.o.onWarning({
          code: 'cache',
          message: `Cache Storage is unavailable (${message(e)}); blobs are kept in IndexedDB instead`,
        });
        return null;
      }
    })();
    return this.cachePromise;
  }

  /** Stored bytes of a blob (unchecked: the caller verifies them), or undefined. */
  async get(sha256: string): Promise<Uint8Array | undefined> {
    const cache = await this.cache();
    let bytes: Uint8Array | undefined;
    try {
      const r = await cache?.match(this.blobKey(sha256));
      if (r) bytes = new Uint8Array(await r.arrayBuffer());
    } catch {
      // An unreadable entry is a miss; the loader downloads the blob again.
    }
    // A Cache Storage hit does not wait for IndexedDB: the LRU touch happens behind.
    const memory = bytes ? undefined : await this.mem();
    if (!bytes) bytes = await memory?.blobs.get(sha256).catch(() => undefined);
    if (bytes) void this.mem().then((m) => m?.cache.touch(sha256).catch(() => undefined));
    return bytes;
  }

  /** Whether a blob is stored (unchecked, and without reading it: "is it downloaded?"). */
  async has(sha256: string): Promise<boolean> {
    const cache = await this.cache();
    try {
      if (await cache?.match(this.blobKey(sha256))) return true;
    } catch {
      // Unreadable: as if absent.
    }
    const entry = await (await this.mem())?.cache.get(sha256).catch(() => undefined);
    return entry?.where === 'idb';
  }

  /**
   * Keeps a verified blob. On a quota error, evicts least recently used blobs outside `protect`
   * and retries once; a blob that cannot be kept is reported, not thrown (it is in RAM already).
   */
  async put(sha256: string, bytes: Uint8Array, kind: string, protect: ReadonlySet<string>) {
    if (this.destroyed) return;
    const attempt = () => this.write(sha256, bytes, kind);
    try {
      await attempt();
    } catch (e) {
      if (!isQuotaError(e)) {
        this.o.onWarning({ code: 'cache', message: `could not cache ${kind}: ${message(e)}` });
        return;
      }
      const freed = await this.evict(bytes.byteLength, protect);
      try {
        await attempt();
      } catch (e2) {
        this.o.onWarning({
          code: 'cache',
          message: `no room to cache ${kind} (${bytes.byteLength} bytes) even after evicting ${freed} bytes: ${message(e2)}; it will be downloaded again next visit`,
        });
      }
    }
  }

  private async write(sha256: string, bytes: Uint8Array, kind: string): Promise<void> {
    const cache = await this.cache();
    const memory = await this.mem();
    if (cache) {
      await cache.put(
        this.blobKey(sha256),
        new Response(bytes as Uint8Array<ArrayBuffer>, {
          headers: { 'content-type': 'application/octet-stream' },
        }),
      );
      await memory?.cache.put({ sha256, kind, bytes: bytes.byteLength, where: 'cache-storage' });
      return;
    }
    if (!memory) return;
    await memory.blobs.put(sha256, bytes, { kind });
  }

  /** Frees at least `need` bytes (if it can), least recently used first; returns bytes freed. */
  async evict(need: number, protect: ReadonlySet<string>): Promise<number> {
    const memory = await this.mem();
    const cache = await this.cache();
    let freed = 0;
    const entries = (await memory?.cache.list().catch(() => [])) ?? [];
    for (const e of entries) {
      if (freed >= need) break;
      if (protect.has(e.sha256) || e.sha256 === MANIFEST_SLOT) continue;
      await this.delete(e.sha256);
      freed += e.bytes;
    }
    if (freed < need && cache) {
      // Entries the index does not know (it was lost or is closed): any unprotected blob.
      for (const req of await cache.keys()) {
        if (freed >= need) break;
        const sha = /\/v1\/blobs\/([0-9a-f]{64})$/.exec(req.url)?.[1];
        if (!sha || protect.has(sha)) continue;
        const r = await cache.match(req.url);
        freed += r ? (await r.arrayBuffer()).byteLength : 0;
        await cache.delete(req.url);
      }
    }
    return freed;
  }

  /** Removes a blob from both stores and the index. */
  async delete(sha256: string): Promise<void> {
    const cache = await this.cache();
    await cache?.delete(this.blobKey(sha256)).catch(() => false);
    const memory = await this.mem();
    await memory?.cache.delete(sha256).catch(() => false);
  }

  /** Deletes every blob not in `keep` (the versions still in use), e.g. after a version switch. */
  async retain(keep: ReadonlySet<string>): Promise<void> {
    if (this.destroyed) return;
    const cache = await this.cache();
    for (const req of (await cache?.keys()) ?? []) {
      const sha = /\/v1\/blobs\/([0-9a-f]{64})$/.exec(req.url)?.[1];
      if (sha && !keep.has(sha)) await this.delete(sha);
    }
    const memory = await this.mem();
    const entries = (await memory?.cache.list().catch(() => [])) ?? [];
    for (const e of entries)
      if (!keep.has(e.sha256) && e.sha256 !== MANIFEST_SLOT) await this.delete(e.sha256);
  }

  /** The last verified manifest's bytes and ETag, or undefined. */
  async getManifest(): Promise<{ bytes: Uint8Array; etag: string | null } | undefined> {
    const cache = await this.cache();
    try {
      const r = await cache?.match(this.manifestKey);
      if (r) return { bytes: new Uint8Array(await r.arrayBuffer()), etag: r.headers.get('etag') };
    } catch {
      return undefined;
    }
    const memory = await this.mem();
    const saved = await memory?.blobs.get(MANIFEST_SLOT).catch(() => undefined);
    if (!saved) return undefined;
    try {
      const { text, etag } = JSON.parse(new TextDecoder().decode(saved)) as {
        text?: unknown;
        etag?: unknown;
      };
      if (typeof text !== 'string') return undefined;
      return {
        bytes: new TextEncoder().encode(text),
        etag: typeof etag === 'string' ? etag : null,
      };
    } catch {
      return undefined; // unreadable: as if none were cached
    }
  }

  /** Keeps a verified manifest for offline starts. */
  async putManifest(bytes: Uint8Array, etag: string | null): Promise<void> {
    if (this.destroyed) return;
    const cache = await this.cache();
    try {
      if (cache) {
        const headers: Record<string, string> = { 'content-type': 'application/json' };
        if (etag) headers['etag'] = etag;
        await cache.put(
          this.manifestKey,
          new Response(bytes as Uint8Array<ArrayBuffer>, { headers }),
        );
      } else {
        const record = JSON.stringify({ text: new TextDecoder().decode(bytes), etag });
        const memory = await this.mem();
        await memory?.blobs.put(MANIFEST_SLOT, new TextEncoder().encode(record), {
          kind: 'manifest',
        });
      }
    } catch (e) {
      this.o.onWarning({
        code: 'cache',
        message: `could not keep the manifest for offline use: ${message(e)}`,
      });
    }
  }

  async deleteManifest(): Promise<void> {
    const cache = await this.cache();
    await cache?.delete(this.manifestKey).catch(() => false);
    const memory = await this.mem();
    await memory?.cache.delete(MANIFEST_SLOT).catch(() => false);
  }

  /** Deletes the whole Cache Storage cache; nothing is written again by this object. */
  async destroy(): Promise<void> {
    this.destroyed = true;
    this.cachePromise = Promise.resolve(null);
    if (!this.storage) return;
    try {
      await this.storage.delete(this.o.cacheName);
    } catch (e) {
      throw new LocalrecError(
        'internal',
        `could not delete the Cache Storage cache '${this.o.cacheName}': ${message(e)}`,
        { cause: e },
      );
    }
  }
}

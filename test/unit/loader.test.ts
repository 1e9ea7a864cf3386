/**
 * The loader and its cache in Node, with an in-memory Cache Storage and a scripted fetch:
 * signature checks, offline starts from the cached manifest, 304 revalidation, blobs that fail
 * their sha256 (cached or downloaded) discarded and fetched once more, and LRU eviction when
 * the quota is hit. The browser tests run the same code over real Cache Storage and HTTP.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isLocalrecError } from '../../src/core/errors.ts';
import { canonicalJson, type Manifest } from '../../src/core/manifest.ts';
import {
  BlobCache,
  MANIFEST_SLOT,
  type CacheLike,
  type CacheStorageLike,
} from '../../src/client/loader/cache.ts';
import { Loader } from '../../src/client/loader/loader.ts';
import type { Memory } from '../../src/client/memory/memory-api.ts';
import type { CacheEntry } from '../../src/client/memory/records.ts';
import type { RecommenderWarning } from '../../src/client/api.ts';
import { newSigningKey, signManifest, type SigningKey } from '../../src/server/keys.ts';

const SERVER = 'https://recs.example';
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

const encoder = new TextEncoder().encode('pretend onnx '.repeat(20));
const shard = new TextEncoder().encode('pretend shard '.repeat(30));

function signed(k: SigningKey, modelVersion = 'm1'): Uint8Array {
  const m: Manifest = {
    formatVersion: 1,
    modelVersion,
    createdAt: '2026-11-22T00:00:00Z',
    version: 1,
    models: {
      sasrec: { encoder: { sha256: sha(encoder), bytes: encoder.length }, config: { maxLen: 8 } },
    },
    shards: [{ sha256: sha(shard), bytes: shard.length, count: 3, baseIndex: 1 }],
    metadata: null,
    llm: null,
    federated: null,
    signature: null,
  };
  return new TextEncoder().encode(canonicalJson(signManifest(m, k)));
}

/** Cache Storage in a Map; `limit` makes put() throw QuotaExceededError beyond that many bytes. */
function fakeCaches(limit = Infinity) {
  const stores = new Map<string, Map<string, Uint8Array>>();
  const headers = new Map<string, Headers>();
  const used = () =>
    [...stores.values()].reduce((a, s) => a + [...s.values()].reduce((b, x) => b + x.length, 0), 0);
  const open = async (name: string): Promise<CacheLike> => {
    let s = stores.get(name);
    if (!s) stores.set(name, (s = new Map()));
    const store = s;
    return {
      async match(k) {
        const b = store.get(k);
        return b
          ? new Response(b.slice() as Uint8Array<ArrayBuffer>, { headers: headers.get(k) })
          : undefined;
      },
      async put(k, r) {
        const b = new Uint8Array(await r.arrayBuffer());
        if (used() - (store.get(k)?.length ?? 0) + b.length > limit)
          throw new DOMException('quota', 'QuotaExceededError');
        store.set(k, b);
        headers.set(k, r.headers);
      },
      async delete(k) {
        return store.delete(k);
      },
      async keys() {
        return [...store.keys()].map((u) => new Request(u));
      },
    };
  };
  const caches: CacheStorageLike = { open, delete: async (n) => stores.delete(n) };
  return { caches, stores };
}

/** The parts of Memory the cache uses: the LRU index. */
function fakeMemory(clock: { t: number }) {
  const index = new Map<string, CacheEntry>();
  const stored = new Map<string, Uint8Array>();
  const m = {
    cache: {
      put: async (e: Omit<CacheEntry, 'storedAt' | 'lastUsed'>) => {
        const entry = { ...e, storedAt: clock.t, lastUsed: clock.t } as CacheEntry;
        index.set(e.sha256, entry);
        return entry;
      },
      touch: async (s: string) => {
        const e = index.get(s);
        if (e) e.lastUsed = clock.t;
        return e;
      },
      delete: async (s: string) => index.delete(s),
      list: async () => [...index.values()].sort((a, b) => a.lastUsed - b.lastUsed),
      get: async (s: string) => index.get(s),
    },
    blobs: {
      get: async (s: string) => stored.get(s),
      put: async (s: string, b: Uint8Array, o: { kind: string }) => {
        stored.set(s, b.slice());
        return m.cache.put({ sha256: s, kind: o.kind, bytes: b.length, where: 'idb' });
      },
    },
    settings: { get: async () => undefined, set: async () => undefined, delete: async () => false },
  };
  return { memory: m as unknown as Memory, index, stored };
}

interface Call {
  url: string;
  init?: RequestInit;
}

function setup(
  routes: (url: string, n: number, init?: RequestInit) => Response | Promise<Response>,
) {
  const calls: Call[] = [];
  const warnings: RecommenderWarning[] = [];
  const { caches, stores } = fakeCaches();
  const clock = { t: 1 };
  const { memory, index } = fakeMemory(clock);
  const cache = new BlobCache({
    cacheName: 'test',
    server: SERVER,
    caches,
    memory: () => memory,
    onWarning: (w) => warnings.push(w),
  });
  const counts = new Map<string, number>();
  const fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = String(input);
    calls.push({ url, init });
    const n = (counts.get(url) ?? 0) + 1;
    counts.set(url, n);
    return routes(url, n, init);
  }) as typeof globalThis.fetch;
  return { calls, warnings, cache, stores, index, fetch, clock };
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return isLocalrecError(e) ? e.code : `not a LocalrecError: ${String(e)}`;
  }
  return 'no error';
}

const ok = (b: Uint8Array, etag?: string) =>
  new Response(b.slice() as Uint8Array<ArrayBuffer>, { headers: etag ? { etag } : {} });
const offline = () => {
  throw new TypeError('Failed to fetch');
};

describe('manifest', () => {
  it('verifies, caches only on commit, revalidates with If-None-Match, and starts offline', async () => {
    const k = await newSigningKey();
    const bytes = signed(k);
    let online = true;
    const s = setup((url, _n, init) => {
      if (!online) offline();
      const inm = new Headers(init?.headers).get('if-none-match');
      return inm === '"e1"' ? new Response(null, { status: 304 }) : ok(bytes, '"e1"');
    });
    const loader = new Loader({
      server: SERVER,
      publicKey: k.publicKey,
      fetch: s.fetch,
      cache: s.cache,
      onWarning: () => {},
    });
    const first = await loader.manifest();
    expect(first.source).toBe('network');
    expect(first.plan.modelVersion).toBe('m1');
    expect(await s.cache.getManifest()).toBeUndefined(); // not before commit
    await loader.commit(first);
    expect((await s.cache.getManifest())?.etag).toBe('"e1"');
    const again = await loader.manifest();
    expect(again.source).toBe('network');
    expect(again.served).toBeUndefined(); // 304: the cached copy, verified again
    online = false;
    const off = await loader.manifest();
    expect(off.source).toBe('cache');
    expect(off.plan.identity).toBe(first.plan.identity);
  });

  it('rejects another key; a tampered cached manifest is deleted; offline with nothing cached is not-found', async () => {
    const k = await newSigningKey();
    const other = await newSigningKey();
    const s = setup(() => ok(signed(other)));
    const loader = new Loader({
      server: SERVER,
      publicKey: k.publicKey,
      fetch: s.fetch,
      cache: s.cache,
      onWarning: () => {},
    });
    expect(await codeOf(loader.manifest())).toBe('integrity');

    const s2 = setup(offline);
    const l2 = new Loader({
      server: SERVER,
      publicKey: k.publicKey,
      fetch: s2.fetch,
      cache: s2.cache,
      onWarning: () => {},
    });
    expect(await codeOf(l2.manifest())).toBe('not-found');
    const tampered = new TextDecoder().decode(signed(k)).replace('"m1"', '"m2"');
    await s2.cache.putManifest(new TextEncoder().encode(tampered), null);
    expect(await codeOf(l2.manifest())).toBe('integrity');
    expect(await s2.cache.getManifest()).toBeUndefined();
  });

  it('a served manifest that fails falls back to the verified cached copy, with a warning', async () => {
    const k = await newSigningKey();
    const good = signed(k);
    let serve = good;
    const s = setup(() => ok(serve));
    const loader = new Loader({
      server: SERVER,
      publicKey: k.publicKey,
      fetch: s.fetch,
      cache: s.cache,
      onWarning: (w) => s.warnings.push(w),
    });
    await loader.commit(await loader.manifest());
    serve = new TextEncoder().encode(new TextDecoder().decode(good).replace('"m1"', '"evil"'));
    const m = await loader.manifest();
    expect(m.source).toBe('cache');
    expect(m.plan.modelVersion).toBe('m1');
    expect(s.warnings.map((w) => w.code)).toEqual(['integrity']);
  });
});

describe('blobs', () => {
  const ref = { sha256: sha(shard), bytes: shard.length };
  const url = `${SERVER}/v1/blobs/${ref.sha256}`;
  const bad = () => {
    const b = shard.slice();
    b[5]! ^= 1;
    return b;
  };

  it('downloads, verifies, caches, and then serves from the cache without a request', async () => {
    const s = setup(() => ok(shard));
    const loader = new Loader({
      server: SERVER,
      publicKey: 'x',
      fetch: s.fetch,
      cache: s.cache,
      onWarning: () => {},
    });
    const seen: [number, boolean][] = [];
    expect(await loader.blob(ref, 'shard', (n, c) => seen.push([n, c]))).toEqual(shard);
    await loader.flush();
    expect(s.index.get(ref.sha256)).toMatchObject({ kind: 'shard', where: 'cache-storage' });
    expect(await loader.blob(ref, 'shard', (n, c) => seen.push([n, c]))).toEqual(shard);
    expect(s.calls).toHaveLength(1);
    expect(seen.at(-1)).toEqual([shard.length, true]);
  });

  it('a tampered cached copy is discarded and downloaded again', async () => {
    const s = setup(() => ok(shard));
    const loader = new Loader({
      server: SERVER,
      publicKey: 'x',
      fetch: s.fetch,
      cache: s.cache,
      onWarning: (w) => s.warnings.push(w),
    });
    s.stores.set('test', new Map([[url, bad()]]));
    expect(await loader.blob(ref, 'shard')).toEqual(shard);
    await loader.flush();
    expect(s.calls).toHaveLength(1);
    expect(s.warnings.map((w) => w.code)).toEqual(['integrity']);
    expect(s.stores.get('test')!.get(url)).toEqual(shard);
  });

  it('a bad download is fetched once more, past the HTTP cache; twice bad is an integrity error', async () => {
    const s = setup((_u, n) => ok(n === 1 ? bad() : shard));
    const loader = new Loader({
      server: SERVER,
      publicKey: 'x',
      fetch: s.fetch,
      cache: s.cache,
      onWarning: (w) => s.warnings.push(w),
    });
    let net = 0;
    expect(await loader.blob(ref, 'shard', (n) => (net += n))).toEqual(shard);
    expect(net).toBe(shard.length); // the discarded bytes were taken back
    expect(s.calls.map((c) => c.init?.cache)).toEqual(['default', 'reload']);

    const always = setup(() => ok(bad()));
    const l2 = new Loader({
      server: SERVER,
      publicKey: 'x',
      fetch: always.fetch,
      cache: always.cache,
      onWarning: () => {},
    });
    const e = await l2.blob(ref, 'shard').catch((x: unknown) => x);
    expect(isLocalrecError(e) && e.code).toBe('integrity');
    expect(String(e)).toMatch(/failed its check twice/);
    await l2.flush();
    expect(always.stores.get('test')?.size ?? 0).toBe(0); // nothing bad was kept

    const short = setup(() => ok(shard.slice(0, 10)));
    const l3 = new Loader({
      server: SERVER,
      publicKey: 'x',
      fetch: short.fetch,
      cache: short.cache,
      onWarning: () => {},
    });
    expect(await codeOf(l3.blob(ref, 'shard'))).toBe('integrity');
    expect(short.calls).toHaveLength(2);
  });

  it('not cached and unreachable, or 404: not-found', async () => {
    const s = setup(offline);
    const loader = new Loader({
      server: SERVER,
      publicKey: 'x',
      fetch: s.fetch,
      cache: s.cache,
      onWarning: () => {},
    });
    expect(await codeOf(loader.blob(ref, 'shard'))).toBe('not-found');
    const s404 = setup(
      () => new Response('{"error":{"code":"not-found","message":"no blob"}}', { status: 404 }),
    );
    const l2 = new Loader({
      server: SERVER,
      publicKey: 'x',
      fetch: s404.fetch,
      cache: s404.cache,
      onWarning: () => {},
    });
    const e = await l2.blob(ref, 'shard').catch((x: unknown) => x);
    expect(isLocalrecError(e) && e.code).toBe('not-found');
    expect(String(e)).toMatch(/no blob/);
  });
});

describe('IndexedDB fallback', () => {
  it('without Cache Storage, blobs and the manifest go to the memory blob store', async () => {
    const k = await newSigningKey();
    const { memory, stored, index } = fakeMemory({ t: 1 });
    const cache = new BlobCache({
      cacheName: 'x',
      server: SERVER,
      caches: null,
      memory: () => memory,
      onWarning: () => {},
    });
    let online = true;
    const fetch = (async (input: RequestInfo | URL) => {
      if (!online) offline();
      return String(input).endsWith('/v1/manifest') ? ok(signed(k)) : ok(shard);
    }) as typeof globalThis.fetch;
    const loader = new Loader({
      server: SERVER,
      publicKey: k.publicKey,
      fetch,
      cache,
      onWarning: () => {},
    });
    await loader.commit(await loader.manifest());
    const ref = { sha256: sha(shard), bytes: shard.length };
    await loader.blob(ref, 'shard');
    await loader.flush();
    expect(stored.get(ref.sha256)).toEqual(shard);
    expect(index.get(ref.sha256)?.where).toBe('idb');
    expect(index.get(MANIFEST_SLOT)?.kind).toBe('manifest');
    online = false;
    expect((await loader.manifest()).source).toBe('cache');
    expect(await loader.blob(ref, 'shard')).toEqual(shard);
    // A version switch keeps the manifest slot.
    await cache.retain(new Set());
    expect(index.has(MANIFEST_SLOT)).toBe(true);
    expect(index.has(ref.sha256)).toBe(false);
  });
});

describe('cache eviction', () => {
  it('on quota, evicts least recently used blobs outside the protected set, then retries', async () => {
    const { caches, stores } = fakeCaches(250);
    const clock = { t: 1 };
    const { memory, index } = fakeMemory(clock);
    const warnings: RecommenderWarning[] = [];
    const cache = new BlobCache({
      cacheName: 'c',
      server: SERVER,
      caches,
      memory: () => memory,
      onWarning: (w) => warnings.push(w),
    });
    const blob = (n: number) => new Uint8Array(100).fill(n);
    const shas = [1, 2, 3].map((n) => sha(blob(n)));
    await cache.put(shas[0]!, blob(1), 'shard', new Set());
    clock.t = 2;
    await cache.put(shas[1]!, blob(2), 'shard', new Set());
    clock.t = 3;
    await cache.get(shas[0]!); // now 1 is more recently used than 2
    await new Promise((r) => setTimeout(r, 0));
    clock.t = 4;
    await cache.put(shas[2]!, blob(3), 'shard', new Set([shas[2]!]));
    const kept = [...stores.get('c')!.keys()].map((u) => u.split('/').pop());
    expect(kept.sort()).toEqual([shas[0], shas[2]].sort());
    expect([...index.keys()].sort()).toEqual([shas[0], shas[2]].sort());
    expect(warnings).toEqual([]);
    // Everything protected: nothing can go, the blob is not cached, and that is a warning.
    await cache.put(sha(blob(4)), blob(4), 'shard', new Set([shas[0]!, shas[2]!, sha(blob(4))]));
    expect(warnings.map((w) => w.code)).toEqual(['cache']);
    expect(stores.get('c')!.size).toBe(2);
  });

  it('retain() keeps only the blobs still in use; destroy() deletes the cache for good', async () => {
    const s = setup(() => ok(shard));
    await s.cache.put('a'.repeat(64), shard, 'shard', new Set());
    await s.cache.put('b'.repeat(64), shard, 'shard', new Set());
    await s.cache.putManifest(new TextEncoder().encode('{}'), null);
    await s.cache.retain(new Set(['b'.repeat(64)]));
    const keys = [...s.stores.get('test')!.keys()];
    expect(keys).toEqual([`${SERVER}/v1/blobs/${'b'.repeat(64)}`, `${SERVER}/v1/manifest`]);
    expect([...s.index.keys()]).toEqual(['b'.repeat(64)]);
    await s.cache.destroy();
    expect(s.stores.has('test')).toBe(false);
    await s.cache.put('c'.repeat(64), shard, 'shard', new Set());
    expect(s.stores.has('test')).toBe(false);
  });
});

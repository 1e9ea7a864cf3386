/**
 * The LLM's files from the manifest (src/client/loader/llm-files.ts) in Node, over the real
 * Loader and BlobCache with an in-memory Cache Storage and a scripted fetch: a GGUF verified,
 * cached (the second load reads no network), refetched once when a download or the cached copy
 * is corrupt and then refused naming the file; a web-llm model whose every file — shards too,
 * which web-llm itself never checks — is verified and written into web-llm's cache under the
 * URLs its appConfig names; and when a download may start (download-policy.ts).
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { LlmSection } from '../../src/core/llm-manifest.ts';
import { manifestBlobs, type Manifest, type VerifiedManifest } from '../../src/core/manifest.ts';
import type { RecommenderWarning } from '../../src/client/api.ts';
import type { Memory } from '../../src/client/memory/memory-api.ts';
import { BlobCache, type CacheLike, type CacheStorageLike } from '../../src/client/loader/cache.ts';
import {
  connectionInfo,
  llmDownloadDecision,
  type LlmDownloadContext,
} from '../../src/client/loader/download-policy.ts';
import {
  forgetWebLlmFiles,
  loadLlmFromManifest,
  WEBLLM_CACHE_SCOPES,
} from '../../src/client/loader/llm-files.ts';
import { manifestLlmSource } from '../../src/client/loader/llm-source.ts';
import { Loader } from '../../src/client/loader/loader.ts';
import { keptWith, type LoadPlan } from '../../src/client/loader/plan.ts';
import type { LlmProgress, WllamaModel } from '../../src/client/llm/api.ts';
import { buildWebLlmAppConfig, sriFromHex } from '../../src/client/llm/webllm-config.ts';
import { refusalOf } from '../setup/refusal.ts';

const SERVER = 'https://recs.example';
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const bytes = (s: string, n: number) => new TextEncoder().encode(s.repeat(n));

function fakeCaches(): CacheStorageLike & { stores: Map<string, Map<string, Uint8Array>> } {
  const stores = new Map<string, Map<string, Uint8Array>>();
  return {
    stores,
    async open(name): Promise<CacheLike> {
      let store = stores.get(name);
      if (!store) stores.set(name, (store = new Map()));
      const s = store;
      return {
        match: async (k) => {
          const b = s.get(k);
          return b ? new Response(b.slice() as Uint8Array<ArrayBuffer>) : undefined;
        },
        put: async (k, r) => void s.set(k, new Uint8Array(await r.arrayBuffer())),
        delete: async (k) => s.delete(k),
        keys: async () => [...s.keys()].map((u) => new Request(u)),
      };
    },
    delete: async (n) => stores.delete(n),
  };
}

function verified(llm: LlmSection | null): VerifiedManifest {
  const manifest = {
    formatVersion: 1,
    modelVersion: 'm1',
    createdAt: '2026-12-04T00:00:00Z',
    models: {},
    shards: [],
    metadata: [],
    llm,
    federated: null,
    signature: null,
  } as Manifest;
  return { manifest, blobs: manifestBlobs(manifest), keyId: 'k' };
}

/** A server holding `files` by sha256; `corrupt(sha, n)` says whether its n-th answer is bad. */
function setup(files: Uint8Array[], corrupt: (sha: string, n: number) => boolean = () => false) {
  const bySha = new Map(files.map((f) => [sha(f), f]));
  const calls: { url: string; cache?: RequestCache }[] = [];
  const counts = new Map<string, number>();
  const fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = String(input);
    calls.push({ url, cache: init?.cache });
    const h = url.slice(url.lastIndexOf('/') + 1);
    const n = (counts.get(h) ?? 0) + 1;
    counts.set(h, n);
    const b = bySha.get(h);
    if (!b) return new Response('{}', { status: 404 });
    const out = b.slice();
    if (corrupt(h, n)) out[out.length - 1]! ^= 0xff;
    return new Response(out as Uint8Array<ArrayBuffer>);
  }) as typeof globalThis.fetch;
  const caches = fakeCaches();
  const warnings: RecommenderWarning[] = [];
  // The memory's cache index, as far as the cache writes it: what forget() and eviction read.
  const index: { sha256: string; kind: string }[] = [];
  const memory = {
    cache: {
      put: async (e: { sha256: string; kind: string }) => void index.push(e),
      get: async () => undefined,
      touch: async () => undefined,
      delete: async () => false,
      list: async () => [],
    },
    blobs: { get: async () => undefined },
  } as unknown as Memory;
  const cache = new BlobCache({
    cacheName: 'localrec:test',
    server: SERVER,
    caches,
    memory: () => memory,
    onWarning: (w) => warnings.push(w),
  });
  const loader = () =>
    new Loader({
      server: SERVER,
      publicKey: 'unused',
      fetch,
      cache,
      onWarning: (w) => warnings.push(w),
    });
  return { calls, caches, cache, loader, warnings, index };
}

const gguf = bytes('GGUF pretend weights ', 500);
const WLLAMA: LlmSection = {
  engine: 'wllama',
  id: 'tiny',
  contextSize: 512,
  needs: { memoryMB: 8 },
  files: [{ role: 'weights', name: 'tiny.gguf', sha256: sha(gguf), bytes: gguf.length }],
};

describe('the LLM from the manifest', () => {
  it('is null when the manifest ships none', async () => {
    const s = setup([]);
    expect(
      await loadLlmFromManifest(verified(null), { loader: s.loader(), server: SERVER }),
    ).toBeNull();
    expect(s.calls).toEqual([]);
  });

  it('a GGUF: verified, handed over as bytes, cached; the second load reads no network', async () => {
    const s = setup([gguf]);
    const progress: LlmProgress[] = [];
    const loader = s.loader();
    const model = (await loadLlmFromManifest(verified(WLLAMA), {
      loader,
      server: SERVER,
      onProgress: (p) => void progress.push(p),
    })) as WllamaModel;
    expect(model).toMatchObject({
      engine: 'wllama',
      id: 'tiny',
      contextSize: 512,
      needs: { memoryMB: 8 },
    });
    const blob = (model.gguf as { blob: Blob }).blob;
    expect(new Uint8Array(await blob.arrayBuffer())).toEqual(gguf);
    expect(s.calls.map((c) => c.url)).toEqual([`${SERVER}/v1/blobs/${sha(gguf)}`]);
    expect(progress.at(-1)).toMatchObject({
      phase: 'download',
      progress: 1,
      loadedBytes: gguf.length,
      totalBytes: gguf.length,
      text: expect.stringMatching(/^downloading the model: .* \(tiny\.gguf\)$/),
    });
    await loader.flush();
    const again: LlmProgress[] = [];
    await loadLlmFromManifest(verified(WLLAMA), {
      loader: s.loader(),
      server: SERVER,
      onProgress: (p) => void again.push(p),
    });
    expect(s.calls).toHaveLength(1);
    expect(again.at(-1)?.text).toMatch(/^reading the model from this device/);
    expect(s.caches.stores.get('localrec:test')?.has(`${SERVER}/v1/blobs/${sha(gguf)}`)).toBe(true);
  });

  it('a corrupt download is fetched once more, bypassing the HTTP cache', async () => {
    const s = setup([gguf], (_h, n) => n === 1);
    const model = await loadLlmFromManifest(verified(WLLAMA), {
      loader: s.loader(),
      server: SERVER,
    });
    expect(model?.engine).toBe('wllama');
    expect(s.calls.map((c) => c.cache)).toEqual(['default', 'reload']);
    expect(s.warnings.map((w) => w.message)).toEqual([
      expect.stringMatching(
        /downloaded LLM file tiny\.gguf .* failed its check .* downloading it once more/,
      ),
    ]);
  });

  it('corrupt twice: a clear integrity error naming the file', async () => {
    const s = setup([gguf], () => true);
    const r = await refusalOf(
      loadLlmFromManifest(verified(WLLAMA), { loader: s.loader(), server: SERVER }),
    );
    expect(r.code).toBe('integrity');
    expect(r.message).toMatch(
      /^LLM file tiny\.gguf [0-9a-f]{12}… failed its check twice .*corrupt data$/,
    );
    expect(s.calls).toHaveLength(2);
    // Nothing bad was cached.
    expect(await s.cache.get(sha(gguf))).toBeUndefined();
  });

  it('a cached copy that fails its check is discarded and downloaded again', async () => {
    const s = setup([gguf]);
    const bad = gguf.slice();
    bad[0]! ^= 1;
    await s.cache.put(sha(gguf), bad, 'llm', new Set());
    const model = (await loadLlmFromManifest(verified(WLLAMA), {
      loader: s.loader(),
      server: SERVER,
    })) as WllamaModel;
    expect(new Uint8Array(await (model.gguf as { blob: Blob }).blob.arrayBuffer())).toEqual(gguf);
    expect(s.calls).toHaveLength(1);
    expect(s.warnings[0]?.message).toMatch(/the cached LLM file tiny\.gguf .* discarded/);
  });

  it('stops between files when aborted', async () => {
    const s = setup([gguf]);
    const ac = new AbortController();
    ac.abort();
    await expect(
      loadLlmFromManifest(verified(WLLAMA), {
        loader: s.loader(),
        server: SERVER,
        signal: ac.signal,
      }),
    ).rejects.toMatchObject({ name: 'AbortError' });
    expect(s.calls).toEqual([]);
  });
});

describe('the manifest as the recommender’s LLM source', () => {
  it('offers the model, says whether it is downloaded, and downloads it verified on fetch', async () => {
    const s = setup([gguf]);
    let section: LlmSection | null = null;
    const loader = s.loader();
    const plan = () => ({ llm: section, blobs: [] }) as unknown as LoadPlan;
    const source = manifestLlmSource(plan, { loader, cache: s.cache, server: SERVER });
    expect(source.models()).toEqual([]);
    section = WLLAMA;
    const [offered] = source.models();
    // Described by where its verified bytes come from; only fetch() reads them.
    expect(offered).toEqual({
      engine: 'wllama',
      id: 'tiny',
      gguf: { url: `${SERVER}/v1/blobs/${sha(gguf)}` },
      contextSize: 512,
      needs: { memoryMB: 8 },
    });
    expect(await source.cached!(offered!)).toBe(false);
    expect(await source.downloadBytes!(offered!)).toBe(gguf.byteLength);
    expect(s.calls).toEqual([]);
    const progress: number[] = [];
    const model = (await source.fetch!(offered!, {
      onProgress: (p) => void progress.push(p.progress),
    })) as WllamaModel;
    expect(new Uint8Array(await (model.gguf as { blob: Blob }).blob.arrayBuffer())).toEqual(gguf);
    expect(progress.at(-1)).toBe(1);
    await loader.flush();
    expect(await source.cached!(offered!)).toBe(true);
    expect(await source.downloadBytes!(offered!)).toBe(0);
    expect(s.index.map((e) => [e.sha256, e.kind])).toEqual([[sha(gguf), 'llm']]);
    // Kept across a version switch with the version in use.
    expect([...keptWith(new Set(['x']), plan())]).toEqual(['x', sha(gguf)]);
    section = { ...WLLAMA, id: 'another' };
    expect((await refusalOf(source.fetch!(offered!, {}))).message).toMatch(
      /the model tiny is no longer in the manifest in use/,
    );
  });
});

describe('a web-llm model from the manifest', () => {
  const f = {
    config: new TextEncoder().encode('{"model_type":"llama","tokenizer_files":["tokenizer.json"]}'),
    tokenizer: bytes('{"vocab":1}', 3),
    tensors: new TextEncoder().encode('{"records":[{"dataPath":"params_shard_0.bin"}]}'),
    shard: bytes('weights ', 100),
    lib: bytes('\0asm lib ', 20),
  };
  const section: LlmSection = {
    engine: 'webllm',
    id: 'Tiny-MLC',
    contextSize: 1024,
    needs: { memoryMB: 64, shaderF16: true },
    files: [
      {
        role: 'config',
        name: 'mlc-chat-config.json',
        sha256: sha(f.config),
        bytes: f.config.length,
      },
      {
        role: 'tokenizer',
        name: 'tokenizer.json',
        sha256: sha(f.tokenizer),
        bytes: f.tokenizer.length,
      },
      {
        role: 'tensor-cache',
        name: 'tensor-cache.json',
        sha256: sha(f.tensors),
        bytes: f.tensors.length,
      },
      { role: 'weights', name: 'params_shard_0.bin', sha256: sha(f.shard), bytes: f.shard.length },
      { role: 'model-lib', name: 'tiny.wasm', sha256: sha(f.lib), bytes: f.lib.length },
    ],
  };
  const base = `${SERVER}/v1/llm/${sha(f.config)}/resolve/main/`;

  it('verifies every file and puts it in web-llm’s cache under the URLs its appConfig names', async () => {
    const s = setup(Object.values(f));
    const webllm = fakeCaches();
    const model = await loadLlmFromManifest(verified(section), {
      loader: s.loader(),
      server: SERVER,
      caches: webllm,
    });
    expect(model).toEqual({
      engine: 'webllm',
      id: 'Tiny-MLC',
      baseUrl: `${SERVER}/v1/llm/${sha(f.config)}`,
      modelLibUrl: `${SERVER}/v1/blobs/${sha(f.lib)}`,
      sha256: {
        config: sha(f.config),
        modelLib: sha(f.lib),
        tokenizer: { 'tokenizer.json': sha(f.tokenizer) },
      },
      contextSize: 1024,
      needs: { memoryMB: 64, shaderF16: true },
    });
    const record = buildWebLlmAppConfig(model as Parameters<typeof buildWebLlmAppConfig>[0])
      .model_list[0]!;
    expect(record.model).toBe(base);
    expect(record.integrity).toMatchObject({ config: sriFromHex(sha(f.config)) });
    const keys = (scope: string) => [...(webllm.stores.get(scope)?.keys() ?? [])];
    expect(keys('webllm/config')).toEqual([`${base}mlc-chat-config.json`]);
    expect(keys('webllm/model')).toEqual([
      `${base}tokenizer.json`,
      `${base}tensor-cache.json`,
      `${base}params_shard_0.bin`,
    ]);
    expect(keys('webllm/wasm')).toEqual([record.model_lib]);
    expect(webllm.stores.get('webllm/model')?.get(`${base}params_shard_0.bin`)).toEqual(f.shard);
    // Only the sync server's blobs were fetched; never a hub.
    expect(s.calls.every((c) => c.url.startsWith(`${SERVER}/v1/blobs/`))).toBe(true);
    await forgetWebLlmFiles(webllm);
    expect(WEBLLM_CACHE_SCOPES.some((k) => webllm.stores.has(k))).toBe(false);
  });

  it('a corrupt weight shard — which web-llm would not check — is refused before web-llm sees it', async () => {
    const s = setup(Object.values(f), (h) => h === sha(f.shard));
    const webllm = fakeCaches();
    const r = await refusalOf(
      loadLlmFromManifest(verified(section), {
        loader: s.loader(),
        server: SERVER,
        caches: webllm,
      }),
    );
    expect(r).toMatchObject({
      code: 'integrity',
      message: expect.stringMatching(/params_shard_0\.bin/),
    });
    expect(webllm.stores.get('webllm/model')?.has(`${base}params_shard_0.bin`)).toBe(false);
  });
});

describe('when the LLM may download', () => {
  const at = (c: Partial<LlmDownloadContext>) =>
    llmDownloadDecision({ requested: false, idle: true, connection: undefined, ...c });
  it('on demand always; when idle only on a connection that does not look metered', () => {
    expect(
      at({ requested: true, idle: false, connection: { saveData: true, type: 'cellular' } }),
    ).toEqual({
      download: true,
      why: 'requested',
    });
    expect(at({ idle: false, connection: { effectiveType: '4g' } }).why).toBe('busy');
    expect(at({}).why).toBe('connection-unknown');
    expect(at({ connection: {} }).why).toBe('connection-unknown');
    expect(at({ connection: { effectiveType: '4g', saveData: false } })).toEqual({
      download: true,
      why: 'idle-unmetered',
    });
    expect(at({ connection: { type: 'wifi' } }).download).toBe(true);
    expect(at({ connection: { type: 'ethernet', effectiveType: '4g' } }).download).toBe(true);
    expect(at({ connection: { effectiveType: '4g', saveData: true } }).why).toBe('save-data');
    expect(at({ connection: { effectiveType: '4g', type: 'cellular' } }).why).toBe('cellular');
    expect(at({ connection: { type: 'none' } }).why).toBe('offline');
    for (const effectiveType of ['slow-2g', '2g', '3g'])
      expect(at({ connection: { effectiveType } }).why).toBe('slow-connection');
  });

  it('reads navigator.connection where there is one', () => {
    expect(connectionInfo({})).toBeUndefined();
    expect(connectionInfo(undefined)).toBeUndefined();
    expect(
      connectionInfo({
        connection: { saveData: true, effectiveType: '3g', downlink: 1.5, type: 7 },
      }),
    ).toEqual({ saveData: true, effectiveType: '3g' });
  });
});

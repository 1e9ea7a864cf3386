/**
 * The owner's LLM as a site ships it, in real Chromium (issue #15 item 2): the tiny GGUF the
 * project writes, attached to an export from an owner's config and published signed on the real
 * sync server (test/setup/llm-fixtures.ts), is found in the manifest once its signature checks
 * out, read from the server's blobs, verified, kept in the SDK's Cache Storage cache (a second
 * load makes no request at all), loaded by the llm worker with the wllama engine and run under
 * the grounded grammar. A blob corrupted on the way is fetched once more and the model loads;
 * a blob the server keeps serving corrupt is a clear `integrity` error, and nothing is cached.
 * And the SDK end to end: a recommender on a server whose manifest ships the GGUF names the
 * model in status() before any byte of it is fetched, downloads it verified on loadLlm() and
 * runs it in the llm worker, and forget() deletes it.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { verifyManifest } from '../../src/core/manifest.ts';
import type { RecommenderWarning } from '../../src/client/api.ts';
import type { WllamaModel } from '../../src/client/llm/api.ts';
import { groundedSpec, parseGrounded } from '../../src/client/llm/grounded.ts';
import { startLlmWorker, type LlmWorker } from '../../src/client/llm/worker-client.ts';
import { BlobCache } from '../../src/client/loader/cache.ts';
import { loadLlmFromManifest } from '../../src/client/loader/llm-files.ts';
import { Loader } from '../../src/client/loader/loader.ts';
import { localRecommender, memoryNames } from './sdk-fixture.ts';
import { refusalOf } from '../setup/refusal.ts';

const fx = inject('llmFixture').manifest;
const cacheNames: string[] = [];

/** A loader over `server` with its own Cache Storage cache and a fetch that counts requests. */
function client(
  server: string,
  transform?: (url: string, n: number, body: Uint8Array) => Uint8Array,
) {
  const name = `localrec:llm-manifest-${Date.now()}-${cacheNames.length}`;
  cacheNames.push(name);
  const warnings: RecommenderWarning[] = [];
  const requests: string[] = [];
  const cache = new BlobCache({
    cacheName: name,
    server,
    memory: () => undefined,
    onWarning: (w) => warnings.push(w),
  });
  const fetcher = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = String(input);
    requests.push(url);
    const res = await fetch(input, init);
    if (!transform || !url.includes('/v1/blobs/')) return res;
    const body = transform(
      url,
      requests.filter((r) => r === url).length,
      new Uint8Array(await res.arrayBuffer()),
    );
    return new Response(body as Uint8Array<ArrayBuffer>, {
      status: res.status,
      headers: res.headers,
    });
  }) as typeof fetch;
  const loader = (f: typeof fetch = fetcher) =>
    new Loader({
      server,
      publicKey: fx.publicKey,
      fetch: f,
      cache,
      onWarning: (w) => warnings.push(w),
    });
  return { cache, loader, requests, warnings, fetch: fetcher, server };
}

/**
 * The server's manifest, its signature checked against the pinned key. (Not Loader.manifest():
 * that also plans the recommender's model, which this export has none of.)
 */
async function signedManifest(c: { fetch: typeof fetch; server: string }) {
  const res = await c.fetch(`${c.server}/v1/manifest`, { cache: 'no-store' });
  expect(res.ok).toBe(true);
  return verifyManifest(new Uint8Array(await res.arrayBuffer()), fx.publicKey);
}

const IDS = ['m12', 'tt0114709', 'x/9'];

describe('the LLM through the signed manifest', () => {
  let llm: LlmWorker;
  beforeAll(() => {
    llm = startLlmWorker();
  });
  afterAll(async () => {
    llm.terminate();
    for (const n of cacheNames) await caches.delete(n);
  });

  it('is listed in the signed manifest, read from the server’s blobs, verified, cached and run in the worker', async () => {
    const c = client(fx.good);
    const loader = c.loader();
    const verified = await signedManifest(c);
    expect(verified.manifest.llm).toMatchObject({
      engine: 'wllama',
      id: 'localrec-tiny-llama',
      files: [{ role: 'weights', name: 'tiny-llama.gguf', sha256: fx.ggufSha256 }],
    });
    const total = verified.manifest.llm!.files[0]!.bytes;
    const progress: number[] = [];
    const t0 = performance.now();
    const model = (await loadLlmFromManifest(verified, {
      loader,
      server: fx.good,
      onProgress: (p) => void progress.push(p.loadedBytes ?? -1),
    })) as WllamaModel;
    const fetchMs = performance.now() - t0;
    expect(c.requests).toEqual([`${fx.good}/v1/manifest`, `${fx.good}/v1/blobs/${fx.ggufSha256}`]);
    expect(progress.at(-1)).toBe(total);
    await loader.flush();
    expect(
      await (await caches.open(cacheNames[0]!)).match(`${fx.good}/v1/blobs/${fx.ggufSha256}`),
    ).toBeDefined();

    const loaded = await llm.load({ choice: 'wasm', models: [model] });
    expect(loaded).toMatchObject({
      engine: 'wllama',
      modelId: 'localrec-tiny-llama',
      bytes: total,
    });
    const spec = groundedSpec({ ids: IDS, maxReasonChars: 120 });
    const g = await llm.generate({
      system: 'Explain the recommendation from the evidence. Answer in JSON.',
      user: `Candidate: Toy Story (1995). Evidence ids: ${IDS.join(', ')}.`,
      constraint: { gbnf: spec.gbnf, jsonSchema: spec.schema },
      maxTokens: spec.maxTokens,
      temperature: 1,
      seed: 11,
    });
    const answer = parseGrounded(g.text, { ids: IDS, maxReasonChars: 120 });
    expect(answer.evidence.length).toBeGreaterThan(0);
    for (const id of answer.evidence) expect(IDS).toContain(id);

    // A second visit: the same cache, a fetch that must not be called.
    const offline = (async () => {
      throw new TypeError('the network must not be used');
    }) as typeof fetch;
    const t1 = performance.now();
    const again = (await loadLlmFromManifest(verified, {
      loader: c.loader(offline),
      server: fx.good,
    })) as WllamaModel;
    const cachedMs = performance.now() - t1;
    const blob = (again.gguf as { blob: Blob }).blob;
    expect(blob.size).toBe(total);
    expect(await llm.load({ choice: 'wasm', models: [again] })).toMatchObject({ bytes: total });
    expect(c.warnings).toEqual([]);
    console.log(
      `[llm-manifest] ${total} bytes from the sync server in ${fetchMs.toFixed(0)} ms, from the cache in ${cachedMs.toFixed(0)} ms; loaded in ${loaded.loadMs.toFixed(0)} ms; e.g. ${g.text}`,
    );
  });

  it('a blob corrupted on the way is fetched once more, and the model loads', async () => {
    const c = client(fx.good, (_url, n, body) => {
      if (n === 1) body[body.length - 1]! ^= 0x01;
      return body;
    });
    const loader = c.loader();
    const verified = await signedManifest(c);
    const model = await loadLlmFromManifest(verified, { loader, server: fx.good });
    const blobUrl = `${fx.good}/v1/blobs/${fx.ggufSha256}`;
    expect(c.requests.filter((r) => r === blobUrl)).toHaveLength(2);
    expect(c.warnings.map((w) => w.message)).toEqual([
      expect.stringMatching(
        /downloaded LLM file tiny-llama\.gguf .* failed its check .* once more/,
      ),
    ]);
    expect(await llm.load({ choice: 'wasm', models: [model!] })).toMatchObject({
      engine: 'wllama',
    });
  });

  it('a blob the server keeps serving corrupt is a clear integrity error, and is not cached', async () => {
    const c = client(fx.bad);
    const loader = c.loader();
    const verified = await signedManifest(c);
    const r = await refusalOf(loadLlmFromManifest(verified, { loader, server: fx.bad }));
    expect(r.code).toBe('integrity');
    expect(r.message).toMatch(
      /^LLM file tiny-llama\.gguf [0-9a-f]{12}… failed its check twice \(.*sha256.*\); the server or a proxy is serving corrupt data$/,
    );
    expect(c.requests.filter((u) => u.includes('/v1/blobs/'))).toHaveLength(2);
    await loader.flush();
    expect(await c.cache.get(fx.ggufSha256)).toBeUndefined();
  });
});

describe('the recommender’s LLM from its manifest', () => {
  const names = memoryNames('llm-sdk');

  it('is named before any download, fetched verified on loadLlm(), run, and deleted by forget()', async () => {
    const rfx = inject('recommenderFixture');
    const server = rfx.servers.d;
    const manifest = (await (await fetch(`${server}/v1/manifest`)).json()) as {
      llm: { files: { sha256: string; bytes: number }[] };
    };
    const gguf = manifest.llm.files[0]!;
    const blobUrl = `${server}/v1/blobs/${gguf.sha256}`;
    const requests: string[] = [];
    const name = names();
    const rec = await localRecommender({
      server,
      name,
      llm: 'wasm',
      fetch: (input, init) => {
        requests.push(String(input));
        return fetch(input, init);
      },
    });
    try {
      expect((await rec.status()).llm).toMatchObject({
        state: 'not-loaded',
        engine: 'wllama',
        model: 'localrec-tiny-llama',
        reason: expect.stringMatching(/not downloaded yet/),
        downloadBytes: gguf.bytes,
      });
      expect(requests).not.toContain(blobUrl);
      expect(await rec.loadLlm()).toMatchObject({
        state: 'ready',
        engine: 'wllama',
        device: 'wasm',
        model: 'localrec-tiny-llama',
      });
      expect(requests.filter((u) => u === blobUrl)).toHaveLength(1);
      const cache = await caches.open(`localrec:${name}`);
      await expect.poll(async () => (await cache.match(blobUrl)) !== undefined).toBe(true);
      await rec.forget();
      expect(await (await caches.open(`localrec:${name}`)).match(blobUrl)).toBeUndefined();
    } finally {
      await rec.close();
    }
  });
});

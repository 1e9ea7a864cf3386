import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brotliCompressSync } from 'node:zlib';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, listen } from '../../src/server/app.ts';
import { parseRange } from '../../src/server/byte-range.ts';

const sha256 = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex');

function manifestJson(modelVersion: string, blobHash: string): string {
  return JSON.stringify({
    formatVersion: 1,
    modelVersion,
    createdAt: '2026-11-22T08:00:00Z',
    models: {
      sasrec: {
        encoder: { sha256: blobHash, bytes: 300, quantization: 'int8' },
        config: { numItems: 3 },
      },
    },
    shards: [],
    metadata: null,
    llm: null,
    federated: null,
    signature: null,
  });
}

describe('server over real HTTP', () => {
  let root: string;
  let exportDir: string;
  let app: FastifyInstance;
  let base: string;
  // 300 distinct-ish bytes, so a Range slice is checkable byte for byte.
  const blob = Uint8Array.from({ length: 300 }, (_, i) => (i * 7) % 256);
  const blobHash = sha256(blob);
  const wasm = new Uint8Array(4096).fill(7);

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'localrec-server-'));
    exportDir = join(root, 'export');
    mkdirSync(join(exportDir, 'blobs'), { recursive: true });
    writeFileSync(join(exportDir, 'blobs', blobHash), blob);
    writeFileSync(join(exportDir, 'manifest.json'), manifestJson('v1', blobHash));
    const staticDir = join(root, 'dist');
    mkdirSync(join(staticDir, 'assets'), { recursive: true });
    writeFileSync(join(staticDir, 'index.html'), '<!doctype html><title>localrec demo</title>');
    writeFileSync(join(staticDir, 'assets', 'main-abc123.js'), 'console.log(1)');
    writeFileSync(join(staticDir, 'assets', 'big-abc123.wasm'), wasm);
    writeFileSync(join(staticDir, 'assets', 'big-abc123.wasm.br'), brotliCompressSync(wasm));
    app = createServer({ exportDir, staticDir });
    let logged = '';
    base = (await listen(app, { host: '127.0.0.1', port: 0, log: (l) => (logged = l) })).replace(
      /\/$/,
      '',
    );
    expect(logged).toContain(base);
  });

  afterAll(async () => {
    await app?.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('serves the manifest with no-cache and a strong sha256 ETag, 304 when unchanged', async () => {
    const text = manifestJson('v1', blobHash);
    const res = await fetch(`${base}/v1/manifest`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.headers.get('cache-control')).toBe('no-cache');
    expect(res.headers.get('etag')).toBe(`"${sha256(text)}"`);
    expect(await res.text()).toBe(text);

    const again = await fetch(`${base}/v1/manifest`, {
      headers: { 'If-None-Match': `"${sha256(text)}"` },
    });
    expect(again.status).toBe(304);
    const stale = await fetch(`${base}/v1/manifest`, { headers: { 'If-None-Match': '"0000"' } });
    expect(stale.status).toBe(200);
  });

  it('picks up a new export without a restart', async () => {
    const next = manifestJson('v2', blobHash);
    writeFileSync(join(exportDir, 'manifest.json'), next);
    const res = await fetch(`${base}/v1/manifest`);
    expect(res.headers.get('etag')).toBe(`"${sha256(next)}"`);
    expect(JSON.parse(await res.text()).modelVersion).toBe('v2');
    const health = await fetch(`${base}/healthz`);
    expect(await health.json()).toMatchObject({ ok: true, modelVersion: 'v2', signed: false });
  });

  it('serves a blob with immutable caching, its hash as ETag, and 304 on revalidation', async () => {
    const res = await fetch(`${base}/v1/blobs/${blobHash}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(res.headers.get('etag')).toBe(`"${blobHash}"`);
    expect(res.headers.get('content-type')).toBe('application/octet-stream');
    const body = new Uint8Array(await res.arrayBuffer());
    expect(sha256(body)).toBe(blobHash);

    const again = await fetch(`${base}/v1/blobs/${blobHash}`, {
      headers: { 'If-None-Match': `"${blobHash}"` },
    });
    expect(again.status).toBe(304);
  });

  it('answers Range requests with 206 and the right slice, 416 outside the blob', async () => {
    const res = await fetch(`${base}/v1/blobs/${blobHash}`, {
      headers: { Range: 'bytes=100-109' },
    });
    expect(res.status).toBe(206);
    expect(res.headers.get('content-range')).toBe('bytes 100-109/300');
    expect(Array.from(new Uint8Array(await res.arrayBuffer()))).toEqual(
      Array.from(blob.subarray(100, 110)),
    );

    const tail = await fetch(`${base}/v1/blobs/${blobHash}`, { headers: { Range: 'bytes=290-' } });
    expect(tail.status).toBe(206);
    expect((await tail.arrayBuffer()).byteLength).toBe(10);

    const outside = await fetch(`${base}/v1/blobs/${blobHash}`, {
      headers: { Range: 'bytes=300-' },
    });
    expect(outside.status).toBe(416);
    expect(outside.headers.get('content-range')).toBe('bytes */300');

    // A stale If-Range means the client's partial copy is of something else: send it whole.
    const whole = await fetch(`${base}/v1/blobs/${blobHash}`, {
      headers: { Range: 'bytes=0-9', 'If-Range': '"other"' },
    });
    expect(whole.status).toBe(200);
    expect((await whole.arrayBuffer()).byteLength).toBe(300);
  });

  it.each([
    ['uppercase hex', blobHash.toUpperCase()],
    ['too short', blobHash.slice(0, 63)],
    ['not hex', 'z'.repeat(64)],
    ['a traversal attempt', '..%2Fmanifest.json'],
  ])('rejects a blob name that is %s with 400 bad-input', async (_what, name) => {
    const res = await fetch(`${base}/v1/blobs/${name}`);
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('bad-input');
    expect(body.error.message).toMatch(/sha256/);
  });

  it('answers a well-formed but absent blob with 404 not-found', async () => {
    const res = await fetch(`${base}/v1/blobs/${'a'.repeat(64)}`);
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('not-found');
  });

  it('serves the demo site: index at /, hashed assets immutable', async () => {
    // Explicit Accept-Encoding: @fastify/static's preCompressed index lookup 404s on it unaided.
    const res = await fetch(`${base}/`, { headers: { 'Accept-Encoding': 'br, gzip' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.headers.get('cache-control')).toBe('no-cache');
    expect(await res.text()).toContain('localrec demo');
    const asset = await fetch(`${base}/assets/main-abc123.js`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('cache-control')).toContain('immutable');
  });

  it('serves a pre-compressed build file to clients that accept it, the raw file to others', async () => {
    const br = await fetch(`${base}/assets/big-abc123.wasm`, {
      headers: { 'Accept-Encoding': 'br' },
    });
    expect(br.status).toBe(200);
    expect(br.headers.get('content-encoding')).toBe('br');
    expect(br.headers.get('content-type')).toBe('application/wasm');
    // fetch decodes it transparently: the bytes are the original file.
    expect(new Uint8Array(await br.arrayBuffer())).toEqual(wasm);
    const raw = await fetch(`${base}/assets/big-abc123.wasm`, {
      headers: { 'Accept-Encoding': 'identity' },
    });
    expect(raw.headers.get('content-encoding')).toBeNull();
    expect((await raw.arrayBuffer()).byteLength).toBe(4096);
  });

  it.each(['/v1/nope', '/no-such-page.html', '/v1/blobs'])(
    'answers unknown route %s with 404 JSON',
    async (path) => {
      const res = await fetch(`${base}${path}`);
      expect(res.status).toBe(404);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('not-found');
    },
  );
});

describe('server without an export yet', () => {
  it('answers manifest and healthz with 503 not-loaded, and refuses a missing folder', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'localrec-empty-'));
    const app = createServer({ exportDir: dir });
    try {
      const res = await app.inject({ method: 'GET', url: '/v1/manifest' });
      expect(res.statusCode).toBe(503);
      expect(res.json().error.code).toBe('not-loaded');
      expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(503);
    } finally {
      await app.close();
      rmSync(dir, { recursive: true, force: true });
    }
    expect(() => createServer({ exportDir: join(dir, 'missing') })).toThrow(/does not exist/);
  });
});

describe('parseRange', () => {
  it('parses single ranges and ignores what it should ignore', () => {
    expect(parseRange('bytes=0-0', 10)).toEqual({ start: 0, end: 0 });
    expect(parseRange('bytes=5-100', 10)).toEqual({ start: 5, end: 9 });
    expect(parseRange('bytes=-3', 10)).toEqual({ start: 7, end: 9 });
    expect(parseRange('bytes=-30', 10)).toEqual({ start: 0, end: 9 });
    expect(parseRange('bytes=10-', 10)).toBe('unsatisfiable');
    expect(parseRange('bytes=-0', 10)).toBe('unsatisfiable');
    expect(parseRange('bytes=5-2', 10)).toBeUndefined();
    expect(parseRange('bytes=0-1,3-4', 10)).toBeUndefined();
    expect(parseRange('items=0-1', 10)).toBeUndefined();
    expect(parseRange(undefined, 10)).toBeUndefined();
  });
});

/**
 * The sync server's web-llm route (src/server/routes/llm.ts): a published web-llm model's files
 * are served by the names web-llm asks for under `/v1/llm/<config sha256>/resolve/main/`, as
 * the bytes of their blobs; a stale config hash, an unknown name, the model library (a plain
 * blob) and a malformed folder are refused. Its blobs are also served by hash.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type LocalrecServer } from '../../src/server/app.ts';
import { newSigningKey } from '../../src/server/keys.ts';
import { publishExport } from '../../src/server/publish.ts';
import { openPublicationStore } from '../../src/server/store/registry.ts';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const enc = (s: string) => new TextEncoder().encode(s);

const files = {
  config: enc('{"model_type":"llama"}'),
  tokenizer: enc('{"vocab":{}}'),
  tensors: enc('{"records":[]}'),
  shard: enc('weights '.repeat(64)),
  lib: enc('\0asm library'),
};
const ref = (role: string, name: string, b: Uint8Array) => ({
  role,
  name,
  sha256: sha(b),
  bytes: b.length,
});

describe('GET /v1/llm/:config/resolve/main/:name', () => {
  const root = mkdtempSync(join(tmpdir(), 'localrec-llm-route-'));
  let app: LocalrecServer;
  const base = `/v1/llm/${sha(files.config)}/resolve/main`;
  beforeAll(async () => {
    const dir = join(root, 'export');
    mkdirSync(join(dir, 'blobs'), { recursive: true });
    for (const b of Object.values(files)) writeFileSync(join(dir, 'blobs', sha(b)), b);
    writeFileSync(
      join(dir, 'manifest.json'),
      JSON.stringify({
        formatVersion: 1,
        modelVersion: 'm-llm',
        createdAt: '2026-12-04T00:00:00.000Z',
        models: {},
        shards: [],
        metadata: [],
        llm: {
          engine: 'webllm',
          id: 'Tiny-MLC',
          contextSize: 1024,
          needs: { memoryMB: 64 },
          files: [
            ref('config', 'mlc-chat-config.json', files.config),
            ref('tokenizer', 'tokenizer.json', files.tokenizer),
            ref('tensor-cache', 'tensor-cache.json', files.tensors),
            ref('weights', 'params_shard_0.bin', files.shard),
            ref('model-lib', 'tiny.wasm', files.lib),
          ],
        },
        federated: null,
        signature: null,
      }),
    );
    await publishExport(
      dir,
      openPublicationStore(`file:${join(root, 'store')}`),
      await newSigningKey(),
    );
    app = createServer({ store: `file:${join(root, 'store')}` });
  });
  afterAll(async () => {
    await app.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('serves each file by the name web-llm asks for, as its blob', async () => {
    for (const [name, b] of [
      ['mlc-chat-config.json', files.config],
      ['tokenizer.json', files.tokenizer],
      ['tensor-cache.json', files.tensors],
      ['params_shard_0.bin', files.shard],
    ] as const) {
      const res = await app.inject({ method: 'GET', url: `${base}/${name}` });
      expect(res.statusCode, name).toBe(200);
      expect(new Uint8Array(res.rawPayload)).toEqual(b);
      expect(res.headers['etag']).toBe(`"${sha(b)}"`);
      expect(res.headers['cache-control']).toMatch(/immutable/);
    }
    const again = await app.inject({
      method: 'GET',
      url: `${base}/params_shard_0.bin`,
      headers: { 'if-none-match': `"${sha(files.shard)}"` },
    });
    expect(again.statusCode).toBe(304);
    const lib = await app.inject({ method: 'GET', url: `/v1/blobs/${sha(files.lib)}` });
    expect(new Uint8Array(lib.rawPayload)).toEqual(files.lib);
  });

  it('refuses a stale model folder, an unknown name, the library by name and a bad folder', async () => {
    const get = (url: string) => app.inject({ method: 'GET', url });
    let res = await get(`/v1/llm/${'0'.repeat(64)}/resolve/main/tokenizer.json`);
    expect(res.statusCode).toBe(404);
    expect(res.json().error.message).toMatch(/ships no web-llm model 000000000000…/);
    res = await get(`${base}/params_shard_9.bin`);
    expect(res.statusCode).toBe(404);
    expect(res.json().error.message).toMatch(/has no file "params_shard_9\.bin"/);
    expect((await get(`${base}/tiny.wasm`)).statusCode).toBe(404);
    expect((await get(`${base}/..%2Fmanifest.json`)).statusCode).toBe(404);
    res = await get('/v1/llm/latest/resolve/main/tokenizer.json');
    expect(res.statusCode).toBe(400);
    expect(res.json().error.message).toMatch(/named by its config sha256/);
  });
});

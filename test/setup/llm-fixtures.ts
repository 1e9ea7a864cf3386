/**
 * globalSetup of the `browser` vitest project for the on-device LLM tests (runs in Node before
 * the browser starts): writes the tiny llama GGUF (models/llm/tiny-llama.ts) with a chat
 * template and F32 weights and without one in F16, a truncated copy and a file that is not
 * GGUF, and a fake web-llm model folder (a chat config and a model library) — and serves them
 * over HTTP on 127.0.0.1 with CORS,
 * recording each path requested (`GET /log`), so the tests see what web-llm's own loading code
 * fetched.
 *
 * And the model as a site ships it (issue #15 item 2): the chat GGUF named in an owner's LLM
 * config, attached to an export by the CLI's own code (src/cli/llm-config.ts, what
 * `localrec publish --llm` runs), published signed into a store and served by the real sync
 * server (`manifest.good`); `manifest.bad` serves the same signed manifest from a store whose
 * GGUF blob was corrupted on disk after publishing.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { buildTinyLlama } from '../../models/llm/tiny-llama.ts';
import { attachLlmToExport } from '../../src/cli/llm-config.ts';
import { createServer as createSyncServer, listen } from '../../src/server/app.ts';
import { newSigningKey } from '../../src/server/keys.ts';
import { publishExport } from '../../src/server/publish.ts';
import { openPublicationStore } from '../../src/server/store/registry.ts';

/** What the LLM tests receive. */
export interface LlmFixture {
  /** `http://127.0.0.1:<port>`; `GET {url}/log` lists the paths requested so far. */
  url: string;
  /** Paths of the GGUF files, and their byte sizes. */
  gguf: { chat: string; raw: string; truncated: string; notGguf: string; bytes: number };
  /** The fake web-llm model: its folder (without `/resolve/main/`) and files' SHA-256. */
  webllm: { baseUrl: string; modelLibUrl: string; configSha256: string; modelLibSha256: string };
  /** Sync servers (`http://127.0.0.1:<port>`) whose signed manifest ships the chat GGUF. */
  manifest: { good: string; bad: string; publicKey: string; ggufSha256: string };
}

declare module 'vitest' {
  export interface ProvidedContext {
    llmFixture: LlmFixture;
  }
}

const sha256 = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex');

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const chat = buildTinyLlama();
  // No chat template, and F16 matrices: the raw-prompt path and the writer's half floats.
  const raw = buildTinyLlama({ chatTemplate: null, type: 'F16' });
  const config = JSON.stringify({
    model_type: 'llama',
    vocab_size: 359,
    context_window_size: 1024,
    tokenizer_files: ['tokenizer.json'],
    conv_template: { name: 'chatml' },
  });
  // Bytes that are not a model library: web-llm reaches them only after its integrity checks.
  const modelLib = new TextEncoder().encode('\0asm not really a model library');
  const files = new Map<string, { body: Uint8Array | string; type: string }>([
    ['/tiny-llama.gguf', { body: chat, type: 'application/octet-stream' }],
    ['/tiny-llama-raw.gguf', { body: raw, type: 'application/octet-stream' }],
    [
      '/truncated.gguf',
      { body: chat.slice(0, chat.length - 4096), type: 'application/octet-stream' },
    ],
    ['/not-gguf.gguf', { body: '<!doctype html><title>Not found</title>', type: 'text/html' }],
    ['/webllm/tiny/resolve/main/mlc-chat-config.json', { body: config, type: 'application/json' }],
    ['/webllm/tiny/resolve/main/tokenizer.json', { body: '{}', type: 'application/json' }],
    ['/webllm/lib/tiny.wasm', { body: modelLib, type: 'application/wasm' }],
  ]);
  const log: string[] = [];
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    res.setHeader('Access-Control-Allow-Origin', '*');
    if (path === '/log') {
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify(log));
      return;
    }
    log.push(path);
    const f = files.get(path);
    if (!f) {
      res.statusCode = 404;
      res.end('not found');
      return;
    }
    res.setHeader('Content-Type', f.type);
    res.setHeader('Content-Length', String(Buffer.byteLength(f.body)));
    res.end(f.body);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const published = await publishTinyLlama(chat);
  project.provide('llmFixture', {
    url,
    gguf: {
      chat: '/tiny-llama.gguf',
      raw: '/tiny-llama-raw.gguf',
      truncated: '/truncated.gguf',
      notGguf: '/not-gguf.gguf',
      bytes: chat.length,
    },
    webllm: {
      baseUrl: `${url}/webllm/tiny`,
      modelLibUrl: `${url}/webllm/lib/tiny.wasm`,
      configSha256: sha256(config),
      modelLibSha256: sha256(modelLib),
    },
    manifest: published.fixture,
  });
  return async () => {
    await published.close();
    await new Promise<void>((ok) => server.close(() => ok()));
  };
}

/** The chat GGUF through the owner's config, an export, a signed publication and the sync server. */
async function publishTinyLlama(gguf: Uint8Array) {
  const root = mkdtempSync(join(tmpdir(), 'localrec-llm-fixture-'));
  writeFileSync(join(root, 'tiny-llama.gguf'), gguf);
  writeFileSync(
    join(root, 'llm.json'),
    JSON.stringify({
      engine: 'wllama',
      id: 'localrec-tiny-llama',
      contextSize: 2048,
      needs: { memoryMB: 16 },
      files: [{ role: 'weights', path: 'tiny-llama.gguf', bytes: gguf.length }],
    }),
  );
  // An export without a recommender model: the LLM's path is what these tests exercise.
  const exportDir = join(root, 'export');
  mkdirSync(exportDir);
  writeFileSync(
    join(exportDir, 'manifest.json'),
    JSON.stringify({
      formatVersion: 1,
      modelVersion: 'llm-fixture',
      createdAt: new Date().toISOString(),
      models: {},
      shards: [],
      metadata: [],
      llm: null,
      federated: null,
      signature: null,
    }),
  );
  const llm = attachLlmToExport(exportDir, join(root, 'llm.json'));
  const ggufSha256 = llm.files[0]!.sha256;
  const key = await newSigningKey();
  const good = join(root, 'store-good');
  const bad = join(root, 'store-bad');
  for (const dir of [good, bad])
    await publishExport(exportDir, openPublicationStore(`file:${dir}`), key);
  const onDisk = join(bad, 'blobs', ggufSha256);
  const corrupt = readFileSync(onDisk);
  corrupt[corrupt.length >> 1]! ^= 0xff;
  writeFileSync(onDisk, corrupt);
  const apps = [good, bad].map((dir) =>
    createSyncServer({ store: `file:${dir}`, corsOrigins: ['*'] }),
  );
  const [goodUrl, badUrl] = await Promise.all(
    apps.map(async (app) =>
      (await listen(app, { host: '127.0.0.1', port: 0, log: () => {} })).replace(/\/$/, ''),
    ),
  );
  return {
    fixture: { good: goodUrl!, bad: badUrl!, publicKey: key.publicKey, ggufSha256 },
    close: async () => {
      await Promise.all(apps.map((a) => a.close()));
      rmSync(root, { recursive: true, force: true });
    },
  };
}

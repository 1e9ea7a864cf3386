/**
 * globalSetup of the `browser` vitest project for the on-device LLM tests (runs in Node before
 * the browser starts): writes the tiny llama GGUF (models/llm/tiny-llama.ts) with a chat
 * template and F32 weights and without one in F16, a truncated copy and a file that is not
 * GGUF, and a fake web-llm model folder (a chat config and a model library) — and serves them
 * over HTTP on 127.0.0.1 with CORS,
 * recording each path requested (`GET /log`), so the tests see what web-llm's own loading code
 * fetched. (A later step serves the model through the signed manifest; this is a plain route.)
 */
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestProject } from 'vitest/node';
import { buildTinyLlama } from '../../models/llm/tiny-llama.ts';

/** What the LLM tests receive. */
export interface LlmFixture {
  /** `http://127.0.0.1:<port>`; `GET {url}/log` lists the paths requested so far. */
  url: string;
  /** Paths of the GGUF files, and their byte sizes. */
  gguf: { chat: string; raw: string; truncated: string; notGguf: string; bytes: number };
  /** The fake web-llm model: its folder (without `/resolve/main/`) and files' SHA-256. */
  webllm: { baseUrl: string; modelLibUrl: string; configSha256: string; modelLibSha256: string };
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
  });
  return () => new Promise<void>((ok) => server.close(() => ok()));
}

/**
 * The LLM engines' wiring, in Node: web-llm's AppConfig from an owner-hosted model (the
 * `/resolve/main/` rule, absolute URLs, SRI integrity that web-llm's own `verifyIntegrity`
 * accepts), the web-llm engine against a scripted MLC engine (progress, response_format,
 * streaming, cancellation, error codes), and the llm worker's host and client against
 * scripted engines (choice by capability, cancel by id, one model at a time). wllama itself
 * runs in Chromium only (test/browser/llm.test.ts): it needs a Web Worker and Blob URLs.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import {
  IntegrityError,
  isValidSRI,
  verifyIntegrity,
  type ChatCompletionChunk,
} from '@mlc-ai/web-llm';
import type {
  LlmEngine,
  LlmGenerateRequest,
  LlmLoadOptions,
  LlmModel,
  WebLlmModel,
  WllamaModel,
} from '../../src/client/llm/api.ts';
import type { LlmDevice } from '../../src/client/llm/capability.ts';
import { createLlmHost } from '../../src/client/llm/host.ts';
import {
  buildWebLlmAppConfig,
  sriFromHex,
  webLlmFileUrl,
  webLlmModelUrl,
} from '../../src/client/llm/webllm-config.ts';
import { WebLlmEngine, type MlcEngineLike } from '../../src/client/llm/webllm-engine.ts';
import { llmClient } from '../../src/client/llm/worker-client.ts';
import { refusalOf } from '../setup/refusal.ts';

const hex = (b: string | Uint8Array) => createHash('sha256').update(b).digest('hex');

const mlc = (over: Partial<WebLlmModel> = {}): WebLlmModel => ({
  engine: 'webllm',
  id: 'Qwen2.5-0.5B-Instruct-q4f16_1-MLC',
  baseUrl: 'https://recs.example/v1/llm/qwen',
  modelLibUrl: 'https://recs.example/v1/blobs/abcd.wasm',
  contextSize: 2048,
  needs: { memoryMB: 950, shaderF16: true, maxStorageBufferBindingBytes: 2 ** 27 },
  ...over,
});

describe('web-llm appConfig', () => {
  it('keeps web-llm’s /resolve/main/ rule in the model URL, so web-llm uses it unchanged', () => {
    expect(webLlmModelUrl('https://recs.example/v1/llm/qwen')).toBe(
      'https://recs.example/v1/llm/qwen/resolve/main/',
    );
    expect(webLlmModelUrl('https://recs.example/v1/llm/qwen/')).toBe(
      'https://recs.example/v1/llm/qwen/resolve/main/',
    );
    expect(webLlmModelUrl('https://recs.example/m/resolve/v2/')).toBe(
      'https://recs.example/m/resolve/v2/',
    );
    expect(webLlmFileUrl(mlc(), 'mlc-chat-config.json')).toBe(
      'https://recs.example/v1/llm/qwen/resolve/main/mlc-chat-config.json',
    );
  });

  it('builds one record from absolute URLs with the model’s stated needs', () => {
    const config = buildWebLlmAppConfig(mlc());
    expect(config).toEqual({
      model_list: [
        {
          model: 'https://recs.example/v1/llm/qwen/resolve/main/',
          model_id: 'Qwen2.5-0.5B-Instruct-q4f16_1-MLC',
          model_lib: 'https://recs.example/v1/blobs/abcd.wasm',
          overrides: { context_window_size: 2048 },
          vram_required_MB: 950,
          required_features: ['shader-f16'],
          buffer_size_required_bytes: 2 ** 27,
        },
      ],
      cacheBackend: 'cache',
    });
    expect(JSON.stringify(config)).not.toMatch(/huggingface|githubusercontent/);
  });

  it('writes SHA-256 as SRI that web-llm’s own verifyIntegrity checks', async () => {
    const bytes = new TextEncoder().encode('{"model_type":"qwen2"}');
    const config = buildWebLlmAppConfig(
      mlc({
        sha256: {
          config: hex(bytes),
          modelLib: hex('lib'),
          tokenizer: { 'tokenizer.json': hex('t') },
        },
      }),
    );
    const integrity = config.model_list[0]!.integrity!;
    expect(integrity.onFailure).toBe('error');
    expect(isValidSRI(integrity.config!)).toBe(true);
    expect(integrity.tokenizer).toEqual({ 'tokenizer.json': sriFromHex(hex('t')) });
    await expect(verifyIntegrity(bytes.buffer, integrity.config!, 'cfg')).resolves.toBeUndefined();
    const other = new TextEncoder().encode('{"model_type":"llama"}');
    await expect(verifyIntegrity(other.buffer, integrity.config!, 'cfg')).rejects.toBeInstanceOf(
      IntegrityError,
    );
  });

  it('refuses relative or non-http URLs and malformed hashes', async () => {
    expect(
      (await refusalOf(() => buildWebLlmAppConfig(mlc({ baseUrl: '/v1/llm/qwen' })))).message,
    ).toBe('the web-llm model URL must be an absolute URL, got "/v1/llm/qwen"');
    expect(
      (await refusalOf(() => buildWebLlmAppConfig(mlc({ modelLibUrl: 'file:///lib.wasm' }))))
        .message,
    ).toBe('the web-llm model library URL must be an http(s) URL, got file:');
    expect(
      (await refusalOf(() => buildWebLlmAppConfig(mlc({ sha256: { config: 'xyz' } })))).code,
    ).toBe('bad-input');
  });
});

/** A scripted MLC engine: records calls, streams the given pieces, honours interruptGenerate. */
function scriptedMlc(pieces: string[], opts: { reloadError?: Error; slowReload?: boolean } = {}) {
  const calls: {
    reload: string[];
    create: Record<string, unknown>[];
    interrupts: number;
    unloads: number;
  } = {
    reload: [],
    create: [],
    interrupts: 0,
    unloads: 0,
  };
  let interrupted = false;
  let releaseReload: (() => void) | undefined;
  const engine: MlcEngineLike = {
    async reload(id) {
      calls.reload.push(id);
      if (opts.reloadError) throw opts.reloadError;
      if (opts.slowReload) await new Promise<void>((ok) => (releaseReload = ok));
    },
    chat: {
      completions: {
        async create(request) {
          calls.create.push(request);
          interrupted = false;
          return (async function* (): AsyncGenerator<ChatCompletionChunk> {
            for (const [i, p] of pieces.entries()) {
              await new Promise((ok) => setTimeout(ok, 1));
              if (interrupted) return;
              const last = i === pieces.length - 1;
              yield {
                id: 'x',
                object: 'chat.completion.chunk',
                created: 0,
                model: 'm',
                choices: [
                  { index: 0, delta: { content: p }, finish_reason: last ? 'length' : null },
                ],
                ...(last
                  ? {
                      usage: {
                        completion_tokens: 42,
                        prompt_tokens: 1,
                        total_tokens: 43,
                        extra: { decode_tokens_per_s: 31.5 },
                      },
                    }
                  : {}),
              } as ChatCompletionChunk;
            }
          })();
        },
      },
    },
    interruptGenerate() {
      calls.interrupts++;
      interrupted = true;
    },
    async unload() {
      calls.unloads++;
      releaseReload?.();
    },
  };
  return { engine, calls };
}

describe('WebLlmEngine on a scripted MLC engine', () => {
  it('loads through the appConfig and maps web-llm’s progress', async () => {
    const { engine, calls } = scriptedMlc([]);
    let config: unknown;
    const e = new WebLlmEngine(async (c) => {
      config = c.appConfig;
      c.initProgressCallback({ progress: 0.5, timeElapsed: 1, text: 'Fetching param cache[3/6]' });
      c.initProgressCallback({ progress: 1, timeElapsed: 2, text: 'Finish loading' });
      return engine;
    });
    const progress: unknown[] = [];
    const loaded = await e.load(mlc(), { onProgress: (p) => void progress.push(p) });
    expect(loaded).toMatchObject({ engine: 'webllm', device: 'webgpu', modelId: mlc().id });
    expect(config).toEqual(buildWebLlmAppConfig(mlc()));
    expect(calls.reload).toEqual([mlc().id]);
    expect(progress).toEqual([
      { phase: 'download', progress: 0.5, text: 'Fetching param cache[3/6]' },
      { phase: 'init', progress: 1, text: 'Finish loading' },
    ]);
  });

  it('constrains by the schema, or by the grammar without one, and streams', async () => {
    const { engine, calls } = scriptedMlc(['{"rea', 'son":"x",', '"evidence":["a"]}']);
    const e = new WebLlmEngine(async () => engine);
    await e.load(mlc());
    const tokens: string[] = [];
    const g = await e.generate({
      system: 'sys',
      user: 'why?',
      constraint: { gbnf: 'root ::= "x"', jsonSchema: { type: 'object' } },
      maxTokens: 64,
      seed: 3,
      onToken: (t) => void tokens.push(t),
    });
    expect(g).toMatchObject({
      text: '{"reason":"x","evidence":["a"]}',
      tokens: 42,
      finish: 'length',
      decodeTokensPerSecond: 31.5,
    });
    expect(tokens).toHaveLength(3);
    expect(calls.create[0]).toMatchObject({
      messages: [
        { role: 'system', content: 'sys' },
        { role: 'user', content: 'why?' },
      ],
      stream: true,
      max_tokens: 64,
      seed: 3,
      temperature: 0.7,
      response_format: { type: 'json_object', schema: '{"type":"object"}' },
    });
    await e.generate({ user: 'u', constraint: { gbnf: 'root ::= "x"' }, maxTokens: 4 });
    expect(calls.create[1]).toMatchObject({
      response_format: { type: 'grammar', grammar: 'root ::= "x"' },
    });
  });

  it('interrupts a generation on abort and rejects with AbortError', async () => {
    const { engine, calls } = scriptedMlc(Array.from({ length: 500 }, () => 'x'));
    const e = new WebLlmEngine(async () => engine);
    await e.load(mlc());
    const ac = new AbortController();
    let n = 0;
    const run = e.generate({
      user: 'u',
      maxTokens: 500,
      signal: ac.signal,
      onToken: () => ++n === 3 && ac.abort(),
    });
    await expect(run).rejects.toMatchObject({ name: 'AbortError' });
    expect(calls.interrupts).toBe(1);
    expect(n).toBeLessThan(10);
  });

  it('aborts a load by unloading web-llm (which stops its reload)', async () => {
    const { engine, calls } = scriptedMlc([], { slowReload: true });
    const e = new WebLlmEngine(async () => engine);
    const ac = new AbortController();
    const run = e.load(mlc(), { signal: ac.signal });
    await new Promise((ok) => setTimeout(ok, 5));
    ac.abort();
    await expect(run).rejects.toMatchObject({ name: 'AbortError' });
    expect(calls.unloads).toBeGreaterThan(0);
    expect((await refusalOf(e.generate({ user: 'u', maxTokens: 1 }))).code).toBe('not-loaded');
  });

  it('turns web-llm’s errors into codes', async () => {
    const integrity = Object.assign(new Error('hash mismatch for mlc-chat-config.json'), {
      name: 'IntegrityError',
    });
    const gpuless = Object.assign(new Error('WebGPU is not available'), {
      name: 'WebGPUNotAvailableError',
    });
    for (const [err, code] of [
      [integrity, 'integrity'],
      [gpuless, 'device-unavailable'],
      [new Error('boom'), 'internal'],
    ] as const) {
      const e = new WebLlmEngine(async () => scriptedMlc([], { reloadError: err }).engine);
      const r = await refusalOf(e.load(mlc()));
      expect(r.code).toBe(code);
      expect(r.message).toContain(
        `the WebGPU LLM engine failed to load ${mlc().id}: ${err.message}`,
      );
    }
    const gguf: WllamaModel = {
      engine: 'wllama',
      id: 'g',
      gguf: { url: 'x' },
      contextSize: 1,
      needs: { memoryMB: 1 },
    };
    expect(
      (await refusalOf(new WebLlmEngine(async () => scriptedMlc([]).engine).load(gguf))).code,
    ).toBe('bad-input');
  });
});

/** A scripted engine of either kind: each generation streams `n` pieces unless aborted. */
function fakeEngine(kind: 'wllama' | 'webllm', log: string[]): LlmEngine {
  let model: string | null = null;
  return {
    kind,
    async load(m: LlmModel, o?: LlmLoadOptions) {
      log.push(`${kind}.load ${m.id}`);
      o?.onProgress?.({ phase: 'init', progress: 1, text: 'ready' });
      model = m.id;
      return {
        engine: kind,
        modelId: m.id,
        device: kind === 'wllama' ? 'wasm' : 'webgpu',
        threads: 1,
        bytes: 1,
        loadMs: 0,
      };
    },
    async generate(r: LlmGenerateRequest) {
      if (!model) throw new Error('not loaded');
      let text = '';
      for (let i = 0; i < 200; i++) {
        await new Promise((ok) => setTimeout(ok, 1));
        if (r.signal?.aborted) throw r.signal.reason;
        text += 'x';
        r.onToken?.('x');
        if (text.length === r.maxTokens) break;
      }
      return { text, tokens: text.length, finish: 'stop', ttftMs: 0, totalMs: 0 };
    },
    async unload() {
      log.push(`${kind}.unload ${model}`);
      model = null;
    },
  };
}

const dev: LlmDevice = {
  webgpu: null,
  wasm: { simd: true, exceptions: true, jspi: true, memory64: true, threads: false },
  hardwareConcurrency: 4,
  saveData: false,
};
const gguf = (id: string): WllamaModel => ({
  engine: 'wllama',
  id,
  gguf: { url: 'x' },
  contextSize: 64,
  needs: { memoryMB: 1 },
});

describe('the llm host and its client', () => {
  const setup = () => {
    const log: string[] = [];
    const host = createLlmHost({
      wllamaAssets: { default: 'wllama.wasm' },
      probe: async () => dev,
      engines: { wllama: () => fakeEngine('wllama', log), webllm: () => fakeEngine('webllm', log) },
    });
    let crash: (e: Error) => void = () => undefined;
    const failed = new Promise<never>((_, reject) => (crash = reject));
    failed.catch(() => undefined);
    return { log, host, client: llmClient(host, failed, () => undefined), crash };
  };

  it('loads the model whose engine fits, one at a time', async () => {
    const { log, client } = setup();
    await expect(
      client.load({ choice: 'auto', models: [mlc(), gguf('a')] }),
    ).resolves.toMatchObject({
      engine: 'wllama',
      modelId: 'a',
    });
    await client.load({ choice: 'wasm', models: [gguf('b')] });
    expect(log).toEqual(['wllama.load a', 'wllama.unload a', 'wllama.load b']);
    expect(await refusalOf(client.load({ choice: 'webgpu', models: [mlc()] }))).toEqual({
      code: 'llm-unavailable',
      message:
        'no LLM engine fits this device (webgpu: there is no WebGPU adapter); answers use the templates',
    });
  });

  it('turns the caller’s abort into cancel(id) for that call only', async () => {
    const { client } = setup();
    await client.load({ choice: 'wasm', models: [gguf('a')] });
    const ac = new AbortController();
    let n = 0;
    const stopped = client.generate({
      user: 'u',
      maxTokens: 150,
      signal: ac.signal,
      onToken: () => ++n === 5 && ac.abort(),
    });
    const other = client.generate({ user: 'v', maxTokens: 20 });
    await expect(stopped).rejects.toMatchObject({ name: 'AbortError' });
    expect(n).toBeLessThan(20);
    await expect(other).resolves.toMatchObject({ text: 'x'.repeat(20) });
  });

  it('refuses to generate with nothing loaded, and rejects calls when the worker crashes', async () => {
    const { client, crash } = setup();
    expect((await refusalOf(client.generate({ user: 'u', maxTokens: 3 }))).code).toBe('not-loaded');
    await client.load({ choice: 'wasm', models: [gguf('a')] });
    const run = client.generate({ user: 'u', maxTokens: 150 });
    crash(new Error('the llm worker failed: out of memory'));
    await expect(run).rejects.toThrow('the llm worker failed: out of memory');
  });

  it('resolves a call only once every token and progress callback has returned', async () => {
    // As across comlink, where a callback's calls travel on their own port: each takes a while.
    const { host } = setup();
    const progress: number[] = [];
    await host.load(1, { choice: 'wasm', models: [gguf('a')] }, async () => {
      await new Promise((ok) => setTimeout(ok, 5));
      progress.push(1);
    });
    expect(progress).toEqual([1]);
    const seen: string[] = [];
    const slow = (t: string) =>
      new Promise<void>((ok) => setTimeout(() => ok(void seen.push(t)), 5));
    const g = await host.generate(2, { user: 'u', maxTokens: 12 }, slow);
    expect(seen.join('')).toBe(g.text);
    expect(g.text).toHaveLength(12);
  });

  it('probes the device once', async () => {
    const probe = vi.fn(async () => dev);
    const host = createLlmHost({
      wllamaAssets: { default: 'w' },
      probe,
      engines: { wllama: () => fakeEngine('wllama', []) },
    });
    await host.probe();
    await host.load(1, { choice: 'wasm', models: [gguf('a')] });
    expect(probe).toHaveBeenCalledTimes(1);
  });
});

describe('the engines load on demand', () => {
  it('no module imports wllama or web-llm statically, only their types', async () => {
    const { readdirSync, readFileSync, statSync } = await import('node:fs');
    const { join, relative, resolve } = await import('node:path');
    const root = resolve(import.meta.dirname, '..', '..');
    const walk = (dir: string): string[] =>
      readdirSync(dir).flatMap((n) => {
        const p = join(dir, n);
        return statSync(p).isDirectory() ? walk(p) : /\.(ts|js|mjs)$/.test(n) ? [p] : [];
      });
    const files = [...walk(join(root, 'src')), ...walk(join(root, 'workers'))];
    const statics: string[] = [];
    const dynamics: string[] = [];
    for (const f of files) {
      const text = readFileSync(f, 'utf8');
      for (const m of text.matchAll(
        /^\s*import\s+(type\s+)?[^;]*?from\s+'(@wllama\/wllama|@mlc-ai\/web-llm)'/gm,
      ))
        if (!m[1]) statics.push(`${relative(root, f)}: ${m[2]}`);
      for (const m of text.matchAll(/import\(\s*'(@wllama\/wllama|@mlc-ai\/web-llm)'\s*\)/g))
        dynamics.push(`${relative(root, f)}: ${m[1]}`);
    }
    // The .wasm URL module is the one static import: `?url` gives a string, not wllama's code.
    expect(statics).toEqual([]);
    expect(dynamics.sort()).toEqual([
      'src/client/llm/webllm-engine.ts: @mlc-ai/web-llm',
      'src/client/llm/wllama-engine.ts: @wllama/wllama',
    ]);
  });
});

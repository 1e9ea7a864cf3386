/**
 * The wllama engine's wiring, in Node, with @wllama/wllama replaced by a recording fake (the
 * real llama.cpp runs in Chromium: test/browser/llm.test.ts): the .wasm it is given and never
 * the CDN compat build, CPU only with the thread count it was told, the GGUF checked before
 * wllama is even started, the chat or raw path by the model's template, and wllama's failures
 * as LocalrecError codes (a fault inside the WebAssembly unloads the model).
 */
import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { WllamaModel } from '../../src/client/llm/api.ts';
import { WllamaEngine } from '../../src/client/llm/wllama-engine.ts';
import { buildTinyLlama } from '../../models/llm/tiny-llama.ts';
import { refusalOf } from '../setup/refusal.ts';

const rec = vi.hoisted(() => ({
  constructed: [] as unknown[][],
  compat: [] as unknown[],
  loads: [] as unknown[],
  completions: [] as { chat: boolean; options: Record<string, unknown> }[],
  exits: 0,
  template: '{% chatml %}' as string | null,
  loadError: null as Error | null,
  generateError: null as Error | null,
}));

vi.mock('@wllama/wllama', () => {
  class Wllama {
    constructor(...args: unknown[]) {
      rec.constructed.push(args);
    }
    setCompat(c: unknown) {
      rec.compat.push(c);
    }
    async loadModel(blobs: Blob[], params: unknown) {
      rec.loads.push({ sizes: blobs.map((b) => b.size), params });
      if (rec.loadError) throw rec.loadError;
    }
    getChatTemplate() {
      return rec.template;
    }
    getNumThreads() {
      return 1;
    }
    async exit() {
      rec.exits++;
    }
    async createCompletion(o: Record<string, unknown>) {
      return this.complete(false, o);
    }
    async createChatCompletion(o: Record<string, unknown>) {
      return this.complete(true, o);
    }
    private complete(chat: boolean, o: Record<string, unknown>) {
      rec.completions.push({ chat, options: o });
      if (rec.generateError) throw rec.generateError;
      const onData = o['onData'] as (c: unknown) => void;
      for (const [i, t] of ['{"a"', ':1}'].entries())
        onData(
          chat
            ? { choices: [{ delta: { content: t }, finish_reason: i ? 'stop' : null }] }
            : { choices: [{ text: t, finish_reason: i ? 'stop' : null }] },
        );
      onData({
        choices: [],
        usage: { completion_tokens: 2 },
        timings: { predicted_per_second: 99 },
      });
    }
  }
  return { Wllama };
});

const gguf = buildTinyLlama();
const model = (blob: Blob = new Blob([gguf])): WllamaModel => ({
  engine: 'wllama',
  id: 'tiny',
  gguf: { blob },
  contextSize: 512,
  needs: { memoryMB: 8 },
});
const assets = { default: 'https://site.example/assets/wllama-abc123.wasm' };

beforeEach(() => {
  rec.constructed.length = rec.compat.length = rec.loads.length = rec.completions.length = 0;
  rec.exits = 0;
  rec.template = '{% chatml %}';
  rec.loadError = rec.generateError = null;
});

describe('WllamaEngine', () => {
  it('starts wllama on our .wasm, compat (CDN) build off, CPU only, with the given threads', async () => {
    const loaded = await new WllamaEngine({ assets, threads: 3 }).load(model());
    expect(rec.constructed[0]![0]).toEqual(assets);
    expect(rec.compat).toEqual([null]);
    expect(rec.loads).toEqual([
      {
        sizes: [gguf.length],
        params: { n_ctx: 512, n_threads: 3, n_gpu_layers: 0, n_parallel: 1 },
      },
    ]);
    expect(loaded).toMatchObject({
      engine: 'wllama',
      device: 'wasm',
      modelId: 'tiny',
      bytes: gguf.length,
    });
  });

  it('checks the GGUF before starting wllama', async () => {
    const r = await refusalOf(
      new WllamaEngine({ assets, threads: 1 }).load(model(new Blob([gguf.slice(0, 5000)]))),
    );
    expect(r.code).toBe('bad-format');
    expect(rec.constructed).toHaveLength(0);
  });

  it('uses the chat API with a template, the raw prompt without, with the grammar', async () => {
    const e = new WllamaEngine({ assets, threads: 1 });
    await e.load(model());
    const tokens: string[] = [];
    const g = await e.generate({
      system: 'S',
      user: 'U',
      constraint: { gbnf: 'root ::= "x"' },
      maxTokens: 9,
      seed: 4,
      onToken: (t) => void tokens.push(t),
    });
    expect(g).toMatchObject({
      text: '{"a":1}',
      tokens: 2,
      finish: 'stop',
      decodeTokensPerSecond: 99,
    });
    expect(tokens).toEqual(['{"a"', ':1}']);
    expect(rec.completions[0]).toMatchObject({
      chat: true,
      options: {
        messages: [
          { role: 'system', content: 'S' },
          { role: 'user', content: 'U' },
        ],
        grammar: 'root ::= "x"',
        max_tokens: 9,
        seed: 4,
        temperature: 0.7,
        stream: true,
      },
    });
    await e.unload();
    rec.template = null;
    await e.load(model());
    await e.generate({ system: 'S', user: 'U', maxTokens: 3 });
    expect(rec.completions[1]).toMatchObject({ chat: false, options: { prompt: 'S\n\nU' } });
    expect(rec.completions[1]!.options).not.toHaveProperty('grammar');
  });

  it('maps wllama’s failures to codes, and unloads after a fault in the WebAssembly', async () => {
    rec.loadError = Object.assign(new Error('failed to load model'), { type: 'load_error' });
    const e = new WllamaEngine({ assets, threads: 1 });
    expect(await refusalOf(e.load(model()))).toEqual({
      code: 'bad-format',
      message: 'the wasm LLM engine failed to load tiny: failed to load model',
    });
    expect(rec.exits).toBe(1);
    rec.loadError = null;
    await e.load(model());
    rec.generateError = Object.assign(new Error('memory access out of bounds'), {
      name: 'RuntimeError',
    });
    expect((await refusalOf(e.generate({ user: 'u', maxTokens: 2 }))).code).toBe('internal');
    expect(rec.exits).toBe(2);
    expect((await refusalOf(e.generate({ user: 'u', maxTokens: 2 }))).code).toBe('not-loaded');
  });

  it('refuses a second load and a model of the other engine', async () => {
    const e = new WllamaEngine({ assets, threads: 1 });
    await e.load(model());
    expect((await refusalOf(e.load(model()))).message).toBe('a model is loaded: unload() it first');
    const mlc = {
      engine: 'webllm' as const,
      id: 'm',
      baseUrl: 'https://x/',
      modelLibUrl: 'https://x/l.wasm',
      contextSize: 1,
      needs: { memoryMB: 1 },
    };
    expect((await refusalOf(new WllamaEngine({ assets, threads: 1 }).load(mlc))).code).toBe(
      'bad-input',
    );
  });
});

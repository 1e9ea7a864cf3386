/**
 * The on-device LLM in real Chromium (issue #15): the llm worker (workers/llm.worker.ts) loads
 * the tiny llama GGUF the project writes itself (models/llm/tiny-llama.ts, random weights,
 * served by test/setup/llm-fixtures.ts) with the wllama engine — llama.cpp in WebAssembly,
 * single-threaded since this page is not cross-origin isolated — and generates under the
 * grounded grammar: every answer parses and cites only the given ids, however random the
 * weights. Cancellation stops a generation mid-way and leaves the engine usable; bad files are
 * refused by name; no engine for a choice is `llm-unavailable`. web-llm cannot run here (no
 * model, and SwiftShader is a software adapter), but its own loading code is run against the
 * appConfig we build: it fetches from the `/resolve/main/` folder and checks our integrity.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { LlmGeneration, WllamaModel } from '../../src/client/llm/api.ts';
import { groundedSpec, parseGrounded } from '../../src/client/llm/grounded.ts';
import { WebLlmEngine } from '../../src/client/llm/webllm-engine.ts';
import { startLlmWorker, type LlmWorker } from '../../src/client/llm/worker-client.ts';
import { refusalOf } from '../setup/refusal.ts';

const fx = inject('llmFixture');

const model = (path: string, over: Partial<WllamaModel> = {}): WllamaModel => ({
  engine: 'wllama',
  id: 'localrec-tiny-llama',
  gguf: { url: `${fx.url}${path}` },
  contextSize: 2048,
  needs: { memoryMB: 16 },
  ...over,
});

const IDS = ['m12', 'tt0114709', 'item "7"', 'x/9'];
const PROMPT = {
  system: 'Explain the recommendation from the evidence. Answer in JSON.',
  user: `Candidate: Toy Story (1995). Evidence ids: ${IDS.join(', ')}.`,
};

describe('the wllama engine in the llm worker', () => {
  let llm: LlmWorker;
  beforeAll(() => {
    llm = startLlmWorker();
  });
  afterAll(() => llm.terminate());

  it('loads the tiny GGUF single-threaded on WASM, reporting progress', async () => {
    expect(crossOriginIsolated).toBe(false);
    const progress: { phase: string; progress: number; loadedBytes?: number }[] = [];
    const loaded = await llm.load(
      { choice: 'auto', models: [model(fx.gguf.chat)] },
      { onProgress: (p) => void progress.push(p) },
    );
    console.log(`[llm] tiny GGUF ${fx.gguf.bytes} bytes loaded in ${loaded.loadMs.toFixed(0)} ms`);
    // auto: SwiftShader is a software adapter and no web-llm model is offered, so wasm.
    expect(loaded).toMatchObject({
      engine: 'wllama',
      device: 'wasm',
      threads: 1,
      bytes: fx.gguf.bytes,
    });
    const downloads = progress.filter((p) => p.phase === 'download');
    expect(downloads.length).toBeGreaterThan(0);
    expect(downloads.at(-1)!.loadedBytes).toBe(fx.gguf.bytes);
    expect(progress.at(-1)).toMatchObject({ phase: 'init', progress: 1 });
    const fractions = progress.map((p) => p.progress);
    expect(fractions).toEqual([...fractions].sort((a, b) => a - b));
  });

  it('writes grounded JSON under the grammar: it parses and cites only given ids', async () => {
    const spec = groundedSpec({ ids: IDS, maxReasonChars: 120 });
    const runs: LlmGeneration[] = [];
    for (const seed of [1, 2, 3, 4, 5]) {
      const pieces: string[] = [];
      const g = await llm.generate({
        ...PROMPT,
        constraint: { gbnf: spec.gbnf, jsonSchema: spec.schema },
        maxTokens: spec.maxTokens,
        temperature: 1,
        seed,
        onToken: (t) => void pieces.push(t),
      });
      runs.push(g);
      expect(g.finish).toBe('stop');
      expect(g.decodeTokensPerSecond).toBeGreaterThan(0);
      expect(pieces.join('')).toBe(g.text);
      const answer = parseGrounded(g.text, { ids: IDS, maxReasonChars: 120 });
      expect(answer.evidence.length).toBeGreaterThan(0);
      for (const id of answer.evidence) expect(IDS).toContain(id);
    }
    // Random weights, yet different seeds sample different answers.
    expect(new Set(runs.map((r) => r.text)).size).toBeGreaterThan(1);
    const tokens = runs.reduce((a, r) => a + r.tokens, 0);
    const ms = runs.reduce((a, r) => a + (r.totalMs - r.ttftMs), 0);
    const decode = runs.map((r) => r.decodeTokensPerSecond!.toFixed(0)).join('/');
    console.log(
      `[llm] ${runs.length} grounded answers, ${tokens} tokens, ${((1000 * (tokens - runs.length)) / ms).toFixed(0)} tokens/s after the first (llama.cpp's decode ${decode}), ttft ${runs.map((r) => r.ttftMs.toFixed(0)).join('/')} ms; e.g. ${runs[0]!.text}`,
    );
  });

  it('stops a generation mid-way on abort, and generates again after', async () => {
    const spec = groundedSpec({ ids: IDS, maxReasonChars: 2000 });
    const ac = new AbortController();
    let seen = 0;
    const started = performance.now();
    const run = llm.generate({
      ...PROMPT,
      // Unconstrained random text until maxTokens: far longer than the abort lets it run.
      maxTokens: 1500,
      temperature: 1,
      seed: 7,
      onToken: () => {
        if (++seen === 5) ac.abort();
      },
      signal: ac.signal,
    });
    const err = await run.then(
      () => null,
      (e: unknown) => e,
    );
    expect((err as Error | null)?.name).toBe('AbortError');
    expect(seen).toBeGreaterThanOrEqual(5);
    expect(seen).toBeLessThan(200);
    console.log(
      `[llm] aborted after ${seen} tokens, ${(performance.now() - started).toFixed(0)} ms`,
    );
    // An already aborted signal never starts.
    await expect(
      llm.generate({ ...PROMPT, maxTokens: 4, signal: ac.signal }),
    ).rejects.toMatchObject({
      name: 'AbortError',
    });
    const g = await llm.generate({
      ...PROMPT,
      constraint: { gbnf: spec.gbnf },
      maxTokens: spec.maxTokens,
      seed: 8,
    });
    expect(
      parseGrounded(g.text, { ids: IDS, maxReasonChars: 2000 }).evidence.length,
    ).toBeGreaterThan(0);
  });

  it('prompts a model without a chat template as raw text, from bytes it is handed (F16)', async () => {
    const bytes = await (await fetch(`${fx.url}${fx.gguf.raw}`)).blob();
    const loaded = await llm.load({
      choice: 'wasm',
      models: [model('', { id: 'raw', gguf: { blob: bytes } })],
    });
    expect(loaded).toMatchObject({ engine: 'wllama', modelId: 'raw', bytes: bytes.size });
    // Half floats: the matrices take half the bytes.
    expect(bytes.size).toBeLessThan(0.6 * fx.gguf.bytes);
    const spec = groundedSpec({ ids: ['a', 'b'], maxReasonChars: 40, maxEvidence: 2 });
    const g = await llm.generate({
      user: 'Why a?',
      constraint: { gbnf: spec.gbnf },
      maxTokens: spec.maxTokens,
      seed: 3,
    });
    const answer = parseGrounded(g.text, { ids: ['a', 'b'], maxReasonChars: 40, maxEvidence: 2 });
    expect(['a', 'b']).toEqual(expect.arrayContaining(answer.evidence));
  });

  it('refuses a truncated GGUF, a file that is not GGUF and a missing one, by name', async () => {
    expect(
      await refusalOf(llm.load({ choice: 'wasm', models: [model(fx.gguf.truncated)] })),
    ).toEqual({
      code: 'bad-format',
      message: expect.stringMatching(
        /tensor "output.weight" ends at byte \d+, past the end of the \d+-byte file/,
      ),
    });
    expect(await refusalOf(llm.load({ choice: 'wasm', models: [model(fx.gguf.notGguf)] }))).toEqual(
      {
        code: 'bad-format',
        message: expect.stringMatching(/not a valid GGUF file: it starts with bytes 3c 21 64 6f/),
      },
    );
    expect(
      (await refusalOf(llm.load({ choice: 'wasm', models: [model('/missing.gguf')] }))).code,
    ).toBe('not-found');
    // A failed load leaves nothing loaded.
    expect((await refusalOf(llm.generate({ user: 'x', maxTokens: 2 }))).code).toBe('not-loaded');
  });

  it('stops a load on abort, leaving nothing loaded', async () => {
    const ac = new AbortController();
    const run = llm.load(
      { choice: 'wasm', models: [model(fx.gguf.chat)] },
      { signal: ac.signal, onProgress: () => ac.abort() },
    );
    await expect(run).rejects.toMatchObject({ name: 'AbortError' });
    expect((await refusalOf(llm.generate({ user: 'x', maxTokens: 2 }))).code).toBe('not-loaded');
  });

  it('reads SwiftShader as a software adapter, so auto passes over a web-llm model', async () => {
    const device = await llm.probe();
    expect(device.webgpu?.isFallbackAdapter).toBe(true);
    expect(device.wasm).toEqual({
      simd: true,
      exceptions: true,
      jspi: true,
      memory64: true,
      threads: false,
    });
    const webllm = {
      engine: 'webllm' as const,
      id: 'never-fetched',
      baseUrl: `${fx.url}/nothing`,
      modelLibUrl: `${fx.url}/nothing.wasm`,
      contextSize: 1024,
      needs: { memoryMB: 64 },
    };
    const loaded = await llm.load({ choice: 'auto', models: [webllm, model(fx.gguf.chat)] });
    expect(loaded).toMatchObject({ engine: 'wllama', device: 'wasm' });
  });

  it('answers llm-unavailable when no engine fits the choice, saying why', async () => {
    expect(await refusalOf(llm.load({ choice: 'off', models: [model(fx.gguf.chat)] }))).toEqual({
      code: 'llm-unavailable',
      message:
        "no LLM engine fits this device (the llm option is 'off'); answers use the templates",
    });
    expect(
      (await refusalOf(llm.load({ choice: 'webgpu', models: [model(fx.gguf.chat)] }))).message,
    ).toMatch(/webgpu: no webllm model is offered/);
  });
});

describe('web-llm’s own loading code on our appConfig', () => {
  const log = async () => (await (await fetch(`${fx.url}/log`)).json()) as string[];
  const webllm = (sha256: { config?: string; modelLib?: string }) => ({
    engine: 'webllm' as const,
    id: 'tiny-mlc',
    baseUrl: fx.webllm.baseUrl,
    modelLibUrl: fx.webllm.modelLibUrl,
    sha256,
    contextSize: 1024,
    needs: { memoryMB: 64 },
  });
  const wrong = 'ab'.repeat(32);

  beforeAll(async () => {
    for (const k of await caches.keys()) if (k.startsWith('webllm')) await caches.delete(k);
  });

  it('fetches the config from <baseUrl>/resolve/main/ and refuses it on a SHA-256 mismatch', async () => {
    const before = (await log()).length;
    const r = await refusalOf(new WebLlmEngine().load(webllm({ config: wrong })));
    expect(r.code).toBe('integrity');
    expect(r.message).toMatch(/mlc-chat-config\.json/);
    expect((await log()).slice(before)).toEqual(['/webllm/tiny/resolve/main/mlc-chat-config.json']);
  });

  it('passes the config and checks the model library against its SHA-256', async () => {
    const before = (await log()).length;
    const r = await refusalOf(
      new WebLlmEngine().load(webllm({ config: fx.webllm.configSha256, modelLib: wrong })),
    );
    expect(r.code).toBe('integrity');
    expect(r.message).toMatch(/tiny\.wasm/);
    // The config came from web-llm's cache this time; the library from the owner's server.
    expect((await log()).slice(before)).toEqual(['/webllm/lib/tiny.wasm']);
  });

  it('with both hashes right, gets past the checks to instantiating the library', async () => {
    const r = await refusalOf(
      new WebLlmEngine().load(
        webllm({ config: fx.webllm.configSha256, modelLib: fx.webllm.modelLibSha256 }),
      ),
    );
    // Our fake library is not WebAssembly: the failure is the runtime's, not an integrity one.
    expect(r.code).not.toBe('integrity');
    expect(r.message).toMatch(/WebGPU LLM engine failed to load tiny-mlc/);
  });
});

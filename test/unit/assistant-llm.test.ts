/**
 * The assistant's orchestration with the LLM (issue #15), in Node, over a scripted fake engine
 * behind the real `LlmEngine` interface — run by the real llm host and its client, as the llm
 * worker runs them — so every path is exercised without a model: the status and why (off by
 * option, no model, the device, not downloaded yet, loading, ready, a failed load), templates at
 * once before a load, a grounded explanation and its stream, abort, a timeout, malformed output,
 * evidence outside what was given and a title it was not given (each → the template), and ask's
 * and onboarding's constraints from the LLM or, when its answer is refused, the keyword parser.
 */
import { describe, expect, it } from 'vitest';
import type {
  LlmEngine,
  LlmGenerateRequest,
  LlmModel,
  WllamaModel,
} from '../../src/client/llm/api.ts';
import type { LlmDevice } from '../../src/client/llm/capability.ts';
import { createLlmHost } from '../../src/client/llm/host.ts';
import { llmClient, type LlmWorker } from '../../src/client/llm/worker-client.ts';
import {
  Assistant,
  reasonStreamer,
  type CatalogView,
} from '../../src/client/assistant/assistant.ts';
import { LlmSession, type LlmModelSource } from '../../src/client/assistant/llm-session.ts';
import { catalogFacets } from '../../src/client/language/facets.ts';
import { TitleIndex } from '../../src/client/language/grounding.ts';
import type { ExplainPromptInput } from '../../src/client/language/prompts.ts';
import type { Explanation } from '../../src/client/types.ts';

const ITEMS = [
  { id: 'a', title: 'Alien (1979)', categories: ['Horror', 'Sci-Fi'] },
  { id: 'b', title: 'Blade Runner (1982)', categories: ['Sci-Fi', 'Thriller'] },
  { id: 'c', title: 'Clueless (1995)', categories: ['Comedy', 'Romance'] },
  { id: 'h', title: 'Heat (1995)', categories: ['Action', 'Crime'] },
];
const VIEW: CatalogView = {
  facets: catalogFacets(ITEMS),
  titles: new TitleIndex(ITEMS.map((i) => i.title)),
};
const DEVICE: LlmDevice = {
  webgpu: null,
  wasm: { simd: true, exceptions: true, jspi: false, memory64: true, threads: false },
  hardwareConcurrency: 2,
  saveData: false,
};
const MODEL: WllamaModel = {
  engine: 'wllama',
  id: 'tiny-test',
  gguf: { url: 'https://recs.example/v1/blobs/x' },
  contextSize: 2048,
  needs: { memoryMB: 64 },
};

/** An engine that writes what `script` returns for each request, one character a token. */
function scripted(script: (r: LlmGenerateRequest) => string, msPerToken = 0) {
  const requests: LlmGenerateRequest[] = [];
  let loaded: string | null = null;
  const engine: LlmEngine = {
    kind: 'wllama',
    async load(model, o) {
      o?.onProgress?.({ phase: 'download', progress: 0.5, text: 'half' });
      o?.onProgress?.({ phase: 'init', progress: 1, text: 'done' });
      loaded = model.id;
      return {
        engine: 'wllama',
        modelId: model.id,
        device: 'wasm',
        threads: 1,
        bytes: 1,
        loadMs: 1,
      };
    },
    async generate(r) {
      if (!loaded) throw new Error('not loaded');
      requests.push(r);
      const out = script(r);
      let text = '';
      for (const ch of out) {
        if (msPerToken) await new Promise((ok) => setTimeout(ok, msPerToken));
        if (r.signal?.aborted) throw r.signal.reason;
        text += ch;
        r.onToken?.(ch);
        if (text.length >= r.maxTokens) break;
      }
      return { text, tokens: text.length, finish: 'stop', ttftMs: 0, totalMs: 0 };
    },
    async unload() {
      loaded = null;
    },
  };
  return { engine, requests };
}

function setup(
  o: {
    script?: (r: LlmGenerateRequest) => string;
    msPerToken?: number;
    models?: LlmModel[];
    choice?: 'auto' | 'wasm' | 'webgpu' | 'off';
    device?: LlmDevice;
    timeoutMs?: number;
    cached?: boolean;
  } = {},
) {
  const fake = scripted(o.script ?? (() => '{}'), o.msPerToken);
  let started = 0;
  const start = (): LlmWorker => {
    started++;
    const host = createLlmHost({
      wllamaAssets: { default: 'wllama.wasm' },
      probe: async () => o.device ?? DEVICE,
      engines: { wllama: () => fake.engine },
    });
    return llmClient(host, new Promise<never>(() => undefined), () => undefined);
  };
  const fetched: string[] = [];
  const source: LlmModelSource = {
    models: () => o.models ?? [MODEL],
    cached: async () => o.cached ?? false,
    fetch: async (m, opts) => {
      fetched.push(m.id);
      opts.onProgress?.({ phase: 'download', progress: 1, text: 'downloaded' });
      return m;
    },
  };
  const statuses: string[] = [];
  const session = new LlmSession({
    choice: o.choice ?? 'auto',
    source,
    start,
    probe: async () => o.device ?? DEVICE,
    onStatus: (s) => statuses.push(s.state),
    ...(o.timeoutMs ? { timeoutMs: o.timeoutMs } : {}),
  });
  return {
    session,
    assistant: new Assistant({ session }),
    fake,
    fetched,
    statuses,
    started: () => started,
  };
}

const TEMPLATE: Explanation = {
  itemId: 'b',
  text: 'Because you recently looked at Alien: more Sci-Fi.',
  reason: 'sasrec',
  sharedCategories: ['Sci-Fi'],
  becauseOf: [{ id: 'a', title: 'Alien (1979)' }],
  source: 'template',
};
const INPUT: ExplainPromptInput = {
  candidate: { id: 'b', title: 'Blade Runner (1982)', categories: ['Sci-Fi', 'Thriller'] },
  reason: 'sasrec',
  sources: ['sasrec'],
  sharedCategories: ['Sci-Fi'],
  history: [
    { id: 'a', title: 'Alien (1979)', categories: ['Horror', 'Sci-Fi'], similarity: 0.8 },
    { id: 'c', title: 'Clueless (1995)', categories: ['Comedy', 'Romance'], similarity: 0.1 },
  ],
};
const grounded = (reason: string, evidence: string[]) => JSON.stringify({ reason, evidence });

describe('the LLM session: status and load', () => {
  it('says why no engine runs: off, no model, the device', async () => {
    expect(await setup({ choice: 'off' }).session.status()).toMatchObject({
      state: 'off',
      reason: "the llm option is 'off'",
      engine: null,
    });
    expect(await setup({ models: [] }).session.status()).toMatchObject({
      state: 'off',
      reason: 'the manifest offers no LLM model',
    });
    const noWasm = { ...DEVICE, wasm: { ...DEVICE.wasm, memory64: false } };
    const s = setup({ device: noWasm });
    expect(await s.session.status()).toMatchObject({
      state: 'unavailable',
      reason: expect.stringContaining('wasm: WebAssembly lacks Memory64'),
    });
    expect(await s.session.load()).toMatchObject({ state: 'unavailable' });
    expect(s.started()).toBe(0); // the worker never started
    expect(s.fetched).toEqual([]); // and nothing was downloaded
  });

  it('downloads and loads only on load(), then says which engine and model run', async () => {
    const s = setup();
    expect(await s.session.status()).toMatchObject({
      state: 'not-loaded',
      reason: 'tiny-test is not downloaded yet: loadLlm() downloads it',
      engine: 'wllama',
      model: 'tiny-test',
      device: 'wasm',
    });
    expect(await setup({ cached: true }).session.status()).toMatchObject({
      reason: 'tiny-test is downloaded and not loaded yet: loadLlm() loads it',
    });
    expect(s.started()).toBe(0);
    const loading = s.session.load();
    expect(s.session.load()).toBe(loading); // one load at a time
    expect(await loading).toMatchObject({ state: 'ready', engine: 'wllama', model: 'tiny-test' });
    expect(s.fetched).toEqual(['tiny-test']);
    expect(s.started()).toBe(1);
    expect(s.statuses[0]).toBe('loading');
    expect(s.statuses.at(-1)).toBe('ready');
    expect(s.session.source).toEqual({ engine: 'wllama', model: 'tiny-test' });
  });

  it('reports a failed load and goes on with the templates', async () => {
    const s = setup();
    s.fake.engine.load = async () => {
      throw new Error('the GGUF is truncated');
    };
    expect(await s.session.load()).toMatchObject({
      state: 'failed',
      reason: expect.stringContaining('the GGUF is truncated'),
    });
    const e = await s.assistant.explain(TEMPLATE, INPUT, VIEW);
    expect(e).toEqual(TEMPLATE);
  });
});

describe('explain with the LLM', () => {
  it('answers with the template at once before a load, and writes nothing', async () => {
    const s = setup({ script: () => grounded('Like Alien.', ['a']) });
    const pieces: string[] = [];
    expect(
      await s.assistant.explain(TEMPLATE, INPUT, VIEW, { stream: (t) => pieces.push(t) }),
    ).toEqual(TEMPLATE);
    expect(pieces).toEqual([]);
    expect(s.fake.requests).toEqual([]);
  });

  it('uses a grounded answer: its reason, its evidence, who wrote it; streams the reason', async () => {
    const s = setup({
      script: () => grounded('Dark sci-fi, like "Alien" you watched.', ['a']),
    });
    await s.session.load();
    const pieces: string[] = [];
    const e = await s.assistant.explain(TEMPLATE, INPUT, VIEW, { stream: (t) => pieces.push(t) });
    expect(e).toEqual({
      ...TEMPLATE,
      text: 'Dark sci-fi, like "Alien" you watched.',
      becauseOf: [{ id: 'a', title: 'Alien (1979)' }],
      source: { engine: 'wllama', model: 'tiny-test' },
    });
    expect(pieces.length).toBeGreaterThan(10); // token by token
    expect(pieces.join('')).toBe('Dark sci-fi, like "Alien" you watched.');
    // What the engine was given: the grammar over the given ids, the prompt, a bound.
    const r = s.fake.requests[0]!;
    expect(r.constraint!.gbnf).toContain('id ::= "\\"a\\"" | "\\"c\\""');
    expect(r.constraint!.jsonSchema).toMatchObject({ required: ['reason', 'evidence'] });
    expect(r.user).toContain('"Blade Runner (1982)"');
    expect(r.maxTokens).toBeLessThanOrEqual(1024);
  });

  it('falls back to the template on malformed output, foreign evidence or a made-up title', async () => {
    for (const [out, why] of [
      ['{"reason": "Like Alien", "evid', 'is not JSON'],
      [grounded('Like Heat.', ['h']), 'cites "h", which is not among the 2 given ids'],
      [grounded('Like Heat, which you loved.', ['a']), 'named "Heat", which it was not given'],
      [grounded('   ', ['a']), 'empty reason'],
    ] as const) {
      const s = setup({ script: () => out });
      await s.session.load();
      const e = await s.assistant.explain(TEMPLATE, INPUT, VIEW);
      expect(e.text).toBe(TEMPLATE.text);
      expect(e.source).toBe('template');
      expect(e.fallback).toContain(why);
    }
  });

  it('needs a history item to cite', async () => {
    const s = setup({ script: () => grounded('x', ['a']) });
    await s.session.load();
    const e = await s.assistant.explain(TEMPLATE, { ...INPUT, history: [] }, VIEW);
    expect(e).toMatchObject({
      source: 'template',
      fallback: 'there is no history item the LLM could cite',
    });
    expect(s.fake.requests).toEqual([]);
  });

  it('is cancelled by its signal (the call rejects with the reason) and stopped by the timeout', async () => {
    const s = setup({ script: () => grounded('Like Alien, slowly.', ['a']), msPerToken: 5 });
    await s.session.load();
    const ac = new AbortController();
    const pieces: string[] = [];
    const call = s.assistant.explain(TEMPLATE, INPUT, VIEW, {
      signal: ac.signal,
      stream: (t) => {
        pieces.push(t);
        if (pieces.length === 3) ac.abort();
      },
    });
    await expect(call).rejects.toMatchObject({ name: 'AbortError' });
    expect(pieces).toHaveLength(3);

    const slow = setup({
      script: () => grounded('Like Alien, slowly.', ['a']),
      msPerToken: 20,
      timeoutMs: 60,
    });
    await slow.session.load();
    const e = await slow.assistant.explain(TEMPLATE, INPUT, VIEW);
    expect(e).toMatchObject({
      source: 'template',
      fallback: expect.stringContaining('took over 60 ms'),
    });
  });
});

describe('ask and onboarding with the LLM', () => {
  it('uses the LLM’s constraints when they pass the check', async () => {
    const s = setup({
      script: () =>
        JSON.stringify({
          include: ['Sci-Fi'],
          exclude: ['Horror'],
          yearMin: 1980,
          query: 'runner',
          reply: 'Sci-fi it is.',
        }),
    });
    await s.session.load();
    expect(await s.assistant.constraints('sci-fi, not scary, 80s on', 'ask', VIEW)).toEqual({
      constraints: {
        include: ['Sci-Fi'],
        exclude: ['Horror'],
        yearMin: 1980,
        query: 'runner',
        reply: 'Sci-fi it is.',
      },
      source: { engine: 'wllama', model: 'tiny-test' },
    });
    const r = s.fake.requests[0]!;
    expect(r.constraint!.gbnf).toContain('cat ::= "\\"Sci-Fi\\""');
    expect(r.user).toContain('Request: sci-fi, not scary, 80s on');
  });

  it('passes the previous turn of the conversation to the model', async () => {
    const s = setup({ script: () => JSON.stringify({ include: [], exclude: [], reply: '' }) });
    await s.session.load();
    const out = await s.assistant.constraints('less violent', 'ask', VIEW, {
      text: 'action films',
      constraints: { include: ['Action'], exclude: [] },
    });
    expect(s.fake.requests[0]!.user).toContain('Previous request: action films');
    expect(out.constraints.reply).toBe('Here are some picks for you.'); // an empty reply → the template
  });

  it('falls back to the keyword parser when the answer names what the catalog lacks', async () => {
    const s = setup({
      script: () => JSON.stringify({ include: ['Western'], exclude: [], reply: 'Yee-haw.' }),
    });
    await s.session.load();
    const out = await s.assistant.constraints('comedies, not horror', 'ask', VIEW);
    expect(out).toEqual({
      constraints: { include: ['Comedy'], exclude: ['Horror'], reply: 'Comedy without Horror.' },
      source: 'template',
      fallback: expect.stringContaining(
        '"Western" in include, which is not a category of the catalog',
      ),
    });
  });

  it('answers onboarding from the keyword parser without a model, from the LLM with one', async () => {
    const off = setup({ choice: 'off' });
    expect(await off.assistant.constraints('I love sci-fi, hate horror', 'onboard', VIEW)).toEqual({
      constraints: {
        include: ['Sci-Fi'],
        exclude: ['Horror'],
        reply:
          'Noted: you like Sci-Fi, and you would rather avoid Horror. You can change this at any time.',
      },
      source: 'template',
    });
    const s = setup({
      script: () => JSON.stringify({ include: ['Comedy'], exclude: [], reply: 'Comedy, then.' }),
    });
    await s.session.load();
    const out = await s.assistant.constraints('something to laugh at', 'onboard', VIEW);
    expect(out.constraints).toEqual({ include: ['Comedy'], exclude: [], reply: 'Comedy, then.' });
    expect(s.fake.requests[0]!.constraint!.gbnf).not.toContain('year');
  });
});

describe('reasonStreamer', () => {
  it('yields the reason’s text as the JSON arrives, escapes decoded, and stops at its end', () => {
    const out: string[] = [];
    const feed = reasonStreamer((t) => out.push(t));
    for (const piece of ['{', ' "reason"', ': "Hi', ' \\', 'n\\u00', 'e9"', ', "evidence": ["a"]}'])
      feed(piece);
    expect(out.join('')).toBe('Hi \né');
  });
});

/**
 * The SDK's assistant calls in real Chromium (issue #15) against the fixture's signed model
 * (test/setup/recommender-server.ts: a synthetic catalog with MovieLens genres and "(YYYY)"
 * titles): with no LLM — the shipped default, since no model source is wired — every call
 * answers from templates and the keyword parser and the status says why; with a scripted fake
 * engine behind the real llm host, loadLlm() loads it and explain() streams a grounded answer
 * or falls back to the template; onboarding's interests are stored with consent, steer a cold
 * start, are editable, exported and forgotten; and the worker-backed recommender forwards the
 * new calls, explain()'s stream included.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { isLocalrecError } from '../../src/core/errors.ts';
import type { LlmEngine, LlmGenerateRequest } from '../../src/client/llm/api.ts';
import { createLlmHost } from '../../src/client/llm/host.ts';
import { llmClient } from '../../src/client/llm/worker-client.ts';
import { createRecommender } from '../../src/client/recommender/page.ts';
import type { LocalRecommenderOptions } from '../../src/client/recommender/local.ts';
import type { Recommender } from '../../src/client/api.ts';
import { yearOf } from '../../src/client/language/facets.ts';
import { localRecommender, memoryNames } from './sdk-fixture.ts';

const fx = inject('recommenderFixture');
const byId = new Map(fx.items.map((i) => [i.id, i]));
const uniqueName = memoryNames('sdk-assistant');
// The two most common genres of the fixture's catalog.
const genreCount = new Map<string, number>();
for (const i of fx.items)
  for (const c of i.categories) genreCount.set(c, (genreCount.get(c) ?? 0) + 1);
const [G1, G2] = [...genreCount].sort((a, b) => b[1] - a[1]).map(([g]) => g) as [string, string];

/** A scripted engine: each generation writes what `reply` returns for the request. */
function fakeRuntime(reply: (r: LlmGenerateRequest) => string): {
  runtime: NonNullable<LocalRecommenderOptions['llmRuntime']>;
  requests: LlmGenerateRequest[];
} {
  const requests: LlmGenerateRequest[] = [];
  const engine: LlmEngine = {
    kind: 'wllama',
    load: async (model) => ({
      engine: 'wllama',
      modelId: model.id,
      device: 'wasm',
      threads: 1,
      bytes: 1,
      loadMs: 1,
    }),
    async generate(r) {
      requests.push(r);
      const text = reply(r);
      for (const ch of text) r.onToken?.(ch);
      return { text, tokens: text.length, finish: 'stop', ttftMs: 0, totalMs: 0 };
    },
    unload: async () => undefined,
  };
  const device = {
    webgpu: null,
    wasm: { simd: true, exceptions: true, jspi: false, memory64: true, threads: false },
    hardwareConcurrency: 2,
    saveData: false,
  };
  const host = createLlmHost({
    wllamaAssets: { default: 'unused.wasm' },
    probe: async () => device,
    engines: { wllama: () => engine },
  });
  return {
    requests,
    runtime: {
      source: {
        models: () => [
          {
            engine: 'wllama',
            id: 'fake-tiny',
            gguf: { url: '/none.gguf' },
            contextSize: 4096,
            needs: { memoryMB: 1 },
          },
        ],
      },
      probe: async () => device,
      startWorker: () => llmClient(host, new Promise<never>(() => undefined), () => undefined),
    },
  };
}

describe('with no LLM: templates and the keyword parser', () => {
  let r: Recommender;
  beforeAll(async () => {
    r = await localRecommender({ name: uniqueName(), consent: { personalization: true } });
  });
  afterAll(() => r.close());

  it('says why no LLM runs, and explains with the template', async () => {
    expect((await r.status()).llm).toEqual({
      state: 'off',
      reason: 'the manifest offers no LLM model',
      choice: 'auto',
      engine: null,
      model: null,
      device: null,
      progress: null,
    });
    expect(await r.loadLlm()).toMatchObject({ state: 'off' });
    const first = (await r.recommend({ k: 1 })).items[0]!;
    expect(
      await r.explain(first.id, { stream: () => expect.fail('no stream without an LLM') }),
    ).toMatchObject({
      itemId: first.id,
      source: 'template',
    });
  });

  it('ask(): categories, years and negation from the words, applied as filters', async () => {
    const a = await r.ask(`${G1} from 1970 to 1999, not ${G2}`, { k: 8 });
    expect(a.source).toBe('template');
    expect(a.constraints).toMatchObject({
      include: [G1],
      exclude: [G2],
      yearMin: 1970,
      yearMax: 1999,
    });
    expect(a.items.length).toBeGreaterThan(0);
    for (const it of a.items) {
      expect(it.categories).toContain(G1);
      expect(it.categories).not.toContain(G2);
      expect(yearOf(it.title)).toBeGreaterThanOrEqual(1970);
      expect(yearOf(it.title)).toBeLessThanOrEqual(1999);
    }
    expect(a.reply).toBe(`${G1} from 1970–1999 without ${G2}.`);
    // A title word as the query: the items that have it in their titles.
    const word = fx.items[3]!.title.split(' ').find((w) => w.length > 4 && /^[A-Za-z]+$/.test(w))!;
    const q = await r.ask(word, { k: 5, newConversation: true });
    expect(q.constraints.query).toBe(word.toLowerCase()); // the parser reads lower case
    expect(q.items.length).toBeGreaterThan(0);
    for (const it of q.items) expect(it.title.toLowerCase()).toContain(word.toLowerCase());
    await expect(r.ask('   ')).rejects.toMatchObject({ code: 'bad-input' });
  });

  it('onboard(): stored interests that steer the cold start, editable, exported, forgotten', async () => {
    const count = async () =>
      (await r.recommend({ k: 10 })).items.filter((x) => byId.get(x.id)!.categories.includes(G2))
        .length;
    const before = await count();
    const o = await r.onboard(`I love ${G2}, but no ${G1} please`);
    expect(o).toMatchObject({ interests: { [G2]: 1, [G1]: -1 }, source: 'template', stored: true });
    expect(await r.interests()).toEqual({ [G2]: 1, [G1]: -1 });
    expect(await count()).toBeGreaterThan(before);
    expect(await r.setInterests({ [G2]: 0.5 })).toEqual({ [G2]: 0.5 });
    const bad = await r.setInterests({ 'No Such Genre': 1 }).catch((e: unknown) => e);
    expect(isLocalrecError(bad) && bad.code).toBe('bad-input');
    const snapshot = await r.exportMemory();
    expect(JSON.stringify(snapshot)).toContain('"interests"');
    await r.forget();
    expect(await r.interests()).toEqual({});
    // Without consent nothing is stored.
    expect(await r.onboard(`I love ${G2}`)).toMatchObject({ stored: false });
    expect(await r.interests()).toEqual({});
  });
});

describe('with a (scripted) LLM', () => {
  it('loads on loadLlm(), streams a grounded explanation, falls back on a made-up title', async () => {
    let answer = (ids: string[]) =>
      JSON.stringify({ reason: 'A fine next pick.', evidence: ids.slice(0, 1) });
    const fake = fakeRuntime((req) => {
      const ids = [...req.user.matchAll(/^- "([^"]+)"/gm)].map((m) => m[1]!);
      return answer(ids);
    });
    const r = await localRecommender({
      name: uniqueName(),
      consent: { personalization: true },
      llm: 'wasm',
      llmRuntime: fake.runtime,
    });
    try {
      expect((await r.status()).llm).toMatchObject({
        state: 'not-loaded',
        reason: 'fake-tiny is not downloaded yet: loadLlm() downloads it',
      });
      const seen = fx.items.slice(0, 3).map((i) => i.id);
      for (const id of seen) await r.track({ type: 'view', itemId: id, dwellMs: 20_000 });
      const target = (await r.recommend({ k: 1 })).items[0]!;
      // Before the load: the template, at once.
      expect((await r.explain(target.id)).source).toBe('template');
      expect(fake.requests).toHaveLength(0);
      expect(await r.loadLlm()).toMatchObject({
        state: 'ready',
        engine: 'wllama',
        model: 'fake-tiny',
      });
      const pieces: string[] = [];
      const e = await r.explain(target.id, { stream: (t) => pieces.push(t) });
      expect(e).toMatchObject({
        text: 'A fine next pick.',
        source: { engine: 'wllama', model: 'fake-tiny' },
      });
      expect(pieces.join('')).toBe('A fine next pick.');
      expect(e.becauseOf).toHaveLength(1);
      expect(seen).toContain(e.becauseOf[0]!.id);
      // The prompt held the history items with ids, and no timestamp.
      expect(fake.requests[0]!.user).toContain(`"${byId.get(e.becauseOf[0]!.id)!.title}"`);
      expect(fake.requests[0]!.user).not.toMatch(/\d{13}/);
      // A title of another catalog item in the reason: the template instead.
      const other = fx.items.find(
        (i) => !seen.includes(i.id) && i.id !== target.id && i.title.split(' ').length > 2,
      )!;
      answer = (ids) =>
        JSON.stringify({
          reason: `Like ${other.title.replace(/ \(\d{4}\)$/, '')}.`,
          evidence: ids.slice(0, 1),
        });
      const t = await r.explain(target.id);
      expect(t.source).toBe('template');
      expect(t.fallback).toContain('which it was not given');
    } finally {
      await r.close();
    }
  });
});

describe('createRecommender: the calls cross the worker', () => {
  it('forwards ask, onboard, interests and explain with a stream', async () => {
    const r = await createRecommender({
      server: fx.servers.a,
      publicKey: fx.publicKey,
      name: uniqueName(),
      device: 'wasm',
      refreshIntervalMs: 0,
      consent: { personalization: true },
    });
    try {
      expect((await r.status()).llm.state).toBe('off');
      const a = await r.ask(`${G1}, not ${G2}`, { k: 3 });
      expect(a.items.every((x) => x.categories.includes(G1) && !x.categories.includes(G2))).toBe(
        true,
      );
      expect((await r.onboard(`I like ${G1}`)).stored).toBe(true);
      expect(await r.interests()).toEqual({ [G1]: 1 });
      const e = await r.explain(a.items[0]!.id, { stream: () => undefined });
      expect(e.source).toBe('template');
      await expect(
        r.explain(a.items[0]!.id, { signal: new AbortController().signal }),
      ).rejects.toMatchObject({
        code: 'bad-input',
      });
    } finally {
      await r.close();
    }
  });
});

/**
 * The assistant on the real engine (issue #15): llama.cpp in WebAssembly in the llm worker, on
 * the tiny random-weight GGUF the project writes (test/setup/llm-fixtures.ts). ask()'s and
 * onboarding's grammars (src/client/language/constraints.ts) are read by llama.cpp and hold the
 * output to the catalog's categories and fields even from random weights — every answer passes
 * the validator; and explain() through the LLM session and the assistant, from a load in the
 * worker to a checked answer, cites only the ids it was given or falls back to the template.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { WllamaModel } from '../../src/client/llm/api.ts';
import { probeLlmDevice } from '../../src/client/llm/capability.ts';
import { startLlmWorker, type LlmWorker } from '../../src/client/llm/worker-client.ts';
import { Assistant } from '../../src/client/assistant/assistant.ts';
import { LlmSession } from '../../src/client/assistant/llm-session.ts';
import { constraintSpec, parseConstraints } from '../../src/client/language/constraints.ts';
import { catalogFacets } from '../../src/client/language/facets.ts';
import { TitleIndex } from '../../src/client/language/grounding.ts';
import { askPrompt, onboardPrompt } from '../../src/client/language/prompts.ts';
import type { Explanation } from '../../src/client/types.ts';

const fx = inject('llmFixture');
const MODEL: WllamaModel = {
  engine: 'wllama',
  id: 'localrec-tiny-llama',
  gguf: { url: `${fx.url}${fx.gguf.chat}` },
  contextSize: 4096,
  needs: { memoryMB: 16 },
};
const ITEMS = [
  { id: 'm1', title: 'Toy Story (1995)', categories: ['Animation', "Children's", 'Comedy'] },
  { id: 'm2', title: 'Heat (1995)', categories: ['Action', 'Crime', 'Thriller'] },
  { id: 'm3', title: 'Alien (1979)', categories: ['Horror', 'Sci-Fi'] },
  { id: 'm4', title: 'Clueless (1995)', categories: ['Comedy', 'Romance'] },
];
const FACETS = catalogFacets(ITEMS);

describe('ask and onboarding grammars in llama.cpp', () => {
  let llm: LlmWorker;
  beforeAll(async () => {
    llm = startLlmWorker();
    await llm.load({ choice: 'wasm', models: [MODEL] });
  });
  afterAll(() => llm.terminate());

  for (const purpose of ['ask', 'onboard'] as const)
    it(`${purpose}: every answer of random weights passes the catalog's check`, async () => {
      const options = { facets: FACETS, purpose, maxReplyChars: 60, maxQueryChars: 30 };
      const spec = constraintSpec(options);
      const prompt =
        purpose === 'ask'
          ? askPrompt('something lighter from the 90s, not horror', FACETS, undefined)
          : onboardPrompt('I love sci-fi and hate horror', FACETS);
      const texts: string[] = [];
      for (const seed of [1, 2, 3]) {
        const g = await llm.generate({
          ...prompt,
          constraint: { gbnf: spec.gbnf, jsonSchema: spec.jsonSchema },
          maxTokens: spec.maxTokens,
          temperature: 1,
          seed,
        });
        expect(g.finish).toBe('stop');
        const c = parseConstraints(g.text, options);
        for (const cat of [...c.include, ...c.exclude]) expect(FACETS.categories).toContain(cat);
        texts.push(g.text);
      }
      console.log(`[llm-assistant] ${purpose}: e.g. ${texts[0]}`);
    });
});

describe('explain() through the session and the assistant on the real engine', () => {
  const session = new LlmSession({
    choice: 'wasm',
    source: { models: () => [MODEL] },
    start: () => startLlmWorker(),
    probe: probeLlmDevice,
  });
  afterAll(() => session.close());

  it('loads in the worker and answers with a checked explanation or the template', async () => {
    expect(await session.status()).toMatchObject({ state: 'not-loaded', engine: 'wllama' });
    expect(await session.load()).toMatchObject({ state: 'ready', model: 'localrec-tiny-llama' });
    const assistant = new Assistant({ session });
    const template: Explanation = {
      itemId: 'm4',
      text: 'Because you recently looked at Toy Story: more Comedy.',
      reason: 'sasrec',
      sharedCategories: ['Comedy'],
      becauseOf: [{ id: 'm1', title: 'Toy Story (1995)' }],
      source: 'template',
    };
    const history = ITEMS.slice(0, 3).map((h, i) => ({ ...h, similarity: 0.9 - i / 10 }));
    const streamed: string[] = [];
    const e = await assistant.explain(
      template,
      {
        candidate: ITEMS[3]!,
        reason: 'sasrec',
        sources: ['sasrec'],
        sharedCategories: ['Comedy'],
        history,
      },
      { facets: FACETS, titles: new TitleIndex(ITEMS.map((i) => i.title)) },
      { stream: (t) => streamed.push(t) },
    );
    console.log(`[llm-assistant] explain: ${JSON.stringify(e)}`);
    if (e.source === 'template') {
      // Random weights may spell a catalog title by chance, or write nothing: the check says so
      // (never a failure of the engine or of the grammar).
      expect(e.fallback).toMatch(/which it was not given|empty reason/);
      expect(e.text).toBe(template.text);
    } else {
      expect(e.source).toEqual({ engine: 'wllama', model: 'localrec-tiny-llama' });
      expect(e.becauseOf.length).toBeGreaterThan(0);
      for (const b of e.becauseOf) expect(['m1', 'm2', 'm3']).toContain(b.id);
      expect(streamed.join('').trim()).toBe(e.text);
    }
  });
});

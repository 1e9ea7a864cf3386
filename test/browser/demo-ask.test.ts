/**
 * The demo's Ask panel, its LLM line and download button, and the widget's reason labels, in real
 * Chromium on index.html's own markup over the SDK fixture's signed models
 * (test/setup/recommender-server.ts): server `a` ships no LLM — Ask is answered by the keyword
 * parser and says so, reasons read "template", no download button; server `d` offers the tiny
 * GGUF — the button states its size, nothing is fetched before the click, and after it the line
 * names the model running on wasm.
 */
import { afterAll, afterEach, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import pageHtml from '../../index.html?raw';
import type { Recommender } from '../../src/client/api.ts';
import { mountAskView } from '../../src/demo/ask-view.ts';
import { catalogFrom, type Catalog } from '../../src/demo/catalog.ts';
import { mountLlmView } from '../../src/demo/llm-view.ts';
import { mb } from '../../src/demo/render.ts';
import { mountWidget } from '../../src/embed/widget.ts';
import { localRecommender, memoryNames } from './sdk-fixture.ts';

/** The SDK answers through its worker: on a loaded CI machine that can take seconds (vi.waitFor's default is 1 s). */
const WAIT = { timeout: 15_000 };

const fx = inject('recommenderFixture');
const names = memoryNames('demo-ask');
const genreCount = new Map<string, number>();
for (const i of fx.items)
  for (const c of i.categories) genreCount.set(c, (genreCount.get(c) ?? 0) + 1);
const [G1, G2] = [...genreCount].sort((a, b) => b[1] - a[1]).map(([g]) => g) as [string, string];

/** index.html's body (the page's own markup; main.ts is not run), removed after each test. */
function page(): void {
  const doc = new DOMParser().parseFromString(pageHtml, 'text/html');
  document.body.replaceChildren(...doc.body.children);
}
afterEach(() => document.body.replaceChildren());

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const errors: unknown[] = [];

function mount(recs: Recommender, catalog: Catalog, picks: string[] = []) {
  const ask = mountAskView({
    recs: () => recs,
    catalog: () => catalog,
    picks: () => picks,
    pick: (id) => picks.push(id),
    onInterests: () => undefined,
    onError: (e) => errors.push(e),
  });
  const llm = mountLlmView({ recs: () => recs, onError: (e) => errors.push(e) });
  ask.enable();
  ask.render();
  return { ask, llm };
}

function submit(input: string, value: string, form: string): void {
  $<HTMLInputElement>(input).value = value;
  $<HTMLFormElement>(form).requestSubmit();
}

describe('the demo with no LLM (the manifest offers none)', () => {
  let recs: Recommender;
  let catalog: Catalog;
  beforeAll(async () => {
    recs = await localRecommender({ name: names(), consent: { personalization: true } });
    catalog = catalogFrom((await recs.catalog()).items);
  });
  afterAll(() => recs.close());

  it('answers Ask with the keyword parser and says so; the line says why; no download button', async () => {
    page();
    const { llm } = mount(recs, catalog);
    await llm.render(recs);
    expect($('llm-line').textContent).toBe(
      'Answers use the templates and the keyword parser: the manifest offers no LLM model.',
    );
    expect($('llm-download').hidden).toBe(true);
    expect($('ask-answer').hidden).toBe(true);
    submit('ask-input', `${G1}, not ${G2}`, 'ask-form');
    await vi.waitFor(() => expect($('ask-answer').hidden).toBe(false), WAIT);
    expect($('ask-by').textContent).toBe('Answered by the keyword parser');
    expect($('ask-reply').textContent).toBe(`${G1} without ${G2}.`);
    const titles = [...$('ask-items').querySelectorAll('.card-title')].map((t) => t.textContent);
    expect(titles.length).toBeGreaterThan(0);
    expect(titles.length).toBeLessThanOrEqual(6);
    for (const title of titles) {
      const item = fx.items.find((i) => i.title === title)!;
      expect(item.categories).toContain(G1);
      expect(item.categories).not.toContain(G2);
    }
    expect(errors).toEqual([]);
  });

  it('labels the widget’s reasons as the template', async () => {
    page();
    const w = mountWidget($('recs-widget'), recs, { k: 4, dwellMs: 60_000 });
    await w.ready;
    await vi.waitFor(
      () =>
        expect([...w.root.querySelectorAll('.lr-source')].map((l) => l.textContent)).toEqual(
          Array(4).fill('template'),
        ),
      WAIT,
    );
    w.destroy();
  });

  it('onboards a visitor with no picks: starting interests shown, stored, and removable', async () => {
    page();
    const picks: string[] = [];
    const { ask } = mount(recs, catalog, picks);
    expect($('onboard').hidden).toBe(false);
    submit('onboard-input', `I love ${G1} and ${G2}`, 'onboard-form');
    await vi.waitFor(() => expect($('interests').hidden).toBe(false), WAIT);
    const chips = () =>
      [...$('interests').querySelectorAll('.chip span')].map((c) => c.textContent);
    expect(chips().sort()).toEqual([G1, G2].sort());
    expect($('onboard-reply').textContent).toMatch(/Starting interests \(keyword parser\):$/);
    expect(Object.keys(await recs.interests()).sort()).toEqual([G1, G2].sort());
    $('interests').querySelector<HTMLButtonElement>(`[aria-label="Remove ${G2}"]`)!.click();
    await vi.waitFor(() => expect(chips()).toEqual([G1]), WAIT);
    expect(Object.keys(await recs.interests())).toEqual([G1]);
    // Once interests are shown they stay editable after a pick; a visitor with picks is not asked.
    picks.push(fx.items[0]!.id);
    ask.render();
    expect($('onboard').hidden).toBe(false);
    page();
    mount(recs, catalog, [fx.items[0]!.id]);
    expect($('onboard').hidden).toBe(true);
    expect(errors).toEqual([]);
  });
});

describe('the demo with the tiny GGUF offered in the manifest', () => {
  it('states the size, fetches nothing before the click, and names the model after it', async () => {
    const server = fx.servers.d;
    const manifest = (await (await fetch(`${server}/v1/manifest`)).json()) as {
      llm: { files: { sha256: string; bytes: number }[] };
    };
    const gguf = manifest.llm.files[0]!;
    const blobUrl = `${server}/v1/blobs/${gguf.sha256}`;
    const requests: string[] = [];
    const recs = await localRecommender({
      server,
      name: names(),
      llm: 'wasm',
      fetch: (input, init) => {
        requests.push(String(input));
        return fetch(input, init);
      },
    });
    try {
      page();
      const { llm } = mount(recs, catalogFrom((await recs.catalog()).items));
      await llm.render(recs);
      const button = $<HTMLButtonElement>('llm-download');
      expect(button.hidden).toBe(false);
      expect(button.textContent).toBe(
        `Use the on-device model localrec-tiny-llama (download ${mb(gguf.bytes)} MB)`,
      );
      expect($('llm-line').textContent).toMatch(/not downloaded yet/);
      expect(requests).not.toContain(blobUrl);
      button.click();
      expect($('llm-progress').hidden).toBe(false);
      await vi.waitFor(
        () =>
          expect($('llm-line').textContent).toBe(
            'Answers are written on your device by localrec-tiny-llama (wllama, wasm).',
          ),
        { timeout: 60_000 },
      );
      expect(button.hidden).toBe(true);
      expect($('llm-progress').hidden).toBe(true);
      expect(requests.filter((u) => u === blobUrl)).toHaveLength(1);
      expect(errors).toEqual([]);
    } finally {
      await recs.close();
    }
  }, 90_000);
});

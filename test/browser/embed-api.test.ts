/**
 * The embed's controller and `window.localrec` in real Chromium, with a fake recommender: the
 * pre-load command queue, tags and their attributes, double loads, and failures that must stay
 * out of the host page (one `[localrec]` console line, no throw, no unhandled rejection).
 */
import { afterEach, beforeEach, describe, expect, it, vi, type MockInstance } from 'vitest';
import type {
  Consent,
  ConsentFlags,
  Recommendation,
  RecommendOptions,
  Recommender,
  TrackEvent,
} from '../../src/client/api.ts';
import type { EmbedConfig } from '../../src/embed/config.ts';
import {
  bootEmbed,
  createEmbedController,
  type EmbedCallbacks,
  type EmbedEnvironment,
} from '../../src/embed/embed.ts';
import type { LocalrecGlobal } from '../../src/embed/global.ts';

const KEY = btoa(String.fromCharCode(...new Uint8Array(32).fill(5)));
const SERVER = 'https://recs.example';

interface Fake {
  recommender: Recommender;
  tracked: TrackEvent[];
  consents: Partial<ConsentFlags>[];
  recommends: RecommendOptions[];
}

function fakeRecommender(): Fake {
  const tracked: TrackEvent[] = [];
  const consents: Partial<ConsentFlags>[] = [];
  const recommends: RecommendOptions[] = [];
  let consent: Consent = { personalization: false, federated: false, updatedAt: null };
  const recommender = {
    track: async (event: TrackEvent) => {
      tracked.push(event);
      return { stored: consent.personalization };
    },
    recommend: async (options: RecommendOptions = {}): Promise<Recommendation> => {
      recommends.push(options);
      return {
        items: [1, 2, 3].map((i) => ({
          id: String(i),
          title: `Item ${i}`,
          categories: ['Drama'],
          score: 1 / i,
          reason: 'popular' as const,
          sources: ['popular'],
        })),
        modelVersion: 'v1',
        coldStart: true,
        itemsSearched: 3,
        totalItems: 3,
        timings: { stateMs: 0, retrieveMs: 0, rerankMs: 0, totalMs: 0 },
      };
    },
    explain: async (itemId: string) => ({
      itemId,
      text: `Because of ${itemId}`,
      reason: 'popular' as const,
      sharedCategories: [],
      becauseOf: [],
    }),
    getConsent: async () => consent,
    setConsent: async (flags: Partial<ConsentFlags>) => {
      consents.push(flags);
      consent = { ...consent, ...flags, updatedAt: Date.now() };
      return consent;
    },
    refresh: async () => ({ changed: false, modelVersion: 'v1' }),
    forget: async () => {},
  } as unknown as Recommender;
  return { recommender, tracked, consents, recommends };
}

interface Harness {
  win: { localrec?: unknown };
  env: EmbedEnvironment;
  starts: EmbedConfig[];
  callbacks: EmbedCallbacks[];
  fake: Fake;
  api: () => LocalrecGlobal;
}

function harness(
  options: { queue?: unknown[]; fail?: Error; win?: { localrec?: unknown } } = {},
): Harness {
  const fake = fakeRecommender();
  const starts: EmbedConfig[] = [];
  const callbacks: EmbedCallbacks[] = [];
  const win = options.win ?? (options.queue ? { localrec: options.queue } : {});
  const env: EmbedEnvironment = {
    win,
    doc: document,
    dwellMs: 0,
    createRecommender: async (config, cb) => {
      starts.push(config);
      callbacks.push(cb);
      if (options.fail) throw options.fail;
      return fake.recommender;
    },
  };
  return { win, env, starts, callbacks, fake, api: () => win.localrec as LocalrecGlobal };
}

const targets: HTMLElement[] = [];
function target(id: string): HTMLElement {
  const el = document.createElement('div');
  el.id = id;
  document.body.append(el);
  targets.push(el);
  return el;
}

function tag(attrs: Record<string, string>): HTMLScriptElement {
  const script = document.createElement('script');
  script.setAttribute('src', `${SERVER}/localrec.js`);
  for (const [k, v] of Object.entries(attrs)) script.setAttribute(`data-${k}`, v);
  return script;
}

const GOOD = { server: SERVER, 'public-key': KEY, target: '#recs', k: '2' };
const tick = () => new Promise((r) => setTimeout(r, 20));

let errors: MockInstance<typeof console.error>;
let warnings: MockInstance<typeof console.warn>;
let unhandled: unknown[];
const onUnhandled = (e: PromiseRejectionEvent) => {
  unhandled.push(e.reason);
  e.preventDefault();
};

beforeEach(() => {
  errors = vi.spyOn(console, 'error').mockImplementation(() => {});
  warnings = vi.spyOn(console, 'warn').mockImplementation(() => {});
  unhandled = [];
  window.addEventListener('unhandledrejection', onUnhandled);
});
afterEach(async () => {
  await tick();
  window.removeEventListener('unhandledrejection', onUnhandled);
  vi.restoreAllMocks();
  for (const el of targets.splice(0)) el.remove();
});

const logged = (spy: MockInstance<(...args: unknown[]) => void>) =>
  spy.mock.calls.map((args) => args.map(String).join(' '));

describe('window.localrec', () => {
  it('replays the pre-load queue in order, then runs later pushes at once', async () => {
    const seen: string[] = [];
    const h = harness({
      queue: [
        ['setConsent', { personalization: true }],
        ['track', { type: 'view', itemId: '1' }],
        (api: LocalrecGlobal) => api.on('ready', () => seen.push('ready')),
      ],
    });
    target('recs');
    createEmbedController(h.env).addTag(tag(GOOD));
    const api = h.api();
    expect(Array.isArray(api)).toBe(false);
    await api.ready;
    await tick();
    expect(h.fake.consents).toEqual([{ personalization: true }]);
    // First the queued event; then the widget's own views of its cards (dwell 0 here).
    expect(h.fake.tracked[0]).toEqual({ type: 'view', itemId: '1' });
    expect(h.fake.tracked.slice(1).every((e) => e.context?.slot === 'widget')).toBe(true);
    expect(seen).toEqual(['ready']);

    expect(api.push(['track', { type: 'like', itemId: '2' }])).toBe(1);
    await tick();
    expect(h.fake.tracked).toContainEqual({ type: 'like', itemId: '2' });
    expect(await api.track({ type: 'click', itemId: '3' })).toEqual({ stored: true });
    expect(errors).not.toHaveBeenCalled();
  });

  it('says which command it does not know, once, and goes on', async () => {
    const h = harness({ queue: [['launchRockets'], 42, ['track', { type: 'view', itemId: '1' }]] });
    createEmbedController(h.env).addTag(tag({ server: SERVER, 'public-key': KEY }));
    await h.api().ready;
    await tick();
    expect(logged(errors)).toEqual([
      expect.stringMatching(/^\[localrec\] unknown command launchRockets/),
      expect.stringMatching(/^\[localrec\] unknown command 42/),
    ]);
    expect(h.fake.tracked).toHaveLength(1);
  });

  it('late ready listeners still hear it; a throwing listener is contained', async () => {
    const h = harness();
    createEmbedController(h.env).addTag(tag({ server: SERVER, 'public-key': KEY }));
    const api = h.api();
    api.on('ready', () => {
      throw new Error('listener bug');
    });
    await api.ready;
    let late = 0;
    api.on('ready', () => late++);
    await tick();
    expect(late).toBe(1);
    expect(logged(warnings)).toEqual([
      expect.stringMatching(/\[localrec\] a 'ready' listener threw/),
    ]);
    expect(unhandled).toEqual([]);
  });

  it('setConsent, forget and refresh re-render the widget; a new model version does too', async () => {
    const h = harness();
    target('recs');
    const controller = createEmbedController(h.env);
    controller.addTag(tag(GOOD));
    await h.api().ready;
    await tick();
    expect(h.fake.recommends).toHaveLength(1);
    await h.api().setConsent({ personalization: true });
    await h.api().forget();
    await h.api().refresh();
    expect(h.fake.recommends).toHaveLength(4);
    h.callbacks[0]?.onChange({ kind: 'model', modelVersion: 'v2', previous: 'v1' });
    await tick();
    expect(h.fake.recommends).toHaveLength(5);
    expect(h.fake.recommends[0]).toEqual({ k: 2, context: { slot: 'widget' } });
  });

  it('does not take over a window.localrec the page uses for something else', () => {
    const own = { mine: true };
    const h = harness({ win: { localrec: own } });
    createEmbedController(h.env).addTag(tag({ server: SERVER, 'public-key': KEY }));
    expect(h.win.localrec).toBe(own);
    expect(logged(errors)).toEqual([expect.stringMatching(/window\.localrec is already used/)]);
  });
});

describe('the tag', () => {
  it('mounts a widget into its target with its k, title, slot and item', async () => {
    const h = harness();
    const el = target('recs');
    const controller = createEmbedController(h.env);
    controller.addTag(
      tag({
        ...GOOD,
        title: 'More like this',
        slot: 'product',
        item: '9',
        consent: 'personalization',
      }),
    );
    await h.api().ready;
    await tick();
    expect(h.starts).toEqual([
      expect.objectContaining({
        server: SERVER,
        publicKey: KEY,
        consent: { personalization: true },
      }),
    ]);
    expect(el.shadowRoot?.querySelectorAll('.lr-card')).toHaveLength(2);
    expect(el.shadowRoot?.querySelector('.lr-title')?.textContent).toBe('More like this');
    expect(h.fake.recommends[0]).toEqual({ k: 2, context: { slot: 'product', itemId: '9' } });
    expect(controller.widgets.size).toBe(1);
  });

  it('bad attributes: one console error, nothing rendered, nothing started, calls reject quietly', async () => {
    const h = harness();
    const el = target('recs');
    createEmbedController(h.env).addTag(tag({ server: SERVER, target: '#recs', k: '0' }));
    expect(errors).toHaveBeenCalledTimes(1);
    expect(logged(errors)[0]).toMatch(
      /^\[localrec\] <script src="https:\/\/recs\.example\/localrec\.js"> is misconfigured, nothing is rendered: data-public-key is missing .*; data-k '0' must be/,
    );
    const api = h.api();
    api.track({ type: 'view', itemId: '1' }); // nobody handles this one: it must not surface
    await expect(api.recommend()).rejects.toThrow(/misconfigured/);
    await expect(api.ready).rejects.toThrow(/misconfigured/);
    await tick();
    expect(h.starts).toEqual([]);
    expect(el.shadowRoot).toBeNull();
    expect(errors).toHaveBeenCalledTimes(1);
    expect(unhandled).toEqual([]);
  });

  it('a target that is not on the page, or not a selector: one error each; the API still works', async () => {
    const h = harness();
    const controller = createEmbedController(h.env);
    controller.addTag(tag({ ...GOOD, target: '#nowhere' }));
    controller.addTag(tag({ ...GOOD, target: '##' }));
    await h.api().ready;
    await tick();
    expect(logged(errors)).toEqual([
      expect.stringMatching(/data-target '#nowhere' matches no element on this page/),
      expect.stringMatching(/data-target '##' is not a valid CSS selector/),
    ]);
    expect(h.starts).toHaveLength(1);
    expect(await h.api().track({ type: 'view', itemId: '1' })).toEqual({ stored: false });
  });

  it('a recommender that cannot start: logged once, nothing rendered, calls reject without more noise', async () => {
    const h = harness({ fail: new Error('manifest signature does not match the pinned key') });
    const el = target('recs');
    const seen: unknown[] = [];
    createEmbedController(h.env).addTag(tag(GOOD));
    h.api().on('error', (e) => seen.push(e));
    h.api().track({ type: 'view', itemId: '1' });
    h.api().setConsent({ personalization: true });
    await expect(h.api().ready).rejects.toThrow(/pinned key/);
    await tick();
    expect(logged(errors)).toEqual([
      expect.stringMatching(
        /^\[localrec\] could not load recommendations from https:\/\/recs\.example: Error: manifest signature/,
      ),
    ]);
    expect(warnings).not.toHaveBeenCalled();
    expect(seen).toHaveLength(1);
    expect(el.shadowRoot).toBeNull();
    expect(unhandled).toEqual([]);
  });

  it('a call that fails after start is logged and rejected to its caller only', async () => {
    const h = harness();
    createEmbedController(h.env).addTag(tag({ server: SERVER, 'public-key': KEY }));
    await h.api().ready;
    h.fake.recommender.track = async () => {
      throw new Error('bad-input: itemId');
    };
    h.api().track({ type: 'view', itemId: '' }); // unhandled by the page
    await expect(h.api().track({ type: 'view', itemId: '' })).rejects.toThrow(/itemId/);
    await tick();
    expect(logged(warnings)).toEqual([
      expect.stringMatching(/^\[localrec\] track\(\) failed: Error: bad-input/),
      expect.stringMatching(/^\[localrec\] track\(\) failed: Error: bad-input/),
    ]);
    expect(unhandled).toEqual([]);
  });
});

describe('more than one tag', () => {
  it('the script loaded twice: one controller, one recommender, one widget per target', async () => {
    const h = harness();
    const el = target('recs');
    const other = target('more');
    bootEmbed(tag(GOOD), h.env);
    bootEmbed(tag(GOOD), h.env);
    bootEmbed(tag({ ...GOOD, target: '#more', k: '3' }), h.env);
    await h.api().ready;
    await tick();
    expect(h.starts).toHaveLength(1);
    expect(h.fake.recommends).toHaveLength(2); // one widget on #recs, one on #more
    expect(el.shadowRoot?.querySelectorAll('.lr-list')).toHaveLength(1);
    expect(other.shadowRoot?.querySelectorAll('.lr-card')).toHaveLength(3);
    expect(logged(warnings)).toEqual([
      expect.stringMatching(/'#recs' already has a localrec widget; it is not mounted twice/),
    ]);
    expect(errors).not.toHaveBeenCalled();
  });

  it('a second tag with another server or key is ignored with an error', async () => {
    const h = harness();
    target('more');
    bootEmbed(tag({ server: SERVER, 'public-key': KEY }), h.env);
    bootEmbed(tag({ ...GOOD, server: 'https://elsewhere.example', target: '#more' }), h.env);
    await h.api().ready;
    await tick();
    expect(h.starts).toHaveLength(1);
    expect(logged(errors)).toEqual([
      expect.stringMatching(/is ignored: one page has one localrec server and key/),
    ]);
    expect(document.querySelector('#more')?.shadowRoot).toBeNull();
  });

  it('a script that is not a <script> tag (no currentScript) says so and starts nothing', async () => {
    const h = harness();
    bootEmbed(null, h.env);
    await expect(h.api().ready).rejects.toThrow(/classic <script src/);
    expect(h.starts).toEqual([]);
    expect(errors).toHaveBeenCalledTimes(1);
  });
});

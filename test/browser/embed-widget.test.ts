/** The embeddable widget in real Chromium, with a fake recommender: safe rendering, tracking, failure. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type {
  Explanation,
  Recommendation,
  RecommendedItem,
  TrackEvent,
  TrackResult,
} from '../../src/client/api.ts';
import { mountWidget, type WidgetRecommender } from '../../src/embed/widget.ts';

const HOSTILE = '<img src=x onerror="window.__pwnedWidget=1">Heat & <b>Dust</b>';
const HOSTILE_SCRIPT = '<script>window.__pwnedWidget=2</script>';
const PIXEL = 'https://127.0.0.1:9/pixel.png';

function item(id: string, extra: Partial<RecommendedItem> = {}): RecommendedItem {
  return {
    id,
    title: `Title ${id}`,
    categories: ['Drama'],
    score: 1,
    reason: 'popular',
    sources: ['popular'],
    ...extra,
  };
}

interface Fake extends WidgetRecommender {
  tracked: TrackEvent[];
}

function fake(
  items: RecommendedItem[] | (() => Promise<Recommendation>),
  explainText = (id: string) => `Because of ${id}`,
  sourceOf: (id: string) => Explanation['source'] = () => 'template',
): Fake {
  const tracked: TrackEvent[] = [];
  return {
    tracked,
    recommend: async (options) => {
      if (typeof items === 'function') return items();
      return {
        items: items.slice(0, options?.k ?? 10),
        modelVersion: 'test',
        coldStart: true,
        itemsSearched: items.length,
        totalItems: items.length,
        timings: { stateMs: 0, retrieveMs: 0, rerankMs: 0, totalMs: 0 },
      };
    },
    track: async (event): Promise<TrackResult> => {
      tracked.push(event);
      return { stored: true };
    },
    explain: async (itemId): Promise<Explanation> => ({
      itemId,
      source: sourceOf(itemId),
      text: explainText(itemId),
      reason: 'popular',
      sharedCategories: [],
      becauseOf: [],
    }),
  };
}

const mounted: HTMLElement[] = [];
function host(): HTMLElement {
  const el = document.createElement('div');
  el.id = `recs-${mounted.length}`;
  document.body.prepend(el);
  mounted.push(el);
  return el;
}

afterEach(() => {
  for (const el of mounted.splice(0)) el.remove();
  document.querySelectorAll('.test-spacer').forEach((s) => s.remove());
});

const pwned = () => (window as { __pwnedWidget?: number }).__pwnedWidget;
const frames = (n = 2) =>
  new Promise<void>((resolve) => {
    const step = (left: number) => (left ? requestAnimationFrame(() => step(left - 1)) : resolve());
    step(n);
  });

describe('embed widget', () => {
  it('renders k cards with titles, categories, images and explained reasons', async () => {
    const items = ['a', 'b', 'c', 'd', 'e'].map((id) =>
      item(id, { url: `https://shop.example/${id}`, image: PIXEL }),
    );
    const rec = fake(items);
    const target = host();
    const w = mountWidget(target, rec, { k: 3, title: 'For you', dwellMs: 60_000 });
    await w.ready;
    expect(w.root.host).toBe(target);
    expect(target.children.length).toBe(0); // nothing leaks into the light DOM
    const cards = [...w.root.querySelectorAll('.lr-card')];
    expect(cards.length).toBe(3);
    expect(w.root.querySelector('.lr-title')?.textContent).toBe('For you');
    expect(cards.map((c) => c.querySelector('.lr-item-title')?.textContent)).toEqual([
      'Title a',
      'Title b',
      'Title c',
    ]);
    expect(w.root.querySelectorAll('img.lr-image').length).toBe(3);
    await vi.waitFor(() =>
      expect(cards.map((c) => c.querySelector('.lr-reason')?.textContent)).toEqual([
        'Because of a',
        'Because of b',
        'Because of c',
      ]),
    );
    expect(cards.map((c) => c.querySelector('.lr-source')?.textContent)).toEqual([
      'template',
      'template',
      'template',
    ]);
    // No inline style attributes anywhere; styles live in the shadow root.
    expect(w.root.querySelector('[style]')).toBeNull();
    const sheets = w.root.adoptedStyleSheets.length + w.root.querySelectorAll('style').length;
    expect(sheets).toBeGreaterThan(0);
    w.destroy();
  });

  it('labels each reason by who wrote it: the on-device model by name, or the template', async () => {
    const rec = fake(
      [item('a'), item('b')],
      (id) => `Because of ${id}`,
      (id) => (id === 'a' ? { engine: 'wllama', model: 'tiny-llama' } : 'template'),
    );
    const w = mountWidget(host(), rec, { dwellMs: 60_000 });
    await w.ready;
    await vi.waitFor(() =>
      expect([...w.root.querySelectorAll('.lr-source')].map((l) => l.textContent)).toEqual([
        'written on your device by tiny-llama',
        'template',
      ]),
    );
    // Beside its own card's reason, and none before an explanation arrived.
    const first = w.root.querySelector('[data-item-id="a"]');
    expect(first?.querySelector('.lr-reason + .lr-source')?.textContent).toMatch(/tiny-llama/);
    w.destroy();
  });

  it('shows hostile titles, categories and reasons as text; nothing executes', async () => {
    const rec = fake(
      [
        item('x', { title: HOSTILE, categories: [HOSTILE_SCRIPT, 'Drama'] }),
        item('y', { title: HOSTILE_SCRIPT }),
      ],
      () => HOSTILE,
    );
    const w = mountWidget(host(), rec, { title: HOSTILE, dwellMs: 60_000 });
    await w.ready;
    await vi.waitFor(() =>
      expect(w.root.querySelectorAll('.lr-reason')[0]?.textContent).toBe(HOSTILE),
    );
    await new Promise((r) => setTimeout(r, 50));
    expect(w.root.querySelector('img, b, script')).toBeNull();
    expect(w.root.querySelector('.lr-title')?.textContent).toBe(HOSTILE);
    const text = w.root.textContent ?? '';
    expect(text).toContain(HOSTILE);
    expect(text).toContain(HOSTILE_SCRIPT);
    expect(pwned()).toBeUndefined();
    w.destroy();
  });

  it('links only http(s) urls and loads only http(s) images; other cards do nothing on click', async () => {
    const rec = fake([
      item('js', { url: 'javascript:window.__pwnedWidget=3', image: 'javascript:alert(1)' }),
      item('js2', { url: ' JaVa\tScRiPt:window.__pwnedWidget=4' }),
      item('data', {
        url: 'data:text/html,<script>parent.__pwnedWidget=5</script>',
        image: 'data:image/svg+xml,<svg onload="parent.__pwnedWidget=6"/>',
      }),
      item('https', { url: 'https://shop.example/p?q=1', image: PIXEL }),
      item('http', { url: 'http://shop.example/q' }),
    ]);
    const w = mountWidget(host(), rec, { dwellMs: 60_000 });
    await w.ready;
    const card = (id: string) => w.root.querySelector<HTMLElement>(`[data-item-id="${id}"]`);
    for (const id of ['js', 'js2', 'data']) {
      const c = card(id);
      expect(c?.tagName).toBe('DIV');
      expect(c?.querySelector('img')).toBeNull();
      c?.click();
    }
    expect(w.root.querySelectorAll('a').length).toBe(2);
    expect(card('https')?.getAttribute('href')).toBe('https://shop.example/p?q=1');
    expect(card('https')?.querySelector('img')?.getAttribute('src')).toBe(PIXEL);
    expect(card('http')?.getAttribute('href')).toBe('http://shop.example/q');
    await new Promise((r) => setTimeout(r, 50));
    expect(rec.tracked).toEqual([]);
    expect(pwned()).toBeUndefined();
    w.destroy();
  });

  it('tracks a click before following the link', async () => {
    const rec = fake([item('a', { url: 'https://shop.example/a' })]);
    const w = mountWidget(host(), rec, { dwellMs: 60_000 });
    await w.ready;
    const link = w.root.querySelector('a');
    expect(link).not.toBeNull();
    let trackedBeforeDefault = false;
    // Stop the navigation after the widget's listener ran, and check the event was already sent.
    link?.addEventListener('click', (e) => {
      trackedBeforeDefault = rec.tracked.length === 1;
      e.preventDefault();
    });
    link?.click();
    expect(trackedBeforeDefault).toBe(true);
    expect(rec.tracked).toEqual([
      { type: 'click', itemId: 'a', context: { slot: 'widget', position: 0 } },
    ]);
    w.destroy();
  });

  it('tracks a view after the dwell, and none for a card scrolled out before it', async () => {
    const rec = fake([item('a'), item('b')]);
    const w = mountWidget(host(), rec, { dwellMs: 80 });
    await w.ready;
    await vi.waitFor(() => expect(rec.tracked.length).toBe(2), { timeout: 3000, interval: 20 });
    const views = rec.tracked as Extract<TrackEvent, { type: 'view' }>[];
    expect(views.map((v) => v.itemId).sort()).toEqual(['a', 'b']);
    for (const v of views) {
      expect(v.type).toBe('view');
      expect(v.dwellMs).toBeGreaterThanOrEqual(80);
      expect(v.visibility).toBeGreaterThanOrEqual(0.5);
    }
    // Each card is tracked once per list, however long it stays visible.
    await new Promise((r) => setTimeout(r, 200));
    expect(rec.tracked.length).toBe(2);
    w.destroy();

    const rec2 = fake([item('c')]);
    const target = host();
    const w2 = mountWidget(target, rec2, { dwellMs: 400 });
    await w2.ready;
    await frames(3); // the card has been seen by the observer
    const spacer = document.createElement('div');
    spacer.className = 'test-spacer';
    spacer.style.height = '5000px';
    target.before(spacer); // pushes the widget out of the viewport
    await new Promise((r) => setTimeout(r, 700));
    expect(rec2.tracked).toEqual([]);
    w2.destroy();
  });

  it('catches a failing recommender: onError, a quiet empty state, the host page untouched', async () => {
    const before = document.body.innerHTML;
    const errors: unknown[] = [];
    const boom = new Error('boom');
    const rec = fake(() => Promise.reject(boom));
    const target = host();
    const w = mountWidget(target, rec, { onError: (e) => errors.push(e) });
    await w.ready;
    expect(errors).toEqual([boom]);
    expect(w.root.querySelector('.lr-empty')).not.toBeNull();
    expect(w.root.querySelector('.lr-card')).toBeNull();
    expect(target.children.length).toBe(0);

    // A recommender that throws synchronously, returns garbage, or an explain() that fails.
    const sync: WidgetRecommender = {
      recommend: () => {
        throw new Error('sync');
      },
      track: () => Promise.reject(new Error('track')),
      explain: () => Promise.reject(new Error('explain')),
    };
    await w.refresh();
    const w2 = mountWidget(host(), sync, {
      onError: () => {
        throw new Error('even onError throws');
      },
    });
    await w2.ready;
    expect(w2.root.querySelector('.lr-empty')).not.toBeNull();
    const garbage = fake(() => Promise.resolve(null as unknown as Recommendation));
    const errors3: unknown[] = [];
    const w3 = mountWidget(host(), garbage, { onError: (e) => errors3.push(e) });
    await w3.ready;
    expect(w3.root.querySelector('.lr-empty')).not.toBeNull();
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const failingExplain = { ...fake([item('a')]), explain: sync.explain };
    const w4 = mountWidget(host(), failingExplain, { dwellMs: 60_000 });
    await w4.ready;
    await vi.waitFor(() => expect(warn).toHaveBeenCalled());
    expect(w4.root.querySelector('.lr-reason')?.textContent).toBe('Popular right now');
    expect(w4.root.querySelector('.lr-source')).toBeNull(); // no explanation, no author claimed
    warn.mockRestore();
    for (const x of [w, w2, w3, w4]) x.destroy();
    for (const el of mounted.splice(0)) el.remove();
    expect(document.body.innerHTML).toBe(before);
  });

  it('destroy() removes the shadow content and stops tracking', async () => {
    const rec = fake([item('a', { url: 'https://shop.example/a' })]);
    const w = mountWidget(host(), rec, { dwellMs: 150 });
    await w.ready;
    w.destroy();
    expect(w.root.childNodes.length).toBe(0);
    expect(w.root.adoptedStyleSheets.length).toBe(0);
    await new Promise((r) => setTimeout(r, 300));
    expect(rec.tracked).toEqual([]);
    await w.refresh(); // a no-op after destroy
    expect(w.root.childNodes.length).toBe(0);
    w.destroy(); // idempotent
  });
});

/**
 * Rendering of the demo's three lists and its footer. Pure DOM building from data, all text
 * through textContent (see dom.ts); main.ts owns state and events.
 */
import type { RecommendResult } from '../client/ranker-api.ts';
import { describe, type Catalog, type CatalogItem } from './catalog.ts';
import { h } from './dom.ts';

/** Callbacks the rendered lists call. */
export interface ListActions {
  pick: (id: string) => void;
  remove: (id: string) => void;
}

function genres(item: CatalogItem): HTMLElement {
  return h('span', {
    class: 'genres',
    text: item.categories.length ? item.categories.join(' · ') : 'uncategorised',
  });
}

/** Catalog cards: one button per item; items already in the history are marked. */
export function catalogCards(
  items: CatalogItem[],
  inHistory: Set<string>,
  actions: ListActions,
): HTMLElement[] {
  return items.map((item) => {
    const picked = inHistory.has(item.id);
    const button = h(
      'button',
      {
        class: 'card',
        title: picked ? `${item.title} (in your history)` : `Add “${item.title}” to your history`,
        attrs: { type: 'button', 'aria-pressed': String(picked) },
        onClick: () => actions.pick(item.id),
      },
      [
        h('span', { class: 'card-title', text: item.title }),
        genres(item),
        h('span', {
          class: 'card-mark',
          text: picked ? '✓' : '+',
          attrs: { 'aria-hidden': 'true' },
        }),
      ],
    );
    return h('li', {}, [button]);
  });
}

/** The recommendation list: rank, title, genres, score; clicking one adds it to the history. */
export function recommendationRows(
  result: RecommendResult,
  catalog: Catalog,
  actions: ListActions,
): HTMLElement[] {
  const top = Math.max(...result.items.map((r) => Math.abs(r.score)), 1e-9);
  return result.items.map((r, i) => {
    const item = describe(catalog, r.id);
    // The bar is relative to the best score of this list: absolute dot products mean little to a reader.
    const fill = h('span');
    // A style property, not a style attribute, so a strict Content-Security-Policy still allows it.
    fill.style.width = `${Math.round((Math.max(0, r.score) / top) * 100)}%`;
    const bar = h('span', { class: 'score-bar', attrs: { 'aria-hidden': 'true' } }, [fill]);
    return h('li', {}, [
      h(
        'button',
        {
          class: 'rec',
          attrs: { type: 'button' },
          title: `Add “${item.title}” to your history`,
          onClick: () => actions.pick(r.id),
        },
        [
          h('span', { class: 'rank', text: String(i + 1) }),
          h('span', { class: 'rec-body' }, [
            h('span', { class: 'rec-title', text: item.title }),
            genres(item),
          ]),
          h(
            'span',
            { class: 'score' },
            result.coldStart
              ? []
              : [
                  h('span', {
                    class: 'score-value',
                    text: formatScore(r.score),
                    title: String(r.score),
                  }),
                  bar,
                ],
          ),
        ],
      ),
    ]);
  });
}

/** The history, newest first, each with a remove button. */
export function historyRows(
  history: string[],
  catalog: Catalog,
  actions: ListActions,
): HTMLElement[] {
  return [...history].reverse().map((id) => {
    const item = describe(catalog, id);
    return h('li', { class: 'hist' }, [
      h('span', { class: 'hist-body' }, [
        h('span', { class: 'hist-title', text: item.title }),
        genres(item),
      ]),
      h('button', {
        class: 'icon',
        text: '×',
        title: `Remove “${item.title}”`,
        attrs: { type: 'button', 'aria-label': `Remove ${item.title} from your history` },
        onClick: () => actions.remove(id),
      }),
    ]);
  });
}

/** A score in at most ~7 characters: fixed point for ordinary values, exponent otherwise. */
export function formatScore(v: number): string {
  const a = Math.abs(v);
  return a !== 0 && (a >= 1000 || a < 0.001) ? v.toExponential(1) : v.toFixed(3);
}

/** Milliseconds for the footer: sub-millisecond times keep one decimal. */
export function ms(v: number): string {
  return v < 10 ? `${v.toFixed(1)} ms` : `${Math.round(v)} ms`;
}

/** Bytes as MB with one decimal, for the download line. */
export function mb(bytes: number): string {
  return (bytes / 1e6).toFixed(1);
}

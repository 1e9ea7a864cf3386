/**
 * Rendering of the demo's catalog and picks and its footer figures (the recommendations are the
 * embeddable widget's, src/embed/widget.ts). Pure DOM building from data, all text through
 * textContent (see dom.ts); main.ts owns state and events.
 */
import { describe, type Catalog, type CatalogItem } from './catalog.ts';
import { h } from './dom.ts';

/** Callbacks the rendered lists call. */
export interface ListActions {
  pick: (id: string) => void;
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
        title: picked ? `${item.title} (one of your picks)` : `Pick “${item.title}”`,
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

/** The visitor's picks, newest first (ids as given), each with its title and genres. */
export function historyRows(picks: string[], catalog: Catalog): HTMLElement[] {
  return picks.map((id) => {
    const item = describe(catalog, id);
    return h('li', { class: 'hist' }, [
      h('span', { class: 'hist-body' }, [
        h('span', { class: 'hist-title', text: item.title }),
        genres(item),
      ]),
    ]);
  });
}

/** Milliseconds for the footer: sub-millisecond times keep one decimal. */
export function ms(v: number): string {
  return v < 10 ? `${v.toFixed(1)} ms` : `${Math.round(v)} ms`;
}

/** Bytes as MB with one decimal, for the download line. */
export function mb(bytes: number): string {
  return (bytes / 1e6).toFixed(1);
}

/** Event types that count as a pick in the demo (views are what the widget saw, not choices). */
const PICK_TYPES = new Set(['like', 'click', 'add-to-cart', 'purchase', 'rating']);

/**
 * Item ids the visitor picked, newest first, each once, from the memory's events (oldest recorded
 * first; among equal timestamps the later recorded counts as newer).
 */
export function picksFrom(
  events: readonly { type: string; itemId: string; timestamp: number }[],
): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  const newestFirst = [...events].reverse().sort((a, b) => b.timestamp - a.timestamp);
  for (const e of newestFirst) {
    if (!PICK_TYPES.has(e.type) || seen.has(e.itemId)) continue;
    seen.add(e.itemId);
    out.push(e.itemId);
  }
  return out;
}

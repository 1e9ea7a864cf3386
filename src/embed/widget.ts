/**
 * The embeddable recommendation widget: cards (image, title, categories, a short reason and who
 * wrote it) in a Shadow DOM attached to a host element, with view and click tracking of its own.
 *
 * Safe on a hostile catalog and a strict Content-Security-Policy:
 * - item metadata is rendered as text (textContent), never parsed as HTML;
 * - an item's url becomes a link, and its image an <img>, only when it is http(s)
 *   ({@link isSafeLink}); any other card is not a link at all;
 * - styles live only inside the shadow root (a constructed stylesheet, or a <style> element
 *   where constructed sheets are missing); no style attributes, no eval;
 * - nothing it does throws into the host page: every failure goes to `onError` (default
 *   `console.warn`) and the widget falls back to a quiet empty state.
 */
import type { Recommender, RecommendedItem, ReasonCode } from '../client/api.ts';
import { isSafeLink } from '../core/metadata.ts';
import { answerLabel } from './answer-label.ts';

/** What {@link mountWidget} takes besides the host element and the recommender. */
export interface WidgetOptions {
  /** How many cards (default 8). */
  k?: number;
  /** The heading above the cards (default "Recommended for you"); rendered as text. */
  title?: string;
  /** Hears every error the widget caught (default `console.warn`). */
  onError?: (error: unknown) => void;
  /** How long a card must be at least half visible before a `view` is tracked, in ms (default 1000). */
  dwellMs?: number;
  /** The recommendation slot the widget's list belongs to (default `'widget'`). */
  slot?: string;
  /** The item the page shows: it steers the list (`context.itemId`) and is never in it. */
  itemId?: string;
}

/** The part of the recommender the widget uses. */
export type WidgetRecommender = Pick<Recommender, 'recommend' | 'track' | 'explain'>;

/** A mounted widget. */
export interface Widget {
  /** The widget's shadow root (open, so a page or a test can look inside). */
  readonly root: ShadowRoot;
  /** Resolves when the first render is done (it never rejects). */
  readonly ready: Promise<void>;
  /** Asks for a new list and renders it (never rejects; failures go to `onError`). */
  refresh(): Promise<void>;
  /** Stops tracking, disconnects observers and removes everything the widget rendered. */
  destroy(): void;
}

const DEFAULT_K = 8;
const DEFAULT_DWELL_MS = 1000;
const VISIBLE_FRACTION = 0.5;

/** A short reason per reason code, until (or unless) explain() gives a better one. */
const REASON_TEXT: Record<ReasonCode, string> = {
  sasrec: 'Based on what you just viewed',
  'two-tower': 'Based on your history',
  'long-term': 'Matches your long-term interests',
  categories: 'In categories you like',
  popular: 'Popular right now',
  fresh: 'New',
  similar: 'Similar to this item',
  query: 'Matches your request',
  explore: 'Something different',
};

const CSS = `
:host { display: block; contain: content; }
.lr { font: 14px/1.4 system-ui, sans-serif; color: #1d1d1f; }
.lr-title { font-size: 1.1em; font-weight: 600; margin: 0 0 0.5em; }
.lr-list { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr));
  gap: 12px; list-style: none; margin: 0; padding: 0; }
.lr-card { display: flex; flex-direction: column; height: 100%; box-sizing: border-box;
  border: 1px solid #e2e2e6; border-radius: 8px; overflow: hidden; background: #fff;
  color: inherit; text-decoration: none; }
a.lr-card:hover, a.lr-card:focus-visible { border-color: #6b6bd6; outline: none;
  box-shadow: 0 0 0 2px #6b6bd633; }
.lr-image { display: block; width: 100%; aspect-ratio: 3 / 2; object-fit: cover; background: #f0f0f3; }
.lr-body { display: flex; flex-direction: column; gap: 4px; padding: 8px 10px 10px; }
.lr-item-title { font-weight: 600; overflow-wrap: anywhere; }
.lr-categories, .lr-reason { font-size: 0.85em; color: #5f5f66; overflow-wrap: anywhere; }
.lr-source { font-size: 0.75em; color: #8a8a90; }
.lr-empty { color: #8a8a90; font-size: 0.9em; margin: 0; }
@media (max-width: 420px) { .lr-list { grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 8px; } }
`;

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className: string,
  text?: string,
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function isHttpLink(link: unknown): link is string {
  return typeof link === 'string' && link !== '' && isSafeLink(link);
}

function applyStyles(root: ShadowRoot): HTMLStyleElement | null {
  try {
    if ('adoptedStyleSheets' in root && typeof CSSStyleSheet.prototype.replaceSync === 'function') {
      const sheet = new CSSStyleSheet();
      sheet.replaceSync(CSS);
      root.adoptedStyleSheets = [sheet];
      return null;
    }
  } catch {
    // Constructed stylesheets unavailable: fall back to a <style> element.
  }
  const style = document.createElement('style');
  style.textContent = CSS;
  return style;
}

/**
 * Renders a recommendation widget into a shadow root on `target` and starts tracking views and
 * clicks. Never throws for a recommender or rendering failure (those go to `onError`); throws
 * only when `target` is not an element that can host a shadow root.
 *
 * ```ts
 * import { createRecommender } from 'localrec';
 * import { mountWidget } from 'localrec/embed';
 *
 * const recs = await createRecommender({
 *   server: 'https://recs.example',
 *   publicKey: 'BASE64_PUBLIC_KEY',
 * });
 * // On an item page: the list is steered by that item and never shows it.
 * const widget = mountWidget(document.querySelector('#recs')!, recs, { k: 6, itemId: '42' });
 * await widget.ready; // the first list (or the quiet empty state) is on screen
 * widget.destroy(); // e.g. when a single-page app leaves the route
 * ```
 */
export function mountWidget(
  target: Element,
  recommender: WidgetRecommender,
  options: WidgetOptions = {},
): Widget {
  const k = Number.isInteger(options.k) && (options.k ?? 0) > 0 ? (options.k as number) : DEFAULT_K;
  const dwellMs =
    typeof options.dwellMs === 'number' && Number.isFinite(options.dwellMs) && options.dwellMs >= 0
      ? options.dwellMs
      : DEFAULT_DWELL_MS;
  const heading = typeof options.title === 'string' ? options.title : 'Recommended for you';
  const slot = typeof options.slot === 'string' && options.slot ? options.slot : 'widget';
  const context =
    typeof options.itemId === 'string' && options.itemId
      ? { slot, itemId: options.itemId }
      : { slot };
  const userOnError = options.onError;

  const report = (error: unknown): void => {
    try {
      if (userOnError) userOnError(error);
      else console.warn('localrec widget:', error);
    } catch {
      // An onError that throws must not break the host page either.
    }
  };

  const root = target.shadowRoot ?? target.attachShadow({ mode: 'open' });
  root.replaceChildren();
  const styleEl = applyStyles(root);

  let destroyed = false;
  let generation = 0;
  const timers = new Map<Element, ReturnType<typeof setTimeout>>();
  const cardItems = new Map<Element, { id: string; position: number; ratio: number }>();
  let observer: IntersectionObserver | null = null;

  const track = (event: Parameters<WidgetRecommender['track']>[0]): void => {
    try {
      recommender.track(event).catch(report);
    } catch (e) {
      report(e);
    }
  };

  const stopObserving = (): void => {
    observer?.disconnect();
    observer = null;
    for (const t of timers.values()) clearTimeout(t);
    timers.clear();
    cardItems.clear();
  };

  const onIntersect = (entries: IntersectionObserverEntry[]): void => {
    for (const entry of entries) {
      const card = entry.target;
      const info = cardItems.get(card);
      if (!info) continue;
      const visible = entry.isIntersecting && entry.intersectionRatio >= VISIBLE_FRACTION;
      info.ratio = entry.intersectionRatio;
      if (visible && !timers.has(card)) {
        const start = performance.now();
        timers.set(
          card,
          setTimeout(() => {
            timers.delete(card);
            if (destroyed || !cardItems.has(card)) return;
            cardItems.delete(card);
            observer?.unobserve(card);
            track({
              type: 'view',
              itemId: info.id,
              dwellMs: Math.max(dwellMs, Math.round(performance.now() - start)),
              visibility: Math.min(1, Math.max(VISIBLE_FRACTION, info.ratio)),
              context: { slot, position: info.position },
            });
          }, dwellMs),
        );
      } else if (!visible) {
        const t = timers.get(card);
        if (t !== undefined) clearTimeout(t);
        timers.delete(card);
      }
    }
  };

  const frame = (children: Node[]): void => {
    const box = el('section', 'lr');
    box.setAttribute('part', 'widget');
    if (heading) box.append(el('h2', 'lr-title', heading));
    box.append(...children);
    root.replaceChildren(...(styleEl ? [styleEl] : []), box);
  };

  const renderEmpty = (): void => {
    try {
      stopObserving();
      const empty = el('p', 'lr-empty', 'No recommendations right now.');
      empty.setAttribute('part', 'empty');
      frame([empty]);
    } catch (e) {
      report(e);
    }
  };

  const renderCard = (item: RecommendedItem, position: number): HTMLLIElement => {
    const li = el('li', 'lr-item');
    const id = String(item.id);
    const link = isHttpLink(item.url) ? item.url : null;
    const card = link ? el('a', 'lr-card') : el('div', 'lr-card');
    card.dataset.itemId = id;
    card.setAttribute('part', 'card');
    if (link && card instanceof HTMLAnchorElement) {
      card.href = link;
      card.rel = 'noopener';
      card.addEventListener('click', () => {
        // Synchronous, so the event is handed to the recommender before the browser navigates.
        track({ type: 'click', itemId: id, context: { slot, position } });
      });
    }
    if (isHttpLink(item.image)) {
      const img = el('img', 'lr-image');
      img.alt = '';
      img.loading = 'lazy';
      img.decoding = 'async';
      img.referrerPolicy = 'no-referrer';
      img.src = item.image;
      card.append(img);
    }
    const body = el('span', 'lr-body');
    const title = typeof item.title === 'string' ? item.title : id;
    body.append(el('span', 'lr-item-title', title));
    const categories = Array.isArray(item.categories)
      ? item.categories.filter((c) => typeof c === 'string')
      : [];
    if (categories.length) body.append(el('span', 'lr-categories', categories.join(' · ')));
    const reasonText = REASON_TEXT[item.reason] ?? '';
    body.append(el('span', 'lr-reason', reasonText));
    card.append(body);
    li.append(card);
    return li;
  };

  const explainInto = (cards: HTMLElement[], gen: number): void => {
    for (const card of cards) {
      const id = card.dataset.itemId;
      const reason = card.querySelector('.lr-reason');
      if (id === undefined || !reason) continue;
      let pending: Promise<{ text?: unknown; source?: unknown }>;
      try {
        pending = recommender.explain(id);
      } catch (e) {
        report(e);
        continue;
      }
      pending.then((explanation) => {
        if (destroyed || gen !== generation) return;
        if (typeof explanation?.text !== 'string' || !explanation.text) return;
        reason.textContent = explanation.text;
        // Who wrote it, from the SDK's own source: the template or the on-device model.
        const label = el('span', 'lr-source', answerLabel(explanation.source));
        label.setAttribute('part', 'source');
        reason.after(label);
      }, report);
    }
  };

  const refresh = async (): Promise<void> => {
    if (destroyed) return;
    const gen = ++generation;
    try {
      const result = await recommender.recommend({ k, context });
      if (destroyed || gen !== generation) return;
      const items = Array.isArray(result?.items) ? result.items.slice(0, k) : [];
      if (!items.length) {
        renderEmpty();
        return;
      }
      stopObserving();
      const list = el('ul', 'lr-list');
      list.append(...items.map(renderCard));
      frame([list]);
      const cards = [...list.querySelectorAll<HTMLElement>('.lr-card')];
      if (typeof IntersectionObserver === 'function') {
        observer = new IntersectionObserver(onIntersect, { threshold: [0, VISIBLE_FRACTION, 1] });
        cards.forEach((card, position) => {
          const id = card.dataset.itemId;
          if (id === undefined) return;
          cardItems.set(card, { id, position, ratio: 0 });
          observer?.observe(card);
        });
      }
      explainInto(cards, gen);
    } catch (e) {
      report(e);
      if (!destroyed && gen === generation) renderEmpty();
    }
  };

  const destroy = (): void => {
    if (destroyed) return;
    destroyed = true;
    generation++;
    try {
      stopObserving();
      root.replaceChildren();
      if ('adoptedStyleSheets' in root) root.adoptedStyleSheets = [];
    } catch (e) {
      report(e);
    }
  };

  const ready = refresh();
  return { root, ready, refresh, destroy };
}

/**
 * How ask()'s constraints pick items (issue #15): categories, and years or prices where the
 * catalog has them, filter; the free-text query matches item titles word by word. The catalog
 * has no text encoder (the two-tower's item side encodes ids and categories, not words), so the
 * query is a lexical match over titles and categories — a title that shares more of the query's
 * words ranks higher — not a semantic one. Pure: tested in Node.
 */
import type { ItemInfo } from '../../core/types.ts';
import type { AskConstraints } from './constraints.ts';
import { yearOf } from './facets.ts';
import { stem } from './keywords.ts';

/** True for an item the constraints' filters (not the query) keep. */
export function passesFilters(item: ItemInfo, c: Omit<AskConstraints, 'reply'>): boolean {
  if (c.include.length && !item.categories.some((x) => c.include.includes(x))) return false;
  if (c.exclude.length && item.categories.some((x) => c.exclude.includes(x))) return false;
  if (c.yearMin !== undefined || c.yearMax !== undefined) {
    const y = yearOf(item.title);
    if (y === undefined) return false;
    if (c.yearMin !== undefined && y < c.yearMin) return false;
    if (c.yearMax !== undefined && y > c.yearMax) return false;
  }
  if (c.priceMin !== undefined || c.priceMax !== undefined) {
    const p = (item as ItemInfo & { price?: unknown }).price;
    if (typeof p !== 'number') return false;
    if (c.priceMin !== undefined && p < c.priceMin) return false;
    if (c.priceMax !== undefined && p > c.priceMax) return false;
  }
  return true;
}

const terms = (s: string): string[] => [
  ...new Set(
    s
      .split(/[^\p{L}\p{N}]+/u)
      .filter((w) => w.length >= 2)
      .map(stem),
  ),
];

/** The query's words, stemmed, for {@link queryScore}. */
export const queryTerms = (query: string): string[] => terms(query);

/** Share of the query's words found in the item's title or categories (0 … 1). */
export function queryScore(queryWords: readonly string[], item: ItemInfo): number {
  if (queryWords.length === 0) return 0;
  const have = new Set(terms(`${item.title} ${item.categories.join(' ')}`));
  let n = 0;
  for (const w of queryWords) if (have.has(w)) n++;
  return n / queryWords.length;
}

/**
 * The items for a request, best first: those the filters keep and, with a query, that match
 * it; in the funnel's order where the funnel ranked them (the visitor's taste), then by query
 * match and popularity.
 *
 * @param items - the catalog (its metadata as it has arrived).
 * @param funnel - ids the funnel ranked for this request, best first (already filtered).
 * @param exclude - ids never to return (seen, disliked, asked to leave out).
 */
export function rankForRequest(
  items: Iterable<ItemInfo>,
  c: Omit<AskConstraints, 'reply'>,
  funnel: readonly string[],
  exclude: ReadonlySet<string>,
  k: number,
): { id: string; match: number }[] {
  const words = c.query ? queryTerms(c.query) : [];
  const rank = new Map(funnel.map((id, i) => [id, i]));
  const hits: { id: string; match: number; rank: number; popularity: number }[] = [];
  for (const item of items) {
    if (exclude.has(item.id) || !passesFilters(item, c)) continue;
    const match = words.length ? queryScore(words, item) : 1;
    if (match === 0) continue;
    hits.push({
      id: item.id,
      match,
      rank: rank.get(item.id) ?? Infinity,
      popularity: item.popularity ?? 0,
    });
  }
  hits.sort(
    (a, b) =>
      b.match - a.match || a.rank - b.rank || b.popularity - a.popularity || (a.id < b.id ? -1 : 1),
  );
  return hits.slice(0, k).map(({ id, match }) => ({ id, match }));
}

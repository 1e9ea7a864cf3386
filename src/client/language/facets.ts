/**
 * What a request in plain words can be turned into for this catalog (issue #15): its
 * categories, and a year or price range only where the catalog carries one. The allowed values
 * of the ask and onboarding constraints (./constraints.ts) and the keyword parser's vocabulary
 * (./keywords.ts) come from here, so neither can name a category the catalog lacks.
 *
 * Metadata shards carry no year or price field (core/metadata.ts). A year is read from a title
 * that ends in a four-digit year in parentheses — MovieLens's "Heat (1995)" — and offered only
 * when most titles have one; a price is never offered until the metadata has such a field.
 * Pure: tested in Node.
 */
import type { ItemInfo } from '../../core/types.ts';

/** A closed numeric range. */
export interface Range {
  min: number;
  max: number;
}

/** The facets of a catalog. */
export interface CatalogFacets {
  /** Every category, most items first (ties: alphabetical). */
  categories: string[];
  /** The years titles name, when at least {@link YEAR_MIN_SHARE} of the items have one. */
  year?: Range;
  /** Prices, when the catalog has them (none does yet: see the module comment). */
  price?: Range;
}

/** Share of titled items that must end in "(YYYY)" before years are offered. */
export const YEAR_MIN_SHARE = 0.5;

const YEAR_SUFFIX = /\((\d{4})\)\s*$/;

/** The year at the end of a title ("Heat (1995)" → 1995), or undefined. */
export function yearOf(title: string): number | undefined {
  const m = YEAR_SUFFIX.exec(title);
  if (!m) return undefined;
  const y = Number(m[1]);
  return y >= 1800 && y <= 2200 ? y : undefined;
}

/** The title without its trailing "(YYYY)". */
export function bareTitle(title: string): string {
  return title.replace(YEAR_SUFFIX, '').trim();
}

/** Reads the facets of the items (any iterable: the catalog's metadata as it has arrived). */
export function catalogFacets(
  items: Iterable<Pick<ItemInfo, 'title' | 'categories'>>,
): CatalogFacets {
  const count = new Map<string, number>();
  let n = 0;
  let withYear = 0;
  let min = Infinity;
  let max = -Infinity;
  for (const item of items) {
    n++;
    for (const c of new Set(item.categories)) count.set(c, (count.get(c) ?? 0) + 1);
    const y = yearOf(item.title);
    if (y === undefined) continue;
    withYear++;
    if (y < min) min = y;
    if (y > max) max = y;
  }
  const categories = [...count]
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .map(([c]) => c);
  const out: CatalogFacets = { categories };
  if (n > 0 && withYear / n >= YEAR_MIN_SHARE) out.year = { min, max };
  return out;
}

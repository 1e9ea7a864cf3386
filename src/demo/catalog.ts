/**
 * The item catalog the page renders: titles and genres by external id, and search over them.
 * Ranking never needs it (the ranker works on ids); only display does.
 */
import { LocalrecError } from '../core/errors.ts';

/** One catalog entry (the `catalog-json-v1` metadata format). */
export interface CatalogItem {
  id: string;
  title: string;
  categories: string[];
  url?: string;
}

/** Items in catalog order plus a lookup by id. */
export interface Catalog {
  items: CatalogItem[];
  byId: Map<string, CatalogItem>;
}

/** Builds a catalog from entries, dropping padding rows (an empty id) and later duplicates. */
export function catalogFrom(entries: CatalogItem[]): Catalog {
  const byId = new Map<string, CatalogItem>();
  for (const e of entries) if (e.id !== '' && !byId.has(e.id)) byId.set(e.id, e);
  return { items: [...byId.values()], byId };
}

/**
 * Parses the metadata blob: a JSON array of `{ id, title, categories, url? }` in internal
 * index order. Throws `bad-format` naming the first bad entry.
 */
export function parseCatalog(bytes: Uint8Array): Catalog {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new LocalrecError('bad-format', 'the catalog metadata is not valid JSON', { cause: e });
  }
  if (!Array.isArray(json))
    throw new LocalrecError('bad-format', 'the catalog metadata is not a JSON array');
  const entries = json.map((v: unknown, i): CatalogItem => {
    const e = v as Partial<CatalogItem> | null;
    if (!e || typeof e.id !== 'string')
      throw new LocalrecError('bad-format', `catalog entry ${i} has no string id`);
    const item: CatalogItem = {
      id: e.id,
      title: typeof e.title === 'string' && e.title !== '' ? e.title : e.id,
      categories: Array.isArray(e.categories)
        ? e.categories.filter((c): c is string => typeof c === 'string')
        : [],
    };
    if (typeof e.url === 'string') item.url = e.url;
    return item;
  });
  return catalogFrom(entries);
}

/** What to show for an id the catalog lacks (an export without metadata, or a stale history entry). */
export function describe(catalog: Catalog, id: string): CatalogItem {
  return catalog.byId.get(id) ?? { id, title: `item ${id}`, categories: [] };
}

/**
 * Items whose title or a genre contains every word of `query` (case-insensitive), in
 * catalog order. An empty query matches everything.
 */
export function searchCatalog(catalog: Catalog, query: string): CatalogItem[] {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  if (words.length === 0) return catalog.items;
  return catalog.items.filter((item) => {
    const hay = `${item.title} ${item.categories.join(' ')}`.toLowerCase();
    return words.every((w) => hay.includes(w));
  });
}

/**
 * The item catalog the page renders: titles and genres by external id, and search over them.
 * Ranking never needs it (the ranker works on ids); only display does.
 */
import type { ItemInfo } from '../core/types.ts';

/** One catalog entry: an item of the SDK's catalog() (a metadata shard's item, src/core/metadata.ts). */
export type CatalogItem = ItemInfo;

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

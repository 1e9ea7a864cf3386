/**
 * The item catalog the page renders: titles and genres by external id, and search over them.
 * Ranking never needs it (the ranker works on ids); only display does.
 */
import { decodeMetadataShard } from '../core/metadata.ts';
import type { ItemInfo } from '../core/types.ts';

/** One catalog entry, as a metadata shard carries it (src/core/metadata.ts). */
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

/**
 * The catalog from the export's metadata shards (each validated: links are http(s) only),
 * in internal index order. Throws `bad-format` / `unsupported-version` for a bad shard.
 */
export function catalogFromMetadata(blobs: Uint8Array[]): Catalog {
  const shards = blobs.map((b) => decodeMetadataShard(b)).sort((a, b) => a.baseIndex - b.baseIndex);
  return catalogFrom(
    shards.flatMap((s) =>
      s.items.map((item) => (item.title === '' ? { ...item, title: item.id } : item)),
    ),
  );
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

/** Accepted column names (lower-cased) of the generic event files. */
export const EVENT_COLUMNS = {
  user: ['user', 'user_id', 'userid'],
  item: ['item', 'item_id', 'itemid'],
  timestamp: ['timestamp', 'ts', 'time'],
  type: ['type', 'event_type', 'eventtype', 'event'],
} as const;

/** Accepted column names (lower-cased) of the generic item files. */
export const ITEM_COLUMNS = {
  id: ['id', 'item', 'item_id', 'itemid'],
  title: ['title', 'name'],
  categories: ['categories', 'category', 'genres', 'genre', 'tags'],
  url: ['url', 'link'],
  image: ['image', 'image_url', 'imageurl', 'img'],
} as const;

/**
 * Where each column of `table` sits in a CSV header row (-1 when absent): the first header
 * cell matching one of its aliases, compared case-insensitively.
 */
export function findColumns<K extends string>(
  header: readonly string[],
  table: Record<K, readonly string[]>,
): Record<K, number> {
  const names = header.map((h) => h.trim().toLowerCase());
  const out = {} as Record<K, number>;
  for (const k of Object.keys(table) as K[]) out[k] = names.findIndex((h) => table[k].includes(h));
  return out;
}

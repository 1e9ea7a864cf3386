/**
 * Metadata shards: what the page needs to render an item (title, categories, link, image) and
 * what the LLM gets in its prompts, for a contiguous range of internal item indices — the same
 * ranges as the embedding shards, so a page can show the first items before the rest arrive.
 *
 * A metadata shard is UTF-8 JSON (it compresses well with the brotli/gzip the server applies):
 *
 * ```json
 * { "format": "localrec-metadata", "version": 1, "baseIndex": 1,
 *   "items": [ { "id": "50", "title": "Star Wars (1977)", "categories": ["Action"],
 *                "url": "https://…", "image": "https://…" } ] }
 * ```
 * Item k of the shard is internal index `baseIndex + k`. Optional numbers: `popularity`
 * (interactions in the training data) and `addedAt` (first interaction's timestamp), which feed
 * the funnel's popular and fresh sources. `url` and `image` are optional and are
 * always http(s) (absolute, or relative to the page): the writer refuses anything else and the
 * reader rejects a shard that carries it, so a `javascript:` or `data:` link can never reach a
 * page through a shard. Titles are plain text; renderers must insert them as text, never HTML.
 */
import { LocalrecError } from './errors.ts';
import type { ItemInfo } from './types.ts';

/** The `format` field of every metadata shard. */
export const METADATA_FORMAT = 'localrec-metadata';
/** The one metadata shard version this code reads and writes. */
export const METADATA_VERSION = 1;

/** A decoded metadata shard. */
export interface MetadataShard {
  version: number;
  baseIndex: number;
  items: ItemInfo[];
}

/**
 * True when `link` is an http(s) URL, absolute or relative to the page (resolved against an
 * https base). `javascript:`, `data:`, `blob:`, `file:` and anything unparsable are false.
 *
 * ```ts
 * import { isSafeLink } from 'localrec/core';
 *
 * isSafeLink('/items/42'); // true: relative to an http(s) page
 * isSafeLink('javascript:alert(1)'); // false
 * ```
 */
export function isSafeLink(link: string): boolean {
  let u: URL;
  try {
    u = new URL(link, 'https://relative.invalid/');
  } catch {
    return false;
  }
  return u.protocol === 'https:' || u.protocol === 'http:';
}

function checkItem(v: unknown, where: string, fail: (msg: string) => never): ItemInfo {
  const e = v as Partial<ItemInfo> | null;
  if (!e || typeof e !== 'object' || Array.isArray(e)) fail(`${where} is not an object`);
  if (typeof e.id !== 'string' || e.id === '') fail(`${where} has no non-empty string id`);
  if (typeof e.title !== 'string') fail(`${where} (id ${e.id}) has no string title`);
  if (!Array.isArray(e.categories) || !e.categories.every((c) => typeof c === 'string'))
    fail(`${where} (id ${e.id}): categories must be an array of strings`);
  const item: ItemInfo = { id: e.id, title: e.title, categories: [...e.categories] };
  for (const key of ['url', 'image'] as const) {
    const link = e[key];
    if (link === undefined) continue;
    if (typeof link !== 'string') fail(`${where} (id ${e.id}): ${key} must be a string`);
    if (!isSafeLink(link))
      fail(
        `${where} (id ${e.id}): ${key} ${JSON.stringify(link.slice(0, 80))} is not an http(s) link`,
      );
    item[key] = link;
  }
  for (const key of ['popularity', 'addedAt'] as const) {
    const n = e[key];
    if (n === undefined) continue;
    if (typeof n !== 'number' || !Number.isFinite(n) || n < 0)
      fail(`${where} (id ${e.id}): ${key} must be a finite number >= 0`);
    item[key] = n;
  }
  return item;
}

/**
 * Builds one metadata shard blob.
 *
 * ```ts
 * import { encodeMetadataShard } from 'localrec/core';
 *
 * const blob = encodeMetadataShard(1, [
 *   { id: '50', title: 'Star Wars (1977)', categories: ['Action'], url: '/items/50' },
 * ]);
 * ```
 *
 * @param baseIndex - internal index of the first item (items are 1-based; 0 is padding).
 * @throws LocalrecError `bad-input` for an item without id/title/categories or with a link
 *   that is not http(s).
 */
export function encodeMetadataShard(baseIndex: number, items: ItemInfo[]): Uint8Array {
  if (!Number.isInteger(baseIndex) || baseIndex < 0)
    throw new LocalrecError(
      'bad-input',
      `encodeMetadataShard: baseIndex must be a non-negative integer, got ${baseIndex}`,
    );
  const fail = (msg: string): never => {
    throw new LocalrecError('bad-input', `encodeMetadataShard: ${msg}`);
  };
  const clean = items.map((it, k) => checkItem(it, `item ${k}`, fail));
  return new TextEncoder().encode(
    JSON.stringify({
      format: METADATA_FORMAT,
      version: METADATA_VERSION,
      baseIndex,
      items: clean,
    }),
  );
}

/**
 * Parses and validates a metadata shard.
 *
 * ```ts
 * import { decodeMetadataShard } from 'localrec/core';
 *
 * declare const blob: Uint8Array; // a metadata shard whose sha256 checked out
 * const { baseIndex, items } = decodeMetadataShard(blob); // items[k] is index baseIndex + k
 * ```
 *
 * @throws LocalrecError `bad-format` naming the first problem (not UTF-8 JSON, wrong format
 *   tag, bad item, unsafe link); `unsupported-version` for a version other than 1.
 */
export function decodeMetadataShard(bytes: Uint8Array): MetadataShard {
  const fail = (msg: string): never => {
    throw new LocalrecError('bad-format', `metadata shard: ${msg}`);
  };
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (e) {
    throw new LocalrecError('bad-format', 'metadata shard: not UTF-8 JSON', { cause: e });
  }
  const m = json as Record<string, unknown> | null;
  if (!m || typeof m !== 'object' || Array.isArray(m)) fail('not a JSON object');
  if (m!['format'] !== METADATA_FORMAT)
    fail(`format is ${JSON.stringify(m!['format'])}, expected ${JSON.stringify(METADATA_FORMAT)}`);
  if (m!['version'] !== METADATA_VERSION) {
    throw new LocalrecError(
      'unsupported-version',
      `metadata shard version ${String(m!['version'])} is not supported; this reader supports version ${METADATA_VERSION} (update localrec, or re-export the shards)`,
    );
  }
  const baseIndex = m!['baseIndex'];
  if (typeof baseIndex !== 'number' || !Number.isInteger(baseIndex) || baseIndex < 0)
    fail('baseIndex is not a non-negative integer');
  const items = m!['items'];
  if (!Array.isArray(items)) fail('items is not an array');
  return {
    version: METADATA_VERSION,
    baseIndex: baseIndex as number,
    items: (items as unknown[]).map((v, k) => checkItem(v, `item ${k}`, fail)),
  };
}

/**
 * Every item of a set of metadata shards, in index order: shards sorted by `baseIndex`, padding
 * rows (an empty id) and later duplicates dropped, and an empty title replaced by the id (what a
 * page can always show).
 */
export function catalogItems(
  shards: readonly Pick<MetadataShard, 'baseIndex' | 'items'>[],
): ItemInfo[] {
  const byId = new Map<string, ItemInfo>();
  for (const s of [...shards].sort((a, b) => a.baseIndex - b.baseIndex))
    for (const item of s.items)
      if (item.id !== '' && !byId.has(item.id))
        byId.set(item.id, item.title === '' ? { ...item, title: item.id } : item);
  return [...byId.values()];
}

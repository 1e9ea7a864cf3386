import type { ItemInfo } from '../types.ts';
import { ITEM_COLUMNS } from './columns.ts';
import { fail, forEachLine, jsonId, parseJsonObject, pick } from './fields.ts';

/**
 * A generic JSONL item file: one object per line with `id` (same aliases as
 * {@link parseItemsCsv}), optional `title`, `categories` (array of strings or a
 * `|`-separated string), `url`, `image`.
 */
export function parseItemsJsonl(text: string, fileName = 'items.jsonl'): ItemInfo[] {
  const items: ItemInfo[] = [];
  forEachLine(text, (line, no) => {
    const obj = parseJsonObject(line, fileName, no);
    const rawId = pick(obj, ITEM_COLUMNS.id);
    if (rawId === undefined) fail(fileName, no, 'missing field id');
    const id = jsonId(rawId, 'id', fileName, no);
    const str = (aliases: readonly string[], what: string): string | undefined => {
      const v = pick(obj, aliases);
      if (v === undefined || v === null) return undefined;
      if (typeof v !== 'string')
        fail(fileName, no, `${what} must be a string, got ${JSON.stringify(v)}`);
      return v.trim() === '' ? undefined : v.trim();
    };
    const rawCats = pick(obj, ITEM_COLUMNS.categories);
    let categories: string[] = [];
    if (typeof rawCats === 'string') {
      categories = rawCats
        .split('|')
        .map((c) => c.trim())
        .filter((c) => c !== '');
    } else if (Array.isArray(rawCats) && rawCats.every((c) => typeof c === 'string')) {
      categories = (rawCats as string[]).map((c) => c.trim()).filter((c) => c !== '');
    } else if (rawCats !== undefined && rawCats !== null) {
      fail(fileName, no, `categories must be an array of strings or a '|'-separated string`);
    }
    const item: ItemInfo = { id, title: str(ITEM_COLUMNS.title, 'title') ?? id, categories };
    const url = str(ITEM_COLUMNS.url, 'url');
    if (url !== undefined) item.url = url;
    const image = str(ITEM_COLUMNS.image, 'image');
    if (image !== undefined) item.image = image;
    items.push(item);
  });
  return items;
}

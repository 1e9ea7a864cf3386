import { parseCsvRecords } from '../csv.ts';
import { LocalrecError } from '../errors.ts';
import type { ItemInfo } from '../types.ts';
import { findColumns, ITEM_COLUMNS } from './columns.ts';
import { fail, requireId } from './fields.ts';

/**
 * A generic CSV item file: header with `id` (aliases `item`, `item_id`, `itemId`) and
 * optionally `title`, `categories` (`|`-separated), `url`, `image`. Returns the items only.
 */
export function parseItemsCsv(text: string, fileName = 'items.csv'): ItemInfo[] {
  let cols: Record<keyof typeof ITEM_COLUMNS, number> | null = null;
  let width = 0;
  const items: ItemInfo[] = [];
  for (const { fields, line } of parseCsvRecords(text, fileName)) {
    if (cols === null) {
      cols = findColumns(fields, ITEM_COLUMNS);
      width = fields.length;
      if (cols.id < 0)
        fail(fileName, line, `header must name an id column (got: ${fields.join(',')})`);
      continue;
    }
    if (fields.length !== width) {
      fail(
        fileName,
        line,
        `expected ${width} comma-separated fields as in the header, got ${fields.length}`,
      );
    }
    const get = (k: number): string => (k >= 0 ? fields[k]!.trim() : '');
    const id = requireId(fields[cols.id]!, 'id', fileName, line);
    const cats = get(cols.categories);
    const item: ItemInfo = {
      id,
      title: get(cols.title) || id,
      categories:
        cats === ''
          ? []
          : cats
              .split('|')
              .map((c) => c.trim())
              .filter((c) => c !== ''),
    };
    if (get(cols.url) !== '') item.url = get(cols.url);
    if (get(cols.image) !== '') item.image = get(cols.image);
    items.push(item);
  }
  if (cols === null)
    throw new LocalrecError('bad-input', `${fileName}: empty file (a header row is required)`);
  return items;
}

import { parseCsvRecords } from '../csv.ts';
import { LocalrecError } from '../errors.ts';
import type { Dataset, Interaction } from '../types.ts';
import { EVENT_COLUMNS, findColumns } from './columns.ts';
import { baseName, fail, parseTimestamp, requireId } from './fields.ts';

/**
 * A generic CSV event file: a header row naming the columns `user`, `item`, `timestamp`
 * (aliases `user_id`/`userId`, `item_id`/`itemId`, `ts`/`time`; case-insensitive) and
 * optionally `type`; other columns are ignored. RFC 4180 quoting. A timestamp is a
 * number, or an ISO 8601 date (converted to epoch milliseconds; no zone means UTC).
 */
export function parseEventsCsv(text: string, fileName = 'events.csv'): Dataset {
  let header: (Record<keyof typeof EVENT_COLUMNS, number> & { width: number }) | null = null;
  const events: Interaction[] = [];
  for (const { fields, line } of parseCsvRecords(text, fileName)) {
    if (header === null) {
      header = { ...findColumns(fields, EVENT_COLUMNS), width: fields.length };
      const missing = (['user', 'item', 'timestamp'] as const).filter((k) => header![k] < 0);
      if (missing.length > 0) {
        fail(
          fileName,
          line,
          `header must name the columns user, item, timestamp; missing ${missing.join(', ')} (got: ${fields.join(',')})`,
        );
      }
      continue;
    }
    if (fields.length !== header.width) {
      fail(
        fileName,
        line,
        `expected ${header.width} comma-separated fields as in the header, got ${fields.length}`,
      );
    }
    const ev: Interaction = {
      user: requireId(fields[header.user]!, 'user', fileName, line),
      item: requireId(fields[header.item]!, 'item', fileName, line),
      timestamp: parseTimestamp(fields[header.timestamp]!, fileName, line),
    };
    if (header.type >= 0) {
      const type = fields[header.type]!.trim();
      if (type !== '') ev.type = type;
    }
    events.push(ev);
  }
  if (header === null)
    throw new LocalrecError('bad-input', `${fileName}: empty file (a header row is required)`);
  return { name: baseName(fileName), events, items: [] };
}

import type { Dataset, Interaction } from '../types.ts';
import { EVENT_COLUMNS } from './columns.ts';
import {
  baseName,
  fail,
  forEachLine,
  jsonId,
  parseJsonObject,
  parseTimestamp,
  pick,
} from './fields.ts';

/**
 * A generic JSONL event file: one JSON object per line with the fields of
 * {@link parseEventsCsv} (same aliases; ids may be strings or numbers; the timestamp a
 * number, a numeric string or an ISO 8601 date).
 */
export function parseEventsJsonl(text: string, fileName = 'events.jsonl'): Dataset {
  const events: Interaction[] = [];
  forEachLine(text, (line, no) => {
    const obj = parseJsonObject(line, fileName, no);
    const user = pick(obj, EVENT_COLUMNS.user);
    const item = pick(obj, EVENT_COLUMNS.item);
    const ts = pick(obj, EVENT_COLUMNS.timestamp);
    if (user === undefined || item === undefined || ts === undefined) {
      const missing = [
        user === undefined && 'user',
        item === undefined && 'item',
        ts === undefined && 'timestamp',
      ];
      fail(fileName, no, `missing field(s) ${missing.filter(Boolean).join(', ')}`);
    }
    let timestamp: number;
    if (typeof ts === 'number') {
      if (!Number.isFinite(ts)) fail(fileName, no, `timestamp must be finite, got ${ts}`);
      timestamp = ts;
    } else if (typeof ts === 'string') {
      timestamp = parseTimestamp(ts, fileName, no);
    } else {
      fail(fileName, no, `timestamp must be a number or a date string, got ${JSON.stringify(ts)}`);
    }
    const ev: Interaction = {
      user: jsonId(user, 'user', fileName, no),
      item: jsonId(item, 'item', fileName, no),
      timestamp,
    };
    const type = pick(obj, EVENT_COLUMNS.type);
    if (type !== undefined && type !== null) {
      if (typeof type !== 'string')
        fail(fileName, no, `type must be a string, got ${JSON.stringify(type)}`);
      if (type.trim() !== '') ev.type = type.trim();
    }
    events.push(ev);
  });
  return { name: baseName(fileName), events, items: [] };
}

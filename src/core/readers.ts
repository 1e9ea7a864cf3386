/**
 * Pure parsers for the event and item files localrec reads. They take file *text* (the
 * caller reads the file and decodes it; MovieLens files are latin-1, see
 * {@link decodeLatin1}) and return a {@link Dataset}. Every malformed line is reported as
 * `LocalrecError('bad-input', '<file> line <n>: <problem>')` so a user can fix the file.
 * Blank lines are skipped everywhere.
 */
import type { Dataset, Interaction, ItemInfo } from './types.ts';
import { LocalrecError } from './errors.ts';
import { parseCsvRecords } from './csv.ts';

/** The 19 genre flags of MovieLens 100K `u.item`, in file order (as in `u.genre`). */
export const ML100K_GENRES: readonly string[] = [
  'unknown',
  'Action',
  'Adventure',
  'Animation',
  "Children's",
  'Comedy',
  'Crime',
  'Documentary',
  'Drama',
  'Fantasy',
  'Film-Noir',
  'Horror',
  'Musical',
  'Mystery',
  'Romance',
  'Sci-Fi',
  'Thriller',
  'War',
  'Western',
];

/**
 * Decodes ISO-8859-1 bytes: each byte is the code point of the same value. Written out
 * rather than `new TextDecoder('latin1')` because the WHATWG decoder maps that label to
 * windows-1252, which differs in 0x80–0x9F.
 */
export function decodeLatin1(bytes: Uint8Array): string {
  const parts: string[] = [];
  const CHUNK = 0x2000; // keeps the spread argument list well under engine limits
  for (let i = 0; i < bytes.length; i += CHUNK) {
    parts.push(String.fromCharCode(...bytes.subarray(i, i + CHUNK)));
  }
  return parts.join('');
}

/** File names used in error messages of {@link parseMovieLens100k}. */
export interface MovieLens100kNames {
  data?: string;
  item?: string;
}

/**
 * MovieLens 100K: `u.data` (`user\titem\trating\ttimestamp`) and optionally `u.item`
 * (`id|title|release date|video release date|IMDb URL|19 genre flags`). Every rating is
 * an interaction; the rating value itself is dropped (implicit feedback).
 */
export function parseMovieLens100k(
  uData: string,
  uItem: string | null,
  names: MovieLens100kNames = {},
): Dataset {
  const dataName = names.data ?? 'u.data';
  const itemName = names.item ?? 'u.item';
  const events: Interaction[] = [];
  forEachLine(uData, (line, no) => {
    const f = line.split('\t');
    if (f.length !== 4) {
      fail(
        dataName,
        no,
        `expected 4 tab-separated fields (user item rating timestamp), got ${f.length}`,
      );
    }
    events.push(ratingEvent(f, dataName, no));
  });

  const items: ItemInfo[] = [];
  if (uItem !== null) {
    const width = 5 + ML100K_GENRES.length;
    forEachLine(uItem, (line, no) => {
      const f = line.split('|');
      if (f.length !== width) {
        fail(
          itemName,
          no,
          `expected ${width} '|'-separated fields (id title release-date video-release-date url 19 genre flags), got ${f.length}`,
        );
      }
      const id = requireId(f[0]!, 'item id', itemName, no);
      const categories: string[] = [];
      for (let g = 0; g < ML100K_GENRES.length; g++) {
        const flag = f[5 + g]!.trim();
        if (flag === '1') categories.push(ML100K_GENRES[g]!);
        else if (flag !== '0') {
          fail(
            itemName,
            no,
            `genre flag ${g + 1} (${ML100K_GENRES[g]}) must be 0 or 1, got "${flag}"`,
          );
        }
      }
      const item: ItemInfo = { id, title: f[1]!.trim(), categories };
      const url = f[4]!.trim();
      if (url !== '') item.url = url;
      items.push(item);
    });
  }
  return { name: 'ml-100k', events, items };
}

/** File names used in error messages of {@link parseMovieLens1m}. */
export interface MovieLens1mNames {
  ratings?: string;
  movies?: string;
}

/**
 * MovieLens 1M: `ratings.dat` (`user::item::rating::timestamp`) and optionally
 * `movies.dat` (`id::title::Genre1|Genre2`, latin-1).
 */
export function parseMovieLens1m(
  ratingsDat: string,
  moviesDat: string | null,
  names: MovieLens1mNames = {},
): Dataset {
  const ratingsName = names.ratings ?? 'ratings.dat';
  const moviesName = names.movies ?? 'movies.dat';
  const events: Interaction[] = [];
  forEachLine(ratingsDat, (line, no) => {
    const f = line.split('::');
    if (f.length !== 4) {
      fail(
        ratingsName,
        no,
        `expected 4 '::'-separated fields (user item rating timestamp), got ${f.length}`,
      );
    }
    events.push(ratingEvent(f, ratingsName, no));
  });

  const items: ItemInfo[] = [];
  if (moviesDat !== null) {
    forEachLine(moviesDat, (line, no) => {
      const f = line.split('::');
      if (f.length < 3) {
        fail(moviesName, no, `expected 3 '::'-separated fields (id title genres), got ${f.length}`);
      }
      const id = requireId(f[0]!, 'movie id', moviesName, no);
      // A title containing '::' would split further; the id is first and genres last.
      const title = f.slice(1, -1).join('::').trim();
      const genres = f[f.length - 1]!.trim();
      const categories =
        genres === '' || genres === '(no genres listed)'
          ? []
          : genres
              .split('|')
              .map((g) => g.trim())
              .filter((g) => g !== '');
      items.push({ id, title, categories });
    });
  }
  return { name: 'ml-1m', events, items };
}

/**
 * The SASRec text format: `user item` per line, whitespace-separated, already in time
 * order per user. The line index (0-based, blank lines included) becomes the timestamp,
 * which preserves that order through the split's stable sort.
 */
export function parseSasrecText(text: string, fileName = 'sasrec.txt'): Dataset {
  const events: Interaction[] = [];
  forEachLine(text, (line, no) => {
    const f = line.trim().split(/\s+/);
    if (f.length !== 2)
      fail(fileName, no, `expected 2 whitespace-separated fields (user item), got ${f.length}`);
    events.push({ user: f[0]!, item: f[1]!, timestamp: no - 1 });
  });
  return { name: baseName(fileName), events, items: [] };
}

/** Accepted column names (lower-cased) of the generic event files. */
const EVENT_COLUMNS = {
  user: ['user', 'user_id', 'userid'],
  item: ['item', 'item_id', 'itemid'],
  timestamp: ['timestamp', 'ts', 'time'],
  type: ['type', 'event_type', 'eventtype', 'event'],
} as const;

/**
 * A generic CSV event file: a header row naming the columns `user`, `item`, `timestamp`
 * (aliases `user_id`/`userId`, `item_id`/`itemId`, `ts`/`time`; case-insensitive) and
 * optionally `type`; other columns are ignored. RFC 4180 quoting. A timestamp is a
 * number, or an ISO 8601 date (converted to epoch milliseconds; no zone means UTC).
 */
export function parseEventsCsv(text: string, fileName = 'events.csv'): Dataset {
  let header: {
    user: number;
    item: number;
    timestamp: number;
    type: number;
    width: number;
  } | null = null;
  const events: Interaction[] = [];
  for (const { fields, line } of parseCsvRecords(text, fileName)) {
    if (header === null) {
      const names = fields.map((h) => h.trim().toLowerCase());
      const find = (aliases: readonly string[]): number =>
        names.findIndex((h) => aliases.includes(h));
      header = {
        user: find(EVENT_COLUMNS.user),
        item: find(EVENT_COLUMNS.item),
        timestamp: find(EVENT_COLUMNS.timestamp),
        type: find(EVENT_COLUMNS.type),
        width: fields.length,
      };
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

/** Accepted column names (lower-cased) of the generic item files. */
const ITEM_COLUMNS = {
  id: ['id', 'item', 'item_id', 'itemid'],
  title: ['title', 'name'],
  categories: ['categories', 'category', 'genres', 'genre', 'tags'],
  url: ['url', 'link'],
  image: ['image', 'image_url', 'imageurl', 'img'],
} as const;

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
      const names = fields.map((h) => h.trim().toLowerCase());
      const find = (aliases: readonly string[]): number =>
        names.findIndex((h) => aliases.includes(h));
      cols = {
        id: find(ITEM_COLUMNS.id),
        title: find(ITEM_COLUMNS.title),
        categories: find(ITEM_COLUMNS.categories),
        url: find(ITEM_COLUMNS.url),
        image: find(ITEM_COLUMNS.image),
      };
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

// ---------------------------------------------------------------------------------------

function fail(file: string, line: number, problem: string): never {
  throw new LocalrecError('bad-input', `${file} line ${line}: ${problem}`);
}

/** Calls `fn(line, lineNumber)` for each non-blank line; CRLF endings are accepted. */
function forEachLine(text: string, fn: (line: string, no: number) => void): void {
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!;
    if (i === 0 && line.charCodeAt(0) === 0xfeff) line = line.slice(1);
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (line.trim() === '') continue;
    fn(line, i + 1);
  }
}

/** `user item rating timestamp` fields shared by both MovieLens rating formats. */
function ratingEvent(f: string[], file: string, no: number): Interaction {
  const user = requireId(f[0]!, 'user', file, no);
  const item = requireId(f[1]!, 'item', file, no);
  const rating = f[2]!.trim();
  if (rating === '' || !Number.isFinite(Number(rating)))
    fail(file, no, `rating "${rating}" is not a number`);
  const ts = f[3]!.trim();
  const timestamp = Number(ts);
  if (ts === '' || !Number.isFinite(timestamp)) fail(file, no, `timestamp "${ts}" is not a number`);
  return { user, item, timestamp };
}

function requireId(raw: string, what: string, file: string, no: number): string {
  const id = raw.trim();
  if (id === '') fail(file, no, `empty ${what}`);
  return id;
}

const ISO_DATE =
  /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)(Z|[+-]\d{2}(?::?\d{2})?)?)?$/i;

/**
 * A number, or an ISO 8601 date/date-time converted to epoch ms. A date-time without a
 * zone is taken as UTC so that the result does not depend on the machine's time zone.
 */
function parseTimestamp(raw: string, file: string, no: number): number {
  const s = raw.trim();
  if (s === '') fail(file, no, 'empty timestamp');
  const n = Number(s);
  if (Number.isFinite(n)) return n;
  const m = ISO_DATE.exec(s);
  if (m !== null) {
    const [, date, time, zone] = m;
    let zoneIso = zone === undefined ? 'Z' : zone.toUpperCase();
    // Date.parse wants ±HH:MM; accept the ±HHMM and ±HH spellings ISO 8601 also allows.
    if (/^[+-]\d{4}$/.test(zoneIso)) zoneIso = `${zoneIso.slice(0, 3)}:${zoneIso.slice(3)}`;
    else if (/^[+-]\d{2}$/.test(zoneIso)) zoneIso = `${zoneIso}:00`;
    const ms = Date.parse(time === undefined ? `${date}T00:00:00Z` : `${date}T${time}${zoneIso}`);
    if (Number.isFinite(ms)) return ms;
  }
  fail(file, no, `timestamp "${s}" is neither a number nor an ISO 8601 date`);
}

function parseJsonObject(line: string, file: string, no: number): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch (e) {
    fail(file, no, `invalid JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    fail(file, no, 'expected a JSON object');
  return v as Record<string, unknown>;
}

/** The value of the first key matching one of `aliases`, compared case-insensitively. */
function pick(obj: Record<string, unknown>, aliases: readonly string[]): unknown {
  for (const key of Object.keys(obj)) {
    if (aliases.includes(key.toLowerCase())) return obj[key];
  }
  return undefined;
}

function jsonId(v: unknown, what: string, file: string, no: number): string {
  if (typeof v === 'string') return requireId(v, what, file, no);
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  fail(file, no, `${what} must be a string or a number, got ${JSON.stringify(v)}`);
}

/** `dir/ratings.csv` → `ratings`: a dataset name from the file name, without Node's path. */
function baseName(fileName: string): string {
  const base = fileName.replace(/^.*[\\/]/, '');
  const dot = base.lastIndexOf('.');
  return dot > 0 ? base.slice(0, dot) : base || 'events';
}

/**
 * What every reader parses fields with: lines, ids, timestamps, JSON objects, each failing as
 * `LocalrecError('bad-input', '<file> line <n>: <problem>')`.
 */
import { LocalrecError } from '../errors.ts';

/** Throws the readers' error for one line of one file. */
export function fail(file: string, line: number, problem: string): never {
  throw new LocalrecError('bad-input', `${file} line ${line}: ${problem}`);
}

/** Calls `fn(line, lineNumber)` for each non-blank line; CRLF endings are accepted. */
export function forEachLine(text: string, fn: (line: string, no: number) => void): void {
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!;
    if (i === 0 && line.charCodeAt(0) === 0xfeff) line = line.slice(1);
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (line.trim() === '') continue;
    fn(line, i + 1);
  }
}

/** A trimmed, non-empty id. */
export function requireId(raw: string, what: string, file: string, no: number): string {
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
export function parseTimestamp(raw: string, file: string, no: number): number {
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

/** One JSONL line as an object (not an array or a scalar). */
export function parseJsonObject(line: string, file: string, no: number): Record<string, unknown> {
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
export function pick(obj: Record<string, unknown>, aliases: readonly string[]): unknown {
  for (const key of Object.keys(obj)) {
    if (aliases.includes(key.toLowerCase())) return obj[key];
  }
  return undefined;
}

/** A JSON id: a non-empty string, or a finite number as its decimal text. */
export function jsonId(v: unknown, what: string, file: string, no: number): string {
  if (typeof v === 'string') return requireId(v, what, file, no);
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  fail(file, no, `${what} must be a string or a number, got ${JSON.stringify(v)}`);
}

/** `dir/ratings.csv` → `ratings`: a dataset name from the file name, without Node's path. */
export function baseName(fileName: string): string {
  const base = fileName.replace(/^.*[\\/]/, '');
  const dot = base.lastIndexOf('.');
  return dot > 0 ? base.slice(0, dot) : base || 'events';
}

/**
 * The visitor's events: their types, and the two checks every event passes — one when a page
 * tracks it (strict: a bad event is the caller's bug, so it throws a `bad-input` that names the
 * field), one when a stored record is read back (lenient: a record a buggy older version wrote
 * or someone edited in devtools is skipped and reported, never thrown at the page).
 *
 * Pure: no IndexedDB, no DOM, so it runs and is tested in Node.
 */
import { LocalrecError } from '../../core/errors.ts';

/** Every event type, in the order the SDK documents them. */
export const EVENT_TYPES = [
  'view',
  'click',
  'add-to-cart',
  'purchase',
  'like',
  'dislike',
  'rating',
] as const;

export type EventType = (typeof EVENT_TYPES)[number];

/** Ratings are stars: 1 to 5, fractions allowed (4.5). */
export const RATING_MIN = 1;
export const RATING_MAX = 5;

/** Longest item id accepted; ids are catalog keys, so anything longer is a caller's mistake. */
export const MAX_ITEM_ID_LENGTH = 512;
/** At most this many context keys, each value a string of at most {@link MAX_CONTEXT_STRING}. */
export const MAX_CONTEXT_KEYS = 16;
export const MAX_CONTEXT_STRING = 256;

/**
 * Where an event happened (`{ page: 'home', slot: 'recs', position: 3 }`). Flat and small on
 * purpose: it is stored with every event, and events are bounded by count, not by bytes.
 */
export type EventContext = Record<string, string | number | boolean>;

interface EventBase {
  itemId: string;
  /** Milliseconds since the epoch; default: the memory's clock (`now()`). */
  timestamp?: number;
  context?: EventContext;
}

/** The item was shown. `dwellMs`: how long it stayed visible; `visibility`: the visible fraction (0–1). */
export interface ViewEvent extends EventBase {
  type: 'view';
  dwellMs?: number;
  visibility?: number;
}

/** An interaction that carries nothing but its type. */
export interface PlainEvent extends EventBase {
  type: 'click' | 'add-to-cart' | 'purchase' | 'like' | 'dislike';
}

/** An explicit rating of {@link RATING_MIN}..{@link RATING_MAX} stars. */
export interface RatingEvent extends EventBase {
  type: 'rating';
  value: number;
}

/** What a page passes to `track()`. */
export type TrackEvent = ViewEvent | PlainEvent | RatingEvent;

/** An event as stored: the timestamp is filled in and the event belongs to a session. */
export interface StoredEvent {
  /** Insertion order, assigned by IndexedDB (absent only on an event not yet written). */
  seq?: number;
  type: EventType;
  itemId: string;
  timestamp: number;
  sessionId: string;
  dwellMs?: number;
  visibility?: number;
  /** The rating, for `type: 'rating'` only. */
  value?: number;
  context?: EventContext;
}

/** A view shorter than this is an impression, not interest. */
export const IMPRESSION_MS = 1_000;

/**
 * True for a `view` that is only an impression: shorter than {@link IMPRESSION_MS}, or tracked
 * in a recommendation list (`context.slot`, as the widget tracks its cards) however long it
 * was visible — a card seen in a list is not the item looked at (client/funnel/interest.ts).
 */
export const isImpression = (e: Pick<StoredEvent, 'type' | 'dwellMs' | 'context'>): boolean =>
  e.type === 'view' &&
  ((e.dwellMs !== undefined && e.dwellMs < IMPRESSION_MS) ||
    typeof e.context?.['slot'] === 'string');

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

const isEventType = (v: unknown): v is EventType =>
  typeof v === 'string' && (EVENT_TYPES as readonly string[]).includes(v);

/**
 * Checks one stored or tracked event's fields (everything except `seq` and `sessionId`) and
 * returns the first problem in words, or null. Shared by the strict and the lenient check so
 * both agree on what a valid event is.
 */
function eventProblem(e: Record<string, unknown>): string | null {
  if (!isEventType(e.type))
    return `unknown event type ${JSON.stringify(e.type)} (expected one of ${EVENT_TYPES.join(', ')})`;
  if (typeof e.itemId !== 'string' || e.itemId.length === 0)
    return 'itemId is missing (a non-empty string is required)';
  if (e.itemId.length > MAX_ITEM_ID_LENGTH)
    return `itemId is ${e.itemId.length} characters long (at most ${MAX_ITEM_ID_LENGTH})`;
  if (e.timestamp !== undefined && !(Number.isFinite(e.timestamp) && (e.timestamp as number) >= 0))
    return `timestamp must be a finite number of ms ≥ 0, got ${String(e.timestamp)}`;
  if (e.type === 'view') {
    if (e.dwellMs !== undefined && !(Number.isFinite(e.dwellMs) && (e.dwellMs as number) >= 0))
      return `dwellMs must be a finite number ≥ 0, got ${String(e.dwellMs)}`;
    const v = e.visibility;
    if (v !== undefined && !(typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= 1))
      return `visibility must be a finite fraction in [0, 1], got ${String(v)}`;
  } else if (e.dwellMs !== undefined || e.visibility !== undefined) {
    return `dwellMs and visibility belong to 'view' events only, not '${e.type}'`;
  }
  if (e.type === 'rating') {
    const v = e.value;
    if (typeof v !== 'number' || !Number.isFinite(v))
      return `a rating needs a finite numeric value, got ${String(v)}`;
    if (v < RATING_MIN || v > RATING_MAX)
      return `rating value ${v} is out of range [${RATING_MIN}, ${RATING_MAX}]`;
  } else if (e.value !== undefined) {
    return `value belongs to 'rating' events only, not '${e.type}'`;
  }
  if (e.context !== undefined) return contextProblem(e.context);
  return null;
}

function contextProblem(c: unknown): string | null {
  if (!isObject(c)) return 'context must be a plain object of strings, numbers and booleans';
  const keys = Object.keys(c);
  if (keys.length > MAX_CONTEXT_KEYS)
    return `context has ${keys.length} keys (at most ${MAX_CONTEXT_KEYS})`;
  for (const k of keys) {
    const v = c[k];
    if (typeof v === 'string') {
      if (v.length > MAX_CONTEXT_STRING)
        return `context.${k} is ${v.length} characters long (at most ${MAX_CONTEXT_STRING})`;
    } else if (typeof v === 'number') {
      if (!Number.isFinite(v)) return `context.${k} must be finite, got ${v}`;
    } else if (typeof v !== 'boolean') {
      return `context.${k} must be a string, number or boolean, got ${typeof v}`;
    }
  }
  return null;
}

/**
 * Validates what a page passed to `track()` and returns the event to store (minus its session).
 * Only known fields are kept, so a caller's extra properties never reach the database.
 *
 * @throws LocalrecError `bad-input` naming the first wrong field.
 */
export function validateTrackEvent(input: unknown, now: number): Omit<StoredEvent, 'sessionId'> {
  if (!isObject(input))
    throw new LocalrecError('bad-input', 'track() needs an event object like { type, itemId }');
  const problem = eventProblem(input);
  if (problem) throw new LocalrecError('bad-input', `track(): ${problem}`);
  const e = input as unknown as TrackEvent;
  const out: Omit<StoredEvent, 'sessionId'> = {
    type: e.type,
    itemId: e.itemId,
    timestamp: e.timestamp ?? now,
  };
  if (e.type === 'view') {
    if (e.dwellMs !== undefined) out.dwellMs = e.dwellMs;
    if (e.visibility !== undefined) out.visibility = e.visibility;
  }
  if (e.type === 'rating') out.value = e.value;
  if (e.context !== undefined) out.context = { ...e.context };
  return out;
}

/**
 * Checks a record read back from the events store. Returns the event, or the reason it is
 * unusable (the caller skips and reports it). A stored event must have its timestamp, session
 * and, unless it was never written, its `seq`.
 */
export function readEventRecord(raw: unknown): StoredEvent | string {
  if (!isObject(raw)) return 'not an object';
  const problem = eventProblem(raw);
  if (problem) return problem;
  if (raw.timestamp === undefined) return 'timestamp is missing';
  if (typeof raw.sessionId !== 'string' || raw.sessionId.length === 0)
    return 'sessionId is missing';
  if (raw.seq !== undefined && !Number.isSafeInteger(raw.seq)) return 'seq is not an integer';
  return pickEvent(raw as unknown as StoredEvent);
}

/** A copy of a checked event with only the fields an event has (strangers are dropped). */
function pickEvent(e: StoredEvent): StoredEvent {
  const out: StoredEvent = {
    type: e.type,
    itemId: e.itemId,
    timestamp: e.timestamp,
    sessionId: e.sessionId,
  };
  if (e.seq !== undefined) out.seq = e.seq;
  if (e.dwellMs !== undefined) out.dwellMs = e.dwellMs;
  if (e.visibility !== undefined) out.visibility = e.visibility;
  if (e.value !== undefined) out.value = e.value;
  if (e.context !== undefined) out.context = { ...e.context };
  return out;
}

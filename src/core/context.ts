/**
 * Request-context features: what the two-tower user tower knows about the moment of a
 * recommendation besides the history — the visitor's local hour and weekday, how long since
 * their previous event, and that event's type. Pure: the trainer (Node), the ranker (worker)
 * and the tests compute the same vector with the same function.
 *
 * **Time.** Hour and weekday are *local* time: the visitor's wall clock is what behaviour
 * follows (evenings, weekends), not UTC. In the browser that is the visitor's own offset
 * (`Date#getTimezoneOffset`). Event logs usually hold UTC instants (MovieLens: unix seconds)
 * without the visitor's zone, so training turns them into local time with one configured offset
 * for the whole log ({@link ContextSpec.trainingUtcOffsetMinutes}, the site's main zone; 0 = take
 * UTC as local). Training and serving agree exactly for visitors in that zone, and for the
 * others serving uses the right local time while training used an approximation.
 *
 * **The vector**, features in {@link ContextSpec.features} order:
 * - `hour` (2): sin and cos of 2π·h/24, h = local hour of day with its fraction (23:30 → 23.5),
 *   so 23:59 and 00:00 are neighbours;
 * - `weekday` (7): one-hot of the local day of the week, Sunday first (`Date#getUTCDay` order);
 * - `gap` (1): log(1 + s) / log(1 + one year in seconds), s = seconds from the previous event to
 *   now: 0 for the same second, about 0.5 for an hour, 1 for a year (capped at 2 against absurd
 *   timestamps; an unknown previous event counts as s = 0);
 * - `type` (1 + eventTypes.length): one-hot of the previous event's type, slot 0 = a type not in
 *   the vocabulary, or none.
 */
import { LocalrecError } from './errors.ts';

/** The context features this version knows, in no particular order. */
export const CONTEXT_FEATURES = ['hour', 'weekday', 'gap', 'type'] as const;

/** Other names logs use for the SDK's event types (after lower-casing, `_`/space → `-`). */
const EVENT_TYPE_SYNONYMS: Readonly<Record<string, string>> = {
  'page-view': 'view',
  pageview: 'view',
  'product-view': 'view',
  'detail-view': 'view',
  detail: 'view',
  addtocart: 'add-to-cart',
  'add-cart': 'add-to-cart',
  cart: 'add-to-cart',
  'add-to-basket': 'add-to-cart',
  addtobasket: 'add-to-cart',
  basket: 'add-to-cart',
  buy: 'purchase',
  order: 'purchase',
  transaction: 'purchase',
  checkout: 'purchase',
  favorite: 'like',
  favourite: 'like',
  fav: 'like',
  'thumbs-up': 'like',
  'thumbs-down': 'dislike',
  rate: 'rating',
  rated: 'rating',
  clicked: 'click',
  viewed: 'view',
  purchased: 'purchase',
  liked: 'like',
  disliked: 'dislike',
};

/**
 * The one name an event type goes by in the `type` context feature, in training and in the
 * browser alike: lower case, `_` and spaces as `-`, and the common synonyms of the SDK's types
 * (`addtocart`, `add_to_cart`, `cart` → `add-to-cart`; `transaction`, `buy` → `purchase`;
 * `pageview` → `view`; …). So a log that says `transaction` and a page that tracks `purchase`
 * mean the same slot.
 */
export function canonicalEventType(type: string): string {
  const t = type
    .trim()
    .toLowerCase()
    .replace(/[\s_]+/g, '-');
  return EVENT_TYPE_SYNONYMS[t] ?? t;
}

export type ContextFeature = (typeof CONTEXT_FEATURES)[number];

/** Which context features a model takes: stored in its config (checkpoint and manifest). */
export interface ContextSpec {
  /** Features in vector order, each at most once. */
  features: ContextFeature[];
  /** Vocabulary of the `type` feature (slot k+1 is eventTypes[k]); empty without `type`. */
  eventTypes: string[];
  /**
   * Minutes east of UTC that turned the training log's instants into local time (e.g. −300 for
   * US Eastern standard time; 0 = UTC taken as local). For the record: serving always uses the
   * visitor's own offset.
   */
  trainingUtcOffsetMinutes: number;
}

/** The moment a user vector is computed for. */
export interface RequestContext {
  /** Now, in milliseconds since the epoch (in training: the predicted event's time). */
  time: number;
  /** Minutes east of UTC of the visitor's clock at `time` (see {@link localUtcOffsetMinutes}). */
  utcOffsetMinutes: number;
  /** The previous event (the history's last), ms since the epoch; null or absent = unknown. */
  previousTime?: number | null;
  /** The previous event's type; null or absent = none. */
  previousType?: string | null;
}

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;
/** log(1 + one year in seconds): a gap of a year encodes as 1. */
const GAP_SCALE = Math.log1p(365 * 86_400);
const GAP_MAX = 2;

/** Width of one feature in the vector. */
function featureWidth(f: ContextFeature, spec: ContextSpec): number {
  switch (f) {
    case 'hour':
      return 2;
    case 'weekday':
      return 7;
    case 'gap':
      return 1;
    case 'type':
      return 1 + spec.eventTypes.length;
  }
}

/** Length of the context vector of a spec (0 for none). */
export function contextWidth(spec: ContextSpec | null | undefined): number {
  if (!spec) return 0;
  return spec.features.reduce((a, f) => a + featureWidth(f, spec), 0);
}

/** Minutes east of UTC of this machine's clock at `timeMs` (e.g. +60 in Paris in winter). */
export function localUtcOffsetMinutes(timeMs: number): number {
  // getTimezoneOffset() is UTC − local, in minutes; `|| 0` turns −0 into 0.
  return -new Date(timeMs).getTimezoneOffset() || 0;
}

/**
 * The context vector of `ctx` under `spec`, written into `out` at `at` (a fresh array by
 * default). Returns `out`.
 *
 * @throws LocalrecError `bad-input` for a non-finite time or offset.
 */
export function contextVector(
  spec: ContextSpec,
  ctx: RequestContext,
  out: Float32Array = new Float32Array(contextWidth(spec)),
  at = 0,
): Float32Array {
  if (!Number.isFinite(ctx.time) || !Number.isFinite(ctx.utcOffsetMinutes))
    throw new LocalrecError(
      'bad-input',
      `context: time and utcOffsetMinutes must be finite numbers, got ${ctx.time} and ${ctx.utcOffsetMinutes}`,
    );
  const local = ctx.time + ctx.utcOffsetMinutes * 60_000;
  let k = at;
  for (const f of spec.features) {
    switch (f) {
      case 'hour': {
        const h = (((local % DAY_MS) + DAY_MS) % DAY_MS) / HOUR_MS; // [0, 24)
        out[k] = Math.sin((2 * Math.PI * h) / 24);
        out[k + 1] = Math.cos((2 * Math.PI * h) / 24);
        break;
      }
      case 'weekday':
        out.fill(0, k, k + 7);
        out[k + new Date(local).getUTCDay()] = 1;
        break;
      case 'gap': {
        const p = ctx.previousTime;
        const s = p === null || p === undefined || !Number.isFinite(p) ? 0 : (ctx.time - p) / 1000;
        out[k] = Math.min(GAP_MAX, Math.log1p(Math.max(0, s)) / GAP_SCALE);
        break;
      }
      case 'type': {
        const n = 1 + spec.eventTypes.length;
        out.fill(0, k, k + n);
        const t = ctx.previousType;
        // Both sides canonical (a spec written before canonical names still matches).
        const c = t === null || t === undefined ? null : canonicalEventType(t);
        const slot =
          c === null ? -1 : spec.eventTypes.findIndex((e) => canonicalEventType(e) === c);
        out[k + 1 + slot] = 1; // slot −1 → index 0: unknown or none
        break;
      }
    }
    k += featureWidth(f, spec);
  }
  return out;
}

/**
 * Reads a context spec from JSON (a manifest's or checkpoint's config.context): null when
 * absent (a model without context), else a checked copy.
 *
 * @throws LocalrecError `bad-format` naming what is wrong, e.g. a feature this version does not know.
 */
export function parseContextSpec(v: unknown, where = 'config.context'): ContextSpec | null {
  if (v === undefined || v === null) return null;
  const bad = (m: string): never => {
    throw new LocalrecError('bad-format', `${where}: ${m}`);
  };
  if (typeof v !== 'object' || Array.isArray(v)) bad('is not an object');
  const o = v as Record<string, unknown>;
  const { features, eventTypes, trainingUtcOffsetMinutes } = o;
  if (!Array.isArray(features) || features.length === 0) bad('features must be a non-empty list');
  const seen = new Set<string>();
  for (const f of features as unknown[]) {
    if (!CONTEXT_FEATURES.includes(f as ContextFeature))
      bad(
        `unknown feature ${JSON.stringify(f)}; this version knows ${CONTEXT_FEATURES.join(', ')} (a newer localrec made this model?)`,
      );
    if (seen.has(f as string)) bad(`feature ${String(f)} is listed twice`);
    seen.add(f as string);
  }
  if (!Array.isArray(eventTypes) || !eventTypes.every((t) => typeof t === 'string'))
    bad('eventTypes must be a list of strings');
  if (new Set(eventTypes as string[]).size !== (eventTypes as string[]).length)
    bad('eventTypes has duplicates');
  if (!seen.has('type') && (eventTypes as string[]).length > 0)
    bad('eventTypes is set but the type feature is not used');
  if (typeof trainingUtcOffsetMinutes !== 'number' || !Number.isFinite(trainingUtcOffsetMinutes))
    bad('trainingUtcOffsetMinutes must be a number');
  return {
    features: [...(features as ContextFeature[])],
    eventTypes: [...(eventTypes as string[])],
    trainingUtcOffsetMinutes: trainingUtcOffsetMinutes as number,
  };
}

/**
 * Milliseconds per unit of a log's timestamps when they are clock times: 1000 when they look
 * like unix seconds (all within 1973–5138), 1 when they look like epoch milliseconds (1973 on),
 * null otherwise (line numbers, step counters: no time of day to read). Empty → null.
 */
export function clockScale(timestamps: Iterable<number>): 1000 | 1 | null {
  let lo = Infinity;
  let hi = -Infinity;
  for (const t of timestamps) {
    if (t < lo) lo = t;
    if (t > hi) hi = t;
  }
  if (!(lo <= hi)) return null;
  if (lo >= 1e8 && hi < 1e11) return 1000;
  if (lo >= 1e11 && hi < 1e14) return 1;
  return null;
}

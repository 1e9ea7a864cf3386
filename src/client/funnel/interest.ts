/**
 * The visitor's interests as the funnel reads them, computed from their own events: what they
 * looked at (short-term: the open session; long-term: the profile vector and category
 * affinities), what they disliked, and how they answered earlier lists (clicks and skips for
 * the exploration bandit). Pure: no IndexedDB, no ranker, so every rule is tested in Node.
 *
 * Signals, and why:
 * - A `view` with `dwellMs` under {@link IMPRESSION_MS} is an impression (the item was on
 *   screen, e.g. in a list): it marks the item shown, but is not interest. So is a `view` whose
 *   context names the recommendation list it was shown in (`context.slot`, as the widget
 *   tracks its cards), however long it stayed visible: a card seen in a list is not the item
 *   looked at — otherwise every list would feed itself back as the visitor's interest. Any
 *   other event except `dislike` is interest.
 * - An item is disliked when its latest like/dislike is a dislike (a later like clears it), or
 *   when the profile's compacted history says so and no later like does.
 * - Engagement (a click for the bandit): click, add-to-cart, purchase, like, a rating ≥ 4, or a
 *   view of at least {@link ENGAGED_DWELL_MS}.
 */
import type { BetaPosterior } from '../../core/bandit.ts';
import { updatePosterior } from '../../core/bandit.ts';
import { IMPRESSION_MS, isImpression, type EventType, type StoredEvent } from '../memory/events.ts';

export { IMPRESSION_MS, isImpression };
import { categoryAffinity, DEFAULT_EVENT_WEIGHTS, type Profile } from '../memory/profile.ts';

/** A view at least this long counts as engagement for the bandit. */
export const ENGAGED_DWELL_MS = 10_000;
/** Longest history the funnel reads (as memory's `history()` default). */
export const HISTORY_LIMIT = 200;
/** Half-life of interest over time, for the long-term vector and category affinities. */
export const INTEREST_HALF_LIFE_MS = 14 * 24 * 3_600_000;
/** The long-term vector's step for an event of weight 1 (a view); heavier events step further. */
export const LONG_TERM_STEP = 0.15;
/** Per-type weights of the long-term vector; negative pushes the profile away from the item. */
export const LONG_TERM_WEIGHTS: Readonly<Record<EventType, number>> = {
  view: 1,
  click: 2,
  'add-to-cart': 3,
  purchase: 4,
  like: 4,
  dislike: -2,
  rating: 1, // scaled by (value - 3); 3 stars is neutral
};
/** Per-type weights of category affinity: memory's defaults, so compacted events weigh the same. */
export const AFFINITY_WEIGHTS: Readonly<Record<EventType, number>> = DEFAULT_EVENT_WEIGHTS;
/** Affinity is tanh(sum / this): about 4 weighted events make a clear preference. */
export const AFFINITY_SCALE = 4;
/** Bandit counts shrink by this much per update, so tastes can change. */
export const BANDIT_DECAY = 0.98;

/** True for events that say the visitor is interested in the item. */
export const isInterest = (e: Pick<StoredEvent, 'type' | 'dwellMs' | 'context'>): boolean =>
  e.type !== 'dislike' && !isImpression(e);

/** True for events that count as engagement (a click) for the exploration bandit. */
export function isEngagement(
  e: Pick<StoredEvent, 'type' | 'dwellMs' | 'value' | 'context'>,
): boolean {
  switch (e.type) {
    case 'click':
    case 'add-to-cart':
    case 'purchase':
    case 'like':
      return true;
    case 'rating':
      return (e.value ?? 0) >= 4;
    case 'view':
      return !isImpression(e) && (e.dwellMs ?? 0) >= ENGAGED_DWELL_MS;
    default:
      return false;
  }
}

/** What the funnel needs to know about the visitor now. */
export interface InterestView {
  /** Interest items, oldest → newest, repeats in a row collapsed, disliked items left out. */
  history: string[];
  /** The same for the open session only (empty when the last event is older than the gap). */
  session: string[];
  /** Timestamp of the latest interest event, or null. */
  lastInterestAt: number | null;
  /** Type of the latest interest event (`click`, `purchase`, …), or null. */
  lastInterestType: string | null;
  /** Items the visitor interacted with (interest or dislike; impressions do not count). */
  seen: Set<string>;
  disliked: Set<string>;
}

/**
 * Reads the visitor's events (oldest first) into an {@link InterestView}.
 *
 * @param profileDisliked - items disliked in events already compacted into the profile.
 * @param gapMs - inactivity that ends a session.
 */
export function interestFrom(
  events: readonly StoredEvent[],
  profileDisliked: readonly string[],
  now: number,
  gapMs: number,
): InterestView {
  const disliked = new Set(profileDisliked);
  const seen = new Set<string>(profileDisliked);
  for (const e of events) {
    if (e.type === 'dislike') disliked.add(e.itemId);
    else if (e.type === 'like') disliked.delete(e.itemId);
    if (!isImpression(e)) seen.add(e.itemId);
  }
  const interest = events.filter((e) => isInterest(e) && !disliked.has(e.itemId));
  const collapse = (list: readonly StoredEvent[]): string[] => {
    const out: string[] = [];
    for (const e of list) if (out[out.length - 1] !== e.itemId) out.push(e.itemId);
    return out.slice(-HISTORY_LIMIT);
  };
  const last = events[events.length - 1];
  const open = last !== undefined && now - last.timestamp <= gapMs;
  return {
    history: collapse(interest),
    session: open ? collapse(interest.filter((e) => e.sessionId === last.sessionId)) : [],
    lastInterestAt: interest.length ? interest[interest.length - 1]!.timestamp : null,
    lastInterestType: interest.length ? interest[interest.length - 1]!.type : null,
    seen,
    disliked,
  };
}

const halfLife = (ageMs: number): number =>
  Math.pow(2, -Math.max(0, ageMs) / INTEREST_HALF_LIFE_MS);

/**
 * Category affinities in [-1, 1]: `tanh(S / AFFINITY_SCALE)`, where S sums, over the events'
 * items' categories, each event's {@link AFFINITY_WEIGHTS} weight (a rating: value − 3) halved
 * every {@link INTEREST_HALF_LIFE_MS}; the profile's compacted per-category statistics add
 * their own affinity, decayed from their last event. Impressions count for nothing.
 */
export function categoryAffinities(
  events: readonly StoredEvent[],
  profile: Pick<Profile, 'categories'>,
  categoriesOf: (itemId: string) => readonly string[] | undefined,
  now: number,
): Map<string, number> {
  const sums = new Map<string, number>();
  const add = (c: string, x: number) => sums.set(c, (sums.get(c) ?? 0) + x);
  for (const e of events) {
    if (isImpression(e)) continue;
    const w = e.type === 'rating' ? (e.value ?? 3) - 3 : AFFINITY_WEIGHTS[e.type];
    if (w === 0) continue;
    const x = w * halfLife(now - e.timestamp);
    for (const c of new Set(categoriesOf(e.itemId) ?? [])) add(c, x);
  }
  for (const [c, stats] of Object.entries(profile.categories))
    add(c, categoryAffinity(stats, AFFINITY_WEIGHTS) * halfLife(now - stats.lastAt));
  const out = new Map<string, number>();
  for (const [c, s] of sums) out.set(c, Math.tanh(s / AFFINITY_SCALE));
  return out;
}

/** The unit vector of `x` (a copy; all zeros stays zeros). */
export function unit(x: ArrayLike<number>): Float32Array {
  let n = 0;
  for (let i = 0; i < x.length; i++) n += x[i]! * x[i]!;
  const out = Float32Array.from(x);
  if (n > 0) {
    const inv = 1 / Math.sqrt(n);
    for (let i = 0; i < out.length; i++) out[i]! *= inv;
  }
  return out;
}

/**
 * One step of the long-term profile vector: an exponentially weighted mean of the unit item
 * embeddings of what the visitor engaged with, that also fades with time.
 *
 * For an event of weight w > 0 the step is a = 1 − (1 − {@link LONG_TERM_STEP})^w; the old
 * vector's weight first decays by d = 2^(−Δt / half-life) (Δt: time since the previous interest
 * event), so `v' = ((1 − a)·d·v + a·x̂) / ((1 − a)·d + a)`: after a long absence the new item
 * dominates, in a burst the vector moves by a per event. A dislike (w < 0) removes the share a of
 * the vector's component along the item: `v' = v − a·max(0, v·x̂)·x̂`.
 *
 * @param prev - (dim) the current vector, or null before the first event.
 * @param item - (dim) the item's embedding.
 */
export function stepLongTerm(
  prev: Float32Array | null,
  item: ArrayLike<number>,
  event: Pick<StoredEvent, 'type' | 'value' | 'dwellMs' | 'context'>,
  sincePreviousMs: number,
): Float32Array | null {
  if (isImpression(event)) return prev;
  const w = event.type === 'rating' ? (event.value ?? 3) - 3 : (LONG_TERM_WEIGHTS[event.type] ?? 0);
  if (w === 0) return prev;
  const x = unit(item);
  const a = 1 - Math.pow(1 - LONG_TERM_STEP, Math.abs(w));
  if (w < 0) {
    if (!prev) return prev;
    let dot = 0;
    for (let i = 0; i < x.length; i++) dot += prev[i]! * x[i]!;
    if (dot <= 0) return prev;
    const out = Float32Array.from(prev);
    for (let i = 0; i < x.length; i++) out[i]! -= a * dot * x[i]!;
    return out;
  }
  if (!prev || prev.length !== x.length) return x;
  const d = (1 - a) * halfLife(sincePreviousMs);
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = (d * prev[i]! + a * x[i]!) / (d + a);
  return out;
}

/**
 * The long-term vector rebuilt from events (oldest first), e.g. after a new model version
 * changed the embeddings. Items without a vector are skipped.
 */
export function replayLongTerm(
  events: readonly StoredEvent[],
  vectorOf: (itemId: string) => ArrayLike<number> | undefined,
): Float32Array | null {
  let v: Float32Array | null = null;
  let prevAt: number | null = null;
  for (const e of events) {
    const x = vectorOf(e.itemId);
    if (!x || isImpression(e)) continue;
    v = stepLongTerm(v, x, e, prevAt === null ? 0 : e.timestamp - prevAt);
    if (isInterest(e)) prevAt = e.timestamp;
  }
  return v;
}

/** The list a slot showed last, for counting skips at its next recommend(). */
export interface ShownList {
  ids: string[];
  at: number;
}

/**
 * How the visitor answered a list: items of it they were shown (a tracked `view`) after it was
 * made but did not engage with are skips; engagement is counted when it is tracked.
 */
export function skipsSince(list: ShownList, events: readonly StoredEvent[]): string[] {
  const inList = new Set(list.ids);
  const shown = new Set<string>();
  const engaged = new Set<string>();
  for (const e of events) {
    if (e.timestamp < list.at || !inList.has(e.itemId)) continue;
    if (e.type === 'view') shown.add(e.itemId);
    if (isEngagement(e) || e.type === 'dislike') engaged.add(e.itemId);
  }
  return list.ids.filter((id) => shown.has(id) && !engaged.has(id));
}

/** Engaged and skipped counts per category, for one bandit update. */
export type BanditCounts = Map<string, { engaged: number; skipped: number }>;

export function countFor(counts: BanditCounts, category: string | undefined, engaged: boolean) {
  if (category === undefined) return;
  const c = counts.get(category) ?? { engaged: 0, skipped: 0 };
  if (engaged) c.engaged++;
  else c.skipped++;
  counts.set(category, c);
}

/**
 * The bandit posteriors after one batch of counts: each touched category decays by
 * {@link BANDIT_DECAY} and adds its engagements to α and its skips to β (core/bandit.ts).
 */
export function applyBanditCounts(
  bandits: Readonly<Record<string, BetaPosterior>>,
  counts: BanditCounts,
): Record<string, BetaPosterior> {
  const out: Record<string, BetaPosterior> = { ...bandits };
  for (const [c, { engaged, skipped }] of counts) {
    const prev = Object.prototype.hasOwnProperty.call(out, c) ? out[c]! : { alpha: 1, beta: 1 };
    out[c] = updatePosterior(prev, engaged, skipped, BANDIT_DECAY);
  }
  return out;
}

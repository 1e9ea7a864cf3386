/**
 * The visitor's long-term profile and the compaction math that keeps it whole.
 *
 * Events are bounded; when the oldest are deleted they are first folded into the profile as
 * sufficient statistics (per-category counts by type, rating sums, dwell, last time; counts by
 * type; the items still disliked), so the funnel's long-term signals survive without the raw
 * events. The fold keeps counts rather than one weighted score so the funnel can change its
 * weights later without the profile having lost anything; {@link categoryAffinity} applies the
 * default ones.
 *
 * Pure: no IndexedDB, so the math is tested in Node.
 */
import { EVENT_TYPES, isImpression, type EventType, type StoredEvent } from './events.ts';

/** A Beta(alpha, beta) posterior over one category's click-through (Thompson sampling). */
export interface BetaPosterior {
  alpha: number;
  beta: number;
}

/** What compaction kept of one category's events. */
export interface CategoryStats {
  /** Compacted events in this category, by type. */
  byType: Partial<Record<EventType, number>>;
  /** Sum of the rating values among them (mean = ratingSum / byType.rating). */
  ratingSum: number;
  /** Total dwell of the views among them. */
  dwellMs: number;
  /** Timestamp (ms) of the latest of them, for time decay. */
  lastAt: number;
}

/** Counters that let totals be reconstructed after raw events are gone. */
export interface ProfileCounts {
  /** Events folded into this profile and deleted, by type. */
  compactedByType: Partial<Record<EventType, number>>;
  /** All events folded into this profile and deleted. */
  compactedEvents: number;
  /** Sessions deleted because all their events were compacted. */
  compactedSessions: number;
  /** Unreadable event records compaction deleted (each was reported when met). */
  corruptDropped: number;
}

/** The single profile record. */
export interface Profile {
  /** Long-term interest vector set by the SDK (e.g. a user-tower output); null until then. */
  vector: Float32Array | null;
  /** Which model produced {@link vector} (vectors of different models are not comparable). */
  vectorModel: string | null;
  /** Category → what compaction kept of its events. */
  categories: Record<string, CategoryStats>;
  /** Category → Beta posterior for exploration, updated by the funnel from clicks and skips. */
  bandits: Record<string, BetaPosterior>;
  /** Items disliked in compacted events and not liked since: filters must keep hiding them. */
  disliked: string[];
  counts: ProfileCounts;
  /** Timestamp (ms) of the last write of this record; 0 for a profile never written. */
  updatedAt: number;
}

/** Returns an item's categories; must be synchronous (it runs inside an IndexedDB transaction). */
export type CategoriesOf = (itemId: string) => readonly string[] | undefined;

/** Per-type weights of {@link categoryAffinity}; a rating adds `(value - 3) * rating`. */
export const DEFAULT_EVENT_WEIGHTS: Readonly<Record<EventType, number>> = {
  view: 1,
  click: 2,
  'add-to-cart': 3,
  purchase: 5,
  like: 4,
  dislike: -4,
  rating: 1,
};

export function emptyProfile(): Profile {
  return {
    vector: null,
    vectorModel: null,
    categories: {},
    bandits: {},
    disliked: [],
    counts: { compactedByType: {}, compactedEvents: 0, compactedSessions: 0, corruptDropped: 0 },
    updatedAt: 0,
  };
}

/** A category's affinity under `weights`: positive is interest, negative is aversion. */
export function categoryAffinity(
  stats: CategoryStats,
  weights: Readonly<Record<EventType, number>> = DEFAULT_EVENT_WEIGHTS,
): number {
  let s = 0;
  for (const t of EVENT_TYPES) if (t !== 'rating') s += (stats.byType[t] ?? 0) * weights[t];
  const ratings = stats.byType.rating ?? 0;
  return s + (stats.ratingSum - 3 * ratings) * weights.rating;
}

/** Fraction of events a compaction keeps when the store overflows (hysteresis: not every track). */
export const KEEP_FRACTION = 0.9;

/**
 * How many of the oldest events to compact when `count` are stored and at most `maxEvents` may
 * be: none while within bounds, else down to 90 % of the bound (at least one kept), so a full
 * store compacts once per ~10 % of `maxEvents` tracks rather than on every one.
 */
export function overflowCompaction(count: number, maxEvents: number): number {
  if (count <= maxEvents) return 0;
  return count - Math.max(1, Math.floor(maxEvents * KEEP_FRACTION));
}

/** How many of the oldest events to compact to make room after a quota error: a quarter. */
export function quotaCompaction(count: number): number {
  return Math.ceil(count / 4);
}

const countUp = (m: Partial<Record<EventType, number>>, t: EventType) => {
  m[t] = (m[t] ?? 0) + 1;
};

/**
 * Folds `events` (oldest first) into a copy of `profile`: counts by type, per-category stats
 * for the categories `categoriesOf` names, and the disliked set (a dislike adds the item, a
 * later like removes it). `corrupt` unreadable records that were deleted with them are counted.
 * Categories whose lookup throws are reported through `onProblem` and the event is counted
 * without categories. `updatedAt` is left to the writer.
 */
export function foldEvents(
  profile: Profile,
  events: readonly StoredEvent[],
  options: { categoriesOf?: CategoriesOf; corrupt?: number; onProblem?: (msg: string) => void },
): Profile {
  // Maps, then Object.fromEntries: a category named "__proto__" stays an ordinary key.
  const cats = new Map(
    Object.entries(profile.categories).map(([k, v]) => [k, { ...v, byType: { ...v.byType } }]),
  );
  const disliked = new Set(profile.disliked);
  const byType = { ...profile.counts.compactedByType };
  for (const e of events) {
    countUp(byType, e.type);
    if (e.type === 'dislike') disliked.add(e.itemId);
    else if (e.type === 'like') disliked.delete(e.itemId);
    // An impression is counted by type above, but says nothing about the visitor's categories
    // (categoryAffinities skips it among live events; so does its compacted form).
    if (isImpression(e)) continue;
    let names: readonly string[] = [];
    try {
      names = options.categoriesOf?.(e.itemId) ?? [];
    } catch (err) {
      options.onProblem?.(
        `categoriesOf(${JSON.stringify(e.itemId)}) threw: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
    for (const name of new Set(names)) {
      if (typeof name !== 'string' || name.length === 0) continue;
      let c = cats.get(name);
      if (!c) cats.set(name, (c = { byType: {}, ratingSum: 0, dwellMs: 0, lastAt: e.timestamp }));
      countUp(c.byType, e.type);
      if (e.type === 'rating') c.ratingSum += e.value ?? 0;
      if (e.type === 'view') c.dwellMs += e.dwellMs ?? 0;
      c.lastAt = Math.max(c.lastAt, e.timestamp);
    }
  }
  return {
    ...profile,
    categories: Object.fromEntries(cats),
    disliked: [...disliked],
    counts: {
      ...profile.counts,
      compactedByType: byType,
      compactedEvents: profile.counts.compactedEvents + events.length,
      corruptDropped: profile.counts.corruptDropped + (options.corrupt ?? 0),
    },
  };
}

// ---- checking a profile (strict for writes and imports, salvaging for reads) ----

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const isFiniteNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

function byTypeProblem(v: unknown): string | null {
  if (!isObject(v)) return 'is not an object';
  for (const [k, n] of Object.entries(v)) {
    if (!(EVENT_TYPES as readonly string[]).includes(k)) return `has unknown event type '${k}'`;
    if (!isCount(n)) return `.${k} is not a count`;
  }
  return null;
}

function categoryProblem(v: unknown): string | null {
  if (!isObject(v)) return 'is not an object';
  const p = byTypeProblem(v.byType);
  if (p) return `byType ${p}`;
  if (!isFiniteNum(v.ratingSum)) return 'ratingSum is not a finite number';
  if (!isFiniteNum(v.dwellMs) || v.dwellMs < 0) return 'dwellMs is not a finite number ≥ 0';
  if (!isFiniteNum(v.lastAt)) return 'lastAt is not a finite number';
  return null;
}

function banditProblem(v: unknown): string | null {
  if (!isObject(v)) return 'is not an object';
  if (!isFiniteNum(v.alpha) || v.alpha <= 0) return 'alpha is not a finite number > 0';
  if (!isFiniteNum(v.beta) || v.beta <= 0) return 'beta is not a finite number > 0';
  return null;
}

function vectorProblem(v: unknown): string | null {
  if (v === null) return null;
  if (!(v instanceof Float32Array)) return 'is not a Float32Array (or null)';
  for (const x of v) if (!Number.isFinite(x)) return 'has a non-finite value';
  return null;
}

function countsProblem(v: unknown): string | null {
  if (!isObject(v)) return 'is not an object';
  const p = byTypeProblem(v.compactedByType);
  if (p) return `compactedByType ${p}`;
  for (const k of ['compactedEvents', 'compactedSessions', 'corruptDropped'] as const)
    if (!isCount(v[k])) return `${k} is not a count`;
  return null;
}

/** Checks every field of the profile strictly; returns the first problem or null. */
export function profileProblem(p: unknown): string | null {
  if (!isObject(p)) return 'the profile is not an object';
  let q = vectorProblem(p.vector);
  if (q) return `vector ${q}`;
  if (p.vectorModel !== null && typeof p.vectorModel !== 'string')
    return 'vectorModel is not a string (or null)';
  if (!isObject(p.categories)) return 'categories is not an object';
  for (const [k, v] of Object.entries(p.categories))
    if ((q = categoryProblem(v))) return `categories[${JSON.stringify(k)}] ${q}`;
  if (!isObject(p.bandits)) return 'bandits is not an object';
  for (const [k, v] of Object.entries(p.bandits))
    if ((q = banditProblem(v))) return `bandits[${JSON.stringify(k)}] ${q}`;
  if (!Array.isArray(p.disliked) || !p.disliked.every((x) => typeof x === 'string'))
    return 'disliked is not an array of item ids';
  if ((q = countsProblem(p.counts))) return `counts ${q}`;
  if (!isFiniteNum(p.updatedAt)) return 'updatedAt is not a finite number';
  return null;
}

/**
 * Reads a stored profile record, keeping every part that checks out and reporting each part
 * that does not (a bad category entry loses that entry, not the profile). An absent record is
 * the empty profile, without problems.
 */
export function readProfile(raw: unknown): { profile: Profile; problems: string[] } {
  const profile = emptyProfile();
  const problems: string[] = [];
  if (raw === undefined) return { profile, problems };
  if (!isObject(raw)) return { profile, problems: ['the profile record is not an object'] };
  const vq = vectorProblem(raw.vector);
  if (vq) problems.push(`vector ${vq}`);
  else profile.vector = raw.vector as Float32Array | null;
  if (raw.vectorModel === null || typeof raw.vectorModel === 'string')
    profile.vectorModel = raw.vectorModel;
  else problems.push('vectorModel is not a string (or null)');
  const entries = <T>(what: string, v: unknown, check: (x: unknown) => string | null) => {
    if (!isObject(v)) {
      problems.push(`${what} is not an object`);
      return {};
    }
    return Object.fromEntries(
      Object.entries(v).filter(([k, x]) => {
        const q = check(x);
        if (q) problems.push(`${what}[${JSON.stringify(k)}] ${q}`);
        return !q;
      }),
    ) as Record<string, T>;
  };
  profile.categories = entries<CategoryStats>('categories', raw.categories, categoryProblem);
  profile.bandits = entries<BetaPosterior>('bandits', raw.bandits, banditProblem);
  if (Array.isArray(raw.disliked))
    profile.disliked = raw.disliked.filter((x): x is string => typeof x === 'string');
  if (!Array.isArray(raw.disliked) || profile.disliked.length !== raw.disliked.length)
    problems.push('disliked is not an array of item ids');
  const cq = countsProblem(raw.counts);
  if (cq) problems.push(`counts ${cq}`);
  else profile.counts = raw.counts as ProfileCounts;
  if (isFiniteNum(raw.updatedAt)) profile.updatedAt = raw.updatedAt;
  else problems.push('updatedAt is not a finite number');
  return { profile, problems };
}

/** The profile as JSON can carry it (the vector as a plain array). */
export type ProfileJson = Omit<Profile, 'vector'> & { vector: number[] | null };

export function profileToJson(p: Profile): ProfileJson {
  return { ...p, vector: p.vector ? Array.from(p.vector) : null };
}

/** The inverse of {@link profileToJson}; the caller checks the result with {@link profileProblem}. */
export function profileFromJson(j: ProfileJson): Profile {
  return {
    ...j,
    vector: Array.isArray(j.vector) ? Float32Array.from(j.vector) : (j.vector as null),
  };
}

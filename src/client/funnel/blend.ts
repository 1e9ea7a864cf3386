/**
 * How the recommender weighs its candidate sources and reranks them — the decisions on top of
 * core/funnel.ts (reciprocal-rank fusion, filters, MMR, Thompson-sampled exploration). Pure:
 * the recommender gathers candidates from the ranker and calls {@link rerank}; Node tests pin
 * the weights.
 *
 * Sources and their blend weights (weighted reciprocal-rank fusion, so only ranks matter):
 *
 * | source       | what                                                     | weight                       |
 * | ------------ | -------------------------------------------------------- | ---------------------------- |
 * | `sasrec`     | next-item scores over the open session (short-term);     | 0.5 + 0.5 · 2^(−Δt / 30 min) |
 * |              | over the last items of the history when none is open     | (Δt: since the last event)   |
 * | `long-term`  | the profile vector (time-decayed mean of item embeddings) | 0.8 · min(1, n / 10)         |
 * | `two-tower`  | the two-tower user tower over the whole history           | 0.8 · min(1, n / 5)          |
 * | `categories` | items of the categories the visitor keeps choosing       | 0.6 · the strongest affinity |
 * |              | (before any history: the categories they stated)          | (0.6 · the strongest stated) |
 * | `popular`    | most interactions in the training data                    | 1.0 cold, 0.2 personal       |
 * | `fresh`      | newest `addedAt`                                          | 0.4 cold, 0.1 personal       |
 *
 * (n: interest items in the history; affinities in [−1, 1] from interest.ts, which
 * halves an event's weight every 14 days.) So right after an event the session leads; as it goes
 * quiet the long-term sources catch up; a visitor with no history (or no consent) gets popular
 * and fresh items, diversified by MMR with λ at most {@link COLD_START_LAMBDA}.
 *
 * Category affinity also reorders every source before fusion: an item at rank r counts as rank
 * `r · e^(−a)` when its categories' mean affinity a is positive, and `r + 100 · |a|` when it is
 * negative — an item of a category the visitor keeps disliking drops towards the end of every
 * list (reciprocal-rank fusion barely separates ranks 0 and 10, so a multiplicative penalty
 * alone would not move a top item).
 */
import { runFunnel, type CandidateSource, type FunnelItem } from '../../core/funnel.ts';
import type { BetaPosterior } from '../../core/bandit.ts';
import { cosine } from '../../core/mmr.ts';
import type { Rng } from '../../core/random.ts';

/**
 * MMR trade-off for a visitor the funnel knows nothing about (no history or no consent): the
 * configured λ, but at most this. With no taste to follow, covering more of the catalog is worth
 * more than popularity order (the most popular items tend to come from one corner of it).
 */
export const COLD_START_LAMBDA = 0.5;

/** Candidates each model-based source proposes. */
export const CANDIDATES_PER_SOURCE = 100;
/** The short-term weight falls from 1 towards 0.5 with this half-life after the last event. */
export const SESSION_HALF_LIFE_MS = 30 * 60_000;

/** Affinity from which a category feeds the `categories` source. */
export const CATEGORY_SOURCE_MIN_AFFINITY = 0.3;

/** What the weights depend on. */
export interface WeightInputs {
  /** Personal data may be used (consent) and there is some history. */
  personal: boolean;
  /** Interest items in the history. */
  historyLength: number;
  /** Time since the latest interest event (ms), or null. */
  sinceLastMs: number | null;
  /** The largest category affinity (0 when none is positive). */
  strongestAffinity?: number;
  /**
   * The largest interest the visitor stated (onboarding, ../assistant/interests.ts; 0 when none):
   * with no history yet, it opens the `categories` source at 0.6 · this.
   */
  strongestStated?: number;
}

/** The blend weight of every source (see the module table). */
export function sourceWeights(w: WeightInputs): Record<string, number> {
  if (!w.personal || w.historyLength === 0) {
    const stated = Math.max(0, w.strongestStated ?? 0);
    return stated > 0
      ? { popular: 1, fresh: 0.4, categories: 0.6 * stated }
      : { popular: 1, fresh: 0.4 };
  }
  const n = w.historyLength;
  const since = w.sinceLastMs ?? Infinity;
  return {
    sasrec: 0.5 + 0.5 * Math.pow(2, -Math.max(0, since) / SESSION_HALF_LIFE_MS),
    'long-term': 0.8 * Math.min(1, n / 10),
    'two-tower': 0.8 * Math.min(1, n / 5),
    categories: 0.6 * Math.max(0, w.strongestAffinity ?? 0),
    popular: 0.2,
    fresh: 0.1,
  };
}

/** Mean affinity of an item's categories (0 when none is known). */
export function itemAffinity(
  categories: readonly string[],
  affinity: ReadonlyMap<string, number>,
): number {
  if (categories.length === 0) return 0;
  let s = 0;
  for (const c of categories) s += affinity.get(c) ?? 0;
  return s / categories.length;
}

/** The rank an item at rank `r` counts as, given its affinity (see the module comment). */
export function adjustedRank(r: number, a: number): number {
  return a >= 0 ? r * Math.exp(-a) : r - CANDIDATES_PER_SOURCE * a;
}

/**
 * One source as core/funnel.ts takes it: `items` are catalog numbers best first; the score is
 * the negated affinity-adjusted rank.
 */
export function rankedSource(
  name: string,
  items: readonly number[],
  weight: number,
  affinityOf: (n: number) => number,
): CandidateSource {
  return {
    name,
    weight,
    items: items.map((index, r) => ({ index, score: -adjustedRank(r, affinityOf(index)) })),
  };
}

/**
 * The `categories` source: of `pool` (catalog numbers, best first by the other sources, then
 * by popularity), the items whose mean category affinity is at least
 * {@link CATEGORY_SOURCE_MIN_AFFINITY}, most affine first (ties keep pool order).
 */
export function categorySource(
  pool: readonly number[],
  affinityOf: (n: number) => number,
  size = CANDIDATES_PER_SOURCE,
): number[] {
  const seen = new Set<number>();
  const scored: { n: number; a: number; at: number }[] = [];
  pool.forEach((n, at) => {
    if (seen.has(n)) return;
    seen.add(n);
    const a = affinityOf(n);
    if (a >= CATEGORY_SOURCE_MIN_AFFINITY) scored.push({ n, a, at });
  });
  return scored
    .sort((x, y) => y.a - x.a || x.at - y.at)
    .slice(0, size)
    .map((x) => x.n);
}

/** What {@link rerank} takes besides the sources. */
export interface RerankInputs {
  k: number;
  exclude: ReadonlySet<number>;
  filter?: (n: number) => boolean;
  lambda: number;
  explorationSlots: number;
  /** (dim) unit embedding per catalog number, for MMR's cosine; missing ones are dissimilar to all. */
  vectorOf: (n: number) => Float32Array | undefined;
  categoryOf: (n: number) => string | undefined;
  posteriors: Readonly<Record<string, BetaPosterior>>;
  rng: Rng;
}

/** Blend, filters, MMR and exploration (core/funnel.ts) with cosine similarity of embeddings. */
export function rerank(sources: readonly CandidateSource[], o: RerankInputs): FunnelItem[] {
  const cache = new Map<number, number>();
  const similarity = (a: number, b: number): number => {
    const key = a < b ? a * 0x100000 + b : b * 0x100000 + a;
    let s = cache.get(key);
    if (s === undefined) {
      const va = o.vectorOf(a);
      const vb = o.vectorOf(b);
      s = va && vb ? cosine(va, vb) : 0;
      cache.set(key, s);
    }
    return s;
  };
  return runFunnel(sources, {
    k: o.k,
    exclude: o.exclude,
    filter: o.filter,
    lambda: o.lambda,
    similarity,
    explorationSlots: Math.min(o.explorationSlots, o.k),
    categoryOf: o.categoryOf,
    posteriors: o.posteriors,
    rng: o.rng,
  });
}

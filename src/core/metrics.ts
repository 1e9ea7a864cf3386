/**
 * Ranking metrics exactly as BENCHMARKS.md defines them: full ranking over the catalog
 * with the input history excluded, and the sampled-100 protocol of the SASRec paper.
 */
import type { RankMetrics, SplitData, SplitMetrics } from './types.ts';
import { LocalrecError } from './errors.ts';
import { Rng } from './random.ts';
import { stageInput, stageTarget } from './split.ts';

/**
 * Full-ranking rank of `target`, ties counted as half: (number of items j scoring strictly
 * higher) + ½ · (number of items j other than the target scoring exactly the same), over j in
 * 1..N (N = scores.length - 1), j ≠ target, j not in `exclude`. That is the expected 0-based
 * rank under random tie-breaking — neither in the target's favour nor against it — so a model
 * that scores every item alike ranks the target in the middle of the catalog, not first.
 * Index 0 (padding) is never counted, duplicates and out-of-range entries in `exclude` are
 * harmless, and the target is never excluded even when it appears in `exclude` (a re-consumed
 * item is still a valid answer).
 *
 * A NaN target score counts as −∞ (NaN items never count), so a broken model cannot score a
 * good rank by producing NaN.
 *
 * The rank may be fractional (x.5); {@link ndcgAt} and {@link hitAt} take it as it is —
 * NDCG@10 = 1/log2(rank + 2) and HR@10 = [rank < 10] at the expected rank, not the
 * expectation of NDCG over the tie orders (they differ only when ties straddle the cut-off).
 */
export function rankFull(scores: Float32Array, target: number, exclude: ArrayLike<number>): number {
  const n = scores.length - 1;
  checkTarget(target, n);
  const t = targetScore(scores, target);
  let higher = 0;
  let ties = 0;
  for (let j = 1; j <= n; j++) {
    const s = scores[j]!;
    if (s > t) higher++;
    else if (s === t) ties++;
  }
  if (scores[target] === t) ties--; // the target itself (not when its NaN counts as −∞)
  // Undo the excluded items that were counted; each excluded item only once.
  const seen = new Set<number>();
  for (let k = 0; k < exclude.length; k++) {
    const e = exclude[k]!;
    if (e < 1 || e > n || e === target || seen.has(e)) continue;
    seen.add(e);
    const s = scores[e]!;
    if (s > t) higher--;
    else if (s === t) ties--;
  }
  return higher + ties / 2;
}

/**
 * Sampled rank of `target` among itself and `negatives` (100 in the protocol): the negatives
 * scoring strictly higher plus half of those scoring the same. Tie and NaN rules as in
 * {@link rankFull}; a negative equal to the target never counts.
 */
export function rankSampled(scores: Float32Array, target: number, negatives: Int32Array): number {
  checkTarget(target, scores.length - 1);
  const t = targetScore(scores, target);
  let higher = 0;
  let ties = 0;
  for (let k = 0; k < negatives.length; k++) {
    const j = negatives[k]!;
    if (j === target) continue;
    const s = scores[j]!;
    if (s > t) higher++;
    else if (s === t) ties++;
  }
  return higher + ties / 2;
}

/** The target's score for ranking: NaN counts as −∞. */
function targetScore(scores: Float32Array, target: number): number {
  const t = scores[target]!;
  return Number.isNaN(t) ? -Infinity : t;
}

function checkTarget(target: number, n: number): void {
  if (!Number.isInteger(target) || target < 1 || target > n) {
    throw new LocalrecError('bad-input', `target item ${target} is outside 1..${n}`);
  }
}

/**
 * `count` distinct items drawn uniformly from 1..numItems minus `userItems` (the user's
 * whole sequence: train, valid and test). Returns fewer when fewer are available.
 * Deterministic given the state of `rng`.
 */
export function sampleNegatives(
  rng: Rng,
  numItems: number,
  userItems: Set<number> | ArrayLike<number>,
  count = 100,
): Int32Array {
  const banned = userItems instanceof Set ? userItems : new Set(Array.from(userItems));
  let bannedInRange = 0;
  for (const b of banned) if (Number.isInteger(b) && b >= 1 && b <= numItems) bannedInRange++;
  const available = numItems - bannedInRange;
  const want = Math.min(count, Math.max(0, available));
  const out = new Int32Array(want);
  if (want === 0) return out;
  if (available <= 4 * want) {
    // Dense case: rejection sampling would retry a lot; draw from the explicit candidate
    // list with a partial Fisher-Yates instead.
    const cand = new Int32Array(available);
    let c = 0;
    for (let j = 1; j <= numItems; j++) if (!banned.has(j)) cand[c++] = j;
    for (let k = 0; k < want; k++) {
      const r = k + rng.int(available - k);
      const x = cand[r]!;
      cand[r] = cand[k]!;
      cand[k] = x;
      out[k] = x;
    }
    return out;
  }
  const chosen = new Set<number>();
  let k = 0;
  while (k < want) {
    const j = 1 + rng.int(numItems);
    if (banned.has(j) || chosen.has(j)) continue;
    chosen.add(j);
    out[k++] = j;
  }
  return out;
}

/**
 * NDCG@k of one user with a single relevant item at 0-based `rank`: 1/log2(rank+2) if rank < k.
 * A fractional rank (ties as half, {@link rankFull}) is used as it is.
 */
export function ndcgAt(rank: number, k: number): number {
  return rank < k ? 1 / Math.log2(rank + 2) : 0;
}

/** Hit@k of one user: 1 when the 0-based `rank` is below k, else 0. */
export function hitAt(rank: number, k: number): number {
  return rank < k ? 1 : 0;
}

/** Averages per-user ranks into {@link RankMetrics} (HR@10 and NDCG@10). */
export class RankAccumulator {
  private hits = 0;
  private ndcg = 0;
  private n = 0;

  /** Adds one user's 0-based rank (fractional when ties count as half). */
  add(rank: number): void {
    this.hits += hitAt(rank, 10);
    this.ndcg += ndcgAt(rank, 10);
    this.n++;
  }

  /** Number of ranks added so far. */
  get count(): number {
    return this.n;
  }

  /** The means so far; zeros when nothing was added. */
  result(): RankMetrics {
    return this.n === 0
      ? { hr10: 0, ndcg10: 0, users: 0 }
      : { hr10: this.hits / this.n, ndcg10: this.ndcg / this.n, users: this.n };
  }
}

/**
 * Scores a batch of input sequences: one Float32Array of length numItems + 1 per input. `at`
 * says whose inputs they are (indices into `split.users`, same order) and for which stage, for
 * scorers that need more than the sequence (e.g. the time of the request: src/core/context.ts).
 */
export type BatchScorer = (
  inputs: Int32Array[],
  at: { users: number[]; stage: 'valid' | 'test' },
) => Promise<Float32Array[]> | Float32Array[];

/** Options of {@link evaluateRanking}. */
export interface EvaluateOptions {
  /** Users per call to the scorer (default 128). Does not change the results. */
  batchSize?: number;
  /** Seed of the sampled-100 negatives (default 42). */
  seed?: number;
  /** Indices into `split.users` to evaluate (default: all); train-only users are skipped. */
  users?: number[];
}

/**
 * Evaluates a scorer on the `valid` or `test` stage of a leave-one-out split: for every
 * evaluable user, input = train (valid) or train + valid (test), target = the held-out
 * item, full rank with the input's items excluded (except the target), and sampled-100
 * rank against negatives outside the user's whole sequence. Negatives come from an Rng
 * derived from (seed, user index, stage), so they do not depend on batching or on which
 * other users are evaluated.
 */
export async function evaluateRanking(
  split: SplitData,
  stage: 'valid' | 'test',
  score: BatchScorer,
  opts: EvaluateOptions = {},
): Promise<SplitMetrics> {
  const seed = opts.seed ?? 42;
  const full = new RankAccumulator();
  const s100 = new RankAccumulator();
  await scoreStage(split, stage, score, opts, (u, scores, input) => {
    const us = split.users[u]!;
    const target = stageTarget(us, stage);
    full.add(rankFull(scores, target, input));
    const seq = new Set<number>(us.train);
    seq.add(us.valid);
    seq.add(us.test);
    const negatives = sampleNegatives(userRng(seed, u, stage), split.numItems, seq, 100);
    s100.add(rankSampled(scores, target, negatives));
  });
  return { full: full.result(), s100: s100.result() };
}

/**
 * The evaluation loop both {@link evaluateRanking} and {@link fullRanks} run: picks the users
 * with a target at `stage` (all, or `opts.users` in that order), scores their stage inputs in
 * batches, checks what the scorer returned, and calls `visit` for each user in order.
 * Returns the evaluated user indices.
 */
async function scoreStage(
  split: SplitData,
  stage: 'valid' | 'test',
  score: BatchScorer,
  opts: Pick<EvaluateOptions, 'batchSize' | 'users'>,
  visit: (user: number, scores: Float32Array, input: Int32Array) => void,
): Promise<number[]> {
  const batchSize = Math.max(1, Math.floor(opts.batchSize ?? 128));
  const candidates = opts.users ?? split.users.map((_, i) => i);
  const order: number[] = [];
  for (const u of candidates) {
    const us = split.users[u];
    if (us === undefined)
      throw new LocalrecError(
        'bad-input',
        `user index ${u} is outside 0..${split.users.length - 1}`,
      );
    if (stageTarget(us, stage) !== 0) order.push(u);
  }
  for (let b = 0; b < order.length; b += batchSize) {
    const batch = order.slice(b, b + batchSize);
    const inputs = batch.map((u) => stageInput(split.users[u]!, stage));
    const out = await score(inputs, { users: batch, stage });
    if (out.length !== inputs.length) {
      throw new LocalrecError(
        'bad-input',
        `scorer returned ${out.length} score vectors for ${inputs.length} inputs`,
      );
    }
    for (let k = 0; k < batch.length; k++) {
      const scores = out[k]!;
      if (scores.length !== split.numItems + 1) {
        throw new LocalrecError(
          'bad-input',
          `scorer returned ${scores.length} scores; expected numItems + 1 = ${split.numItems + 1}`,
        );
      }
      visit(batch[k]!, scores, inputs[k]!);
    }
  }
  return order;
}

/** An Rng for one (seed, user, stage), mixed with murmur3's finaliser so nearby users differ. */
function userRng(seed: number, user: number, stage: 'valid' | 'test'): Rng {
  let h = (seed ^ Math.imul(user + 1, 0x9e3779b1) ^ (stage === 'test' ? 0x85ebca6b : 0)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  h ^= h >>> 16;
  return new Rng(h >>> 0);
}

/**
 * Recall@k of one user in the leave-one-out protocol, where the relevant set is the single
 * held-out target: 1 when its 0-based full-ranking `rank` is below k, else 0. With one
 * relevant item this equals HR@k; the name says what a retrieval stage is judged on: did its
 * top k candidates contain the item the user went on to pick?
 */
export function recallAt(rank: number, k: number): number {
  return rank < k ? 1 : 0;
}

/** Full-ranking quality of a retrieval model: Recall@100 next to HR@10 and NDCG@10. */
export interface RetrievalMetrics {
  recall100: number;
  hr10: number;
  ndcg10: number;
  /** Number of users (ranks) averaged. */
  users: number;
}

/** Means of per-user 0-based full ranks; zeros when there are none. */
export function retrievalMetrics(ranks: ArrayLike<number>): RetrievalMetrics {
  const n = ranks.length;
  if (n === 0) return { recall100: 0, hr10: 0, ndcg10: 0, users: 0 };
  let r100 = 0;
  let hr = 0;
  let ndcg = 0;
  for (let i = 0; i < n; i++) {
    const r = ranks[i]!;
    r100 += recallAt(r, 100);
    hr += hitAt(r, 10);
    ndcg += ndcgAt(r, 10);
  }
  return { recall100: r100 / n, hr10: hr / n, ndcg10: ndcg / n, users: n };
}

/**
 * Per-user full ranks of one stage: `ranks[k]` belongs to user index `users[k]`. Ranks count
 * ties as half ({@link rankFull}), so they may end in .5.
 */
export interface FullRanks {
  users: Int32Array;
  ranks: Float64Array;
}

/**
 * The full-ranking rank ({@link rankFull}) of every evaluable user's `valid` or `test` target,
 * with exactly the inputs, targets and exclusions of {@link evaluateRanking} (no sampled-100).
 * Kept per user so callers can summarise any subset (e.g. users whose target is a cold item)
 * with {@link retrievalMetrics}.
 */
export async function fullRanks(
  split: SplitData,
  stage: 'valid' | 'test',
  score: BatchScorer,
  opts: Pick<EvaluateOptions, 'batchSize' | 'users'> = {},
): Promise<FullRanks> {
  const ranks: number[] = [];
  const order = await scoreStage(split, stage, score, opts, (u, scores, input) => {
    ranks.push(rankFull(scores, stageTarget(split.users[u]!, stage), input));
  });
  return { users: Int32Array.from(order), ranks: Float64Array.from(ranks) };
}

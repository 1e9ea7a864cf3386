/**
 * The contract between a closed round and the rule that turns its contributions into one model
 * update. An aggregator says what it needs: the **sum** of the round's updates and their count
 * (all the round store keeps, and all a secure-aggregation protocol — pairwise masks that cancel
 * in the sum — would ever reveal to the server), or the individual **updates** (the robust rules,
 * which look at each update and so cannot run under secure aggregation). The default, DP-FedAvg,
 * needs only the sum, so secure aggregation can later replace the plain sum without touching it.
 */
import { LocalrecError } from '../../core/errors.ts';
import { sliceOffsets, type RoundSpec } from '../store/round-store.ts';

/** What an aggregator is told about the round: its parameter layout and its clip bound C. */
export type RoundLayout = Pick<RoundSpec, 'slices' | 'clipNorm'>;

/** A round's contributions as a sum: what the round store (or secure aggregation) yields. */
export interface SumContributions {
  round: RoundLayout;
  /** Σ of the dequantized updates, every slice concatenated in the round's order, float64. */
  sum: Float64Array;
  /** How many updates the sum holds (≥ 1). */
  count: number;
}

/** A round's contributions one by one: what the robust rules need. */
export interface UpdateContributions {
  round: RoundLayout;
  /** Each update's dequantized values, slices concatenated in the round's order; at least one. */
  updates: readonly Float64Array[];
}

/** What an aggregation did, for logs, the manifest and the privacy accountant. */
export interface AggregationReport {
  method: 'dp-fedavg' | 'norm-bounded-mean' | 'trimmed-mean';
  /** Updates received. */
  received: number;
  /**
   * The mean's denominator: the fixed expected-clients n for DP-FedAvg and norm-bounded mean;
   * for trimmed mean the values kept per coordinate (received − 2 × trimmed).
   */
  denominator: number;
  /**
   * The L2 sensitivity of the mean before noise (how far adding or removing one client can move
   * it), or null when the rule has no such bound — then no noise can buy a DP guarantee and the
   * accountant must not claim one.
   */
  sensitivity: number | null;
  /** z: the noise's standard deviation as a multiple of the sensitivity; 0 = none. */
  noiseMultiplier: number;
  /** Standard deviation of the Gaussian noise added per coordinate (z × sensitivity). */
  noiseStd: number;
  /** Values trimmed from each end per coordinate (trimmed mean only). */
  trimmed?: number;
  /** Updates whose norm the bound cut (norm-bounded mean only). */
  clipped?: number;
}

/** The update a round produced, to hand to a server optimizer. */
export interface AggregateResult {
  /** Δ, the round's model update (add it to the weights), slices concatenated, float64. */
  delta: Float64Array;
  report: AggregationReport;
}

/** An aggregator that needs only the sum and the count: it can run under secure aggregation. */
export interface SumAggregator {
  readonly needs: 'sum';
  readonly method: AggregationReport['method'];
  aggregate(input: SumContributions): AggregateResult;
}

/** An aggregator that needs each update (a robust rule): it cannot run under secure aggregation. */
export interface UpdatesAggregator {
  readonly needs: 'updates';
  readonly method: AggregationReport['method'];
  aggregate(input: UpdateContributions): AggregateResult;
}

/** A rule that turns a closed round's contributions into one update; `needs` says what it reads. */
export type Aggregator = SumAggregator | UpdatesAggregator;

/** A `bad-input` error about aggregation. */
export function aggregationError(what: string): LocalrecError {
  return new LocalrecError('bad-input', `aggregation: ${what}`);
}

/** Checks the round's layout; returns the length of a concatenated update. */
export function checkLayout(round: RoundLayout): number {
  if (!(Number.isFinite(round.clipNorm) && round.clipNorm > 0))
    throw aggregationError(`the round's clipNorm must be finite and > 0, got ${round.clipNorm}`);
  if (!Array.isArray(round.slices) || round.slices.length < 1)
    throw aggregationError('the round must list at least one slice');
  return sliceOffsets(round.slices).at(-1)!;
}

/** Checks that `v` is a float64 vector of `length` finite values. */
export function checkVector(what: string, v: unknown, length: number): asserts v is Float64Array {
  if (!(v instanceof Float64Array))
    throw aggregationError(`${what} must be a Float64Array (slices concatenated)`);
  if (v.length !== length)
    throw aggregationError(
      `${what} has ${v.length} values, the round's slices have ${length} — it belongs to another parameter set`,
    );
  for (let i = 0; i < v.length; i++)
    if (!Number.isFinite(v[i]!)) throw aggregationError(`${what}: value ${i} is not finite`);
}

/** Checks a positive integer option. */
export function checkCount(what: string, n: number): void {
  if (!(Number.isInteger(n) && n >= 1))
    throw aggregationError(`${what} must be an integer ≥ 1, got ${n}`);
}

/** Checks a noise multiplier z. */
export function checkNoiseMultiplier(z: number): void {
  if (!(Number.isFinite(z) && z >= 0))
    throw aggregationError(`noiseMultiplier must be finite and ≥ 0 (0 = no noise), got ${z}`);
}

/** L2 norm of a vector, in float64. */
export function l2Norm(v: Float64Array): number {
  let sq = 0;
  for (let i = 0; i < v.length; i++) sq += v[i]! * v[i]!;
  return Math.sqrt(sq);
}

/** Float64 summation slack when a norm is held to a bound the intake already enforced exactly. */
const NORM_SLACK = 1 + 1e-9;

/**
 * Checks a round's sum: the right length, finite, at least one update, and a norm no update set
 * clipped to C could exceed (‖Σ‖ ≤ count × C). The last catches a count, clip norm or sum that
 * do not belong together before it turns into a wrong sensitivity.
 */
export function checkSum(input: SumContributions): void {
  const length = checkLayout(input.round);
  if (!(Number.isInteger(input.count) && input.count >= 1))
    throw aggregationError(
      `the round counted ${input.count} updates; there is nothing to aggregate (do not publish)`,
    );
  checkVector('the sum', input.sum, length);
  const norm = l2Norm(input.sum);
  const bound = input.count * input.round.clipNorm;
  if (norm > bound * NORM_SLACK)
    throw aggregationError(
      `the sum's L2 norm ${norm} exceeds count × clipNorm = ${bound}: it is not the sum of ` +
        `${input.count} updates clipped to ${input.round.clipNorm}`,
    );
}

/** Checks individual updates: at least one, each the round's length, finite and within C. */
export function checkUpdates(input: UpdateContributions): number {
  const length = checkLayout(input.round);
  if (!Array.isArray(input.updates) || input.updates.length < 1)
    throw aggregationError('there are no updates to aggregate (do not publish)');
  input.updates.forEach((u, k) => {
    checkVector(`update ${k}`, u, length);
    const norm = l2Norm(u);
    if (norm > input.round.clipNorm * NORM_SLACK)
      throw aggregationError(
        `update ${k} has L2 norm ${norm}, over the round's clip bound ${input.round.clipNorm}`,
      );
  });
  return length;
}

/**
 * The sum and count of individual updates, to feed a sum aggregator (DP-FedAvg) from updates
 * held in memory (a simulation, a test).
 *
 * ```ts
 * import { createAggregator, toSum } from 'localrec/server';
 *
 * declare const updates: Float64Array[]; // dequantized deltas of one round
 * const round = { slices: [{ name: 'w', shape: [4] }], clipNorm: 1 };
 * const mean = createAggregator({ method: 'dp-fedavg', expectedClients: 100, noiseMultiplier: 1 });
 * if (mean.needs === 'sum') mean.aggregate(toSum({ round, updates }));
 * ```
 *
 * @throws LocalrecError `bad-input` for no updates, a wrong length, a non-finite value or an
 *   update over the clip bound.
 */
export function toSum(input: UpdateContributions): SumContributions {
  const length = checkUpdates(input);
  const sum = new Float64Array(length);
  for (const u of input.updates) for (let i = 0; i < length; i++) sum[i]! += u[i]!;
  return { round: input.round, sum, count: input.updates.length };
}

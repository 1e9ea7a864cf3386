/**
 * From RDP to the (ε, δ) a deployment states, and back to the number of rounds a budget
 * allows. The conversion is the one dp_accounting uses (`compute_epsilon`): Canonne, Kamath and
 * Steinke 2020 (arXiv:2004.00010, Prop. 12; also Asoodeh et al., arXiv:2001.05990, Eq. 20),
 * ε = rdp + log1p(−1/α) − (log δ + log α)/(α − 1), minimised over the orders, with ε = 0 where
 * the KL bound δ ≥ √(1 − e^−rdp) already holds, and no use of orders α ≤ 1.01, where that bound
 * is numerically unstable.
 */
import { LocalrecError } from '../errors.ts';
import {
  checkOrders,
  checkSteps,
  composeRdp,
  DEFAULT_RDP_ORDERS,
  rdpSampledGaussian,
  type SampledGaussian,
} from './rdp.ts';

/** An (ε, δ) guarantee's ε and the Rényi order that gave it. */
export interface PrivacySpend {
  /** ε at the given δ; `Infinity` when no order gives a finite bound (σ = 0, for one). */
  epsilon: number;
  /** The order the minimum was found at (with ε = ∞: the first order, as dp_accounting). */
  order: number;
}

/** The mechanism and the (ε, δ) statement's terms, common to {@link epsilonAfter} and {@link roundsWithinBudget}. */
export interface AccountingOptions extends SampledGaussian {
  /** δ of the (ε, δ) statement, in (0, 1); below 1/(number of users) to mean anything. */
  delta: number;
  /** Rényi orders to minimise over; default {@link DEFAULT_RDP_ORDERS}. */
  orders?: readonly number[];
}

/** What {@link epsilonAfter} takes. */
export interface SpendOptions extends AccountingOptions {
  /** How many times the mechanism ran (rounds, batches): an integer ≥ 0. */
  steps: number;
}

/** What {@link roundsWithinBudget} takes. */
export interface BudgetOptions extends AccountingOptions {
  /** The privacy budget: the largest ε allowed at `delta`, finite and ≥ 0. */
  targetEpsilon: number;
}

function checkDelta(delta: number): void {
  if (typeof delta !== 'number' || !(delta > 0 && delta < 1))
    throw new LocalrecError('bad-input', `delta must be in (0, 1), got ${delta}`);
}

/** ε at one order, as dp_accounting's compute_epsilon. */
function epsilonAt(alpha: number, rdp: number, delta: number): number {
  if (delta * delta + Math.expm1(-rdp) > 0) return 0; // δ ≥ √(1 − e^−KL): the KL bound suffices
  if (alpha > 1.01) return rdp + Math.log1p(-1 / alpha) - Math.log(delta * alpha) / (alpha - 1);
  return Infinity;
}

/**
 * The smallest ε, over the orders, of an (ε, δ) guarantee implied by RDP values (`rdp[i]` at
 * `orders[i]`, composed over every step already).
 *
 * ```ts
 * import { composeRdp, DEFAULT_RDP_ORDERS, epsilonFromRdp, rdpSampledGaussian } from 'localrec/core';
 *
 * const rdp = composeRdp(rdpSampledGaussian({ q: 0.0025, noiseMultiplier: 1.3 }), 6000);
 * const { epsilon, order } = epsilonFromRdp(rdp, DEFAULT_RDP_ORDERS, 1e-5); // ≈ 0.7242 at 19
 * ```
 *
 * @throws LocalrecError `bad-input` when δ is outside (0, 1), the orders are not all > 1, the
 *   lengths differ, or an RDP value is negative or NaN.
 */
export function epsilonFromRdp(
  rdp: ArrayLike<number>,
  orders: readonly number[],
  delta: number,
): PrivacySpend {
  checkDelta(delta);
  checkOrders(orders);
  if (rdp.length !== orders.length)
    throw new LocalrecError(
      'bad-input',
      `rdp has ${rdp.length} values for ${orders.length} orders; give one per order`,
    );
  let best: PrivacySpend = { epsilon: Infinity, order: orders[0]! };
  for (let i = 0; i < orders.length; i++) {
    const r = rdp[i]!;
    if (!(r >= 0))
      throw new LocalrecError(
        'bad-input',
        `RDP values must be >= 0, got ${r} at order ${orders[i]}`,
      );
    const epsilon = epsilonAt(orders[i]!, r, delta);
    if (epsilon < best.epsilon) best = { epsilon, order: orders[i]! };
  }
  return { epsilon: Math.max(0, best.epsilon), order: best.order };
}

/**
 * ε at δ after `steps` steps (federated rounds, or DP-SGD batches) of the Poisson-subsampled
 * Gaussian mechanism. Visitors who choose when to come are not Poisson-sampled: account them
 * with q = 1 unless the server itself draws who takes part.
 *
 * ```ts
 * import { epsilonAfter } from 'localrec/core';
 *
 * // 60,000 examples, batches of 150, σ = 1.3, 15 epochs (DP-SGD on MNIST): ε ≈ 0.7242
 * const spent = epsilonAfter({ q: 150 / 60000, noiseMultiplier: 1.3, steps: 6000, delta: 1e-5 });
 * console.log(`ε = ${spent.epsilon.toFixed(4)} (order ${spent.order})`);
 * ```
 *
 * @throws LocalrecError `bad-input` for q outside [0, 1], σ < 0, steps not an integer ≥ 0,
 *   δ outside (0, 1), or orders that are empty or not all > 1.
 */
export function epsilonAfter(options: SpendOptions): PrivacySpend {
  const { steps, delta, orders = DEFAULT_RDP_ORDERS } = options;
  checkSteps(steps);
  checkDelta(delta);
  return epsilonFromRdp(composeRdp(rdpSampledGaussian(options, orders), steps), orders, delta);
}

/**
 * The largest number of steps whose ε at δ stays within `epsilon`: what a server may still run
 * before its budget is spent. `Infinity` when steps cost nothing (q = 0); 0 when even one step
 * is over the budget (σ = 0, for one). ε grows with the steps, so a binary search over the
 * composed RDP finds the exact boundary: epsilonAfter(n) ≤ budget < epsilonAfter(n + 1).
 *
 * ```ts
 * import { roundsWithinBudget } from 'localrec/core';
 *
 * // Every visitor in every round (q = 1), noise 5 × the clip norm, ε ≤ 8 at δ = 1e-6:
 * const rounds = roundsWithinBudget({ q: 1, noiseMultiplier: 5, targetEpsilon: 8, delta: 1e-6 });
 * ```
 *
 * @throws LocalrecError `bad-input` for a budget that is not a finite number ≥ 0, and as
 *   {@link epsilonAfter}.
 */
export function roundsWithinBudget(options: BudgetOptions): number {
  const { targetEpsilon: budget, delta, orders = DEFAULT_RDP_ORDERS } = options;
  if (typeof budget !== 'number' || !(budget >= 0) || budget === Infinity)
    throw new LocalrecError(
      'bad-input',
      `targetEpsilon must be a finite number >= 0, got ${budget}`,
    );
  checkDelta(delta);
  const perStep = rdpSampledGaussian(options, orders);
  if (perStep.every((r) => r === 0)) return Infinity;
  const fits = (steps: number): boolean =>
    epsilonFromRdp(composeRdp(perStep, steps), orders, delta).epsilon <= budget;
  if (!fits(1)) return 0;
  // Double until over the budget, then bisect: fits(lo) and not fits(hi).
  let lo = 1;
  let hi = 2;
  while (fits(hi)) {
    if (hi === Number.MAX_SAFE_INTEGER) return hi;
    lo = hi;
    hi = Math.min(hi * 2, Number.MAX_SAFE_INTEGER);
  }
  while (hi - lo > 1) {
    const mid = lo + Math.floor((hi - lo) / 2);
    if (fits(mid)) lo = mid;
    else hi = mid;
  }
  return lo;
}

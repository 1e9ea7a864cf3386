/**
 * Rényi differential privacy (RDP) of the Poisson-subsampled Gaussian mechanism: each record
 * (here: each visitor) takes part in a step with probability q, the step's sum of clipped
 * contributions (L2 sensitivity C) gets Gaussian noise of standard deviation σ·C. The RDP at
 * order α is log(A_α)/(α − 1), A_α as in Mironov, Talwar and Zhang, "Rényi Differential
 * Privacy of the Sampled Gaussian Mechanism" (2019, arXiv:1908.10530): a finite sum for integer
 * α, two series for fractional α (Sec. 3.3). The computation follows Google's dp_accounting
 * (`rdp/rdp_privacy_accountant.py`, `_compute_rdp_poisson_subsampled_gaussian`), the library
 * the published values come from; all sums are kept in the log domain so that large orders and
 * small σ do not overflow. Pure arithmetic: runs in a browser, a worker and Node.
 */
import { LocalrecError } from '../errors.ts';
import { logErfc } from './erfc.ts';

/**
 * dp_accounting's default orders (`DEFAULT_RDP_ORDERS`): 1.1 to 10.9 in steps of 0.1, the
 * integers 11 to 63, then 128, 256, 512 and 1024 — good coverage of the Gaussian mechanism in
 * the privacy regimes of interest.
 */
export const DEFAULT_RDP_ORDERS: readonly number[] = Object.freeze([
  ...Array.from({ length: 99 }, (_, x) => 1 + (x + 1) / 10),
  ...Array.from({ length: 53 }, (_, x) => 11 + x),
  128,
  256,
  512,
  1024,
]);

/** One step of the mechanism the accountant counts. */
export interface SampledGaussian {
  /** The probability that a given record takes part in a step, in [0, 1]; 1 = no sampling. */
  q: number;
  /** The noise's standard deviation over the L2 sensitivity (σ = z), ≥ 0. */
  noiseMultiplier: number;
}

/** dp_accounting gives up on a fractional order's series after this many terms (→ ∞). */
const MAX_SERIES_TERMS = 1000;

/** log(e^a + e^b) without overflow. */
function logAdd(a: number, b: number): number {
  const lo = Math.min(a, b);
  const hi = Math.max(a, b);
  if (lo === -Infinity) return hi;
  return Math.log1p(Math.exp(lo - hi)) + hi;
}

/** log A_α for integer α ≥ 2, 0 < q < 1: Σ_i C(α,i) q^i (1−q)^(α−i) e^((i²−i)/(2σ²)). */
function logAInt(q: number, sigma: number, alpha: number): number {
  const logQ = Math.log(q);
  const log1mQ = Math.log1p(-q);
  let logA = -Infinity;
  let logComb = 0; // log C(α, i), updated by C(α, i+1) = C(α, i)·(α − i)/(i + 1)
  for (let i = 0; i <= alpha; i++) {
    if (i > 0) logComb += Math.log(alpha - i + 1) - Math.log(i);
    logA = logAdd(logA, logComb + i * logQ + (alpha - i) * log1mQ + (i * i - i) / (2 * sigma ** 2));
  }
  return logA;
}

/**
 * log A_α for fractional α, 0 < q < 1: the integrals over (−∞, z0] and [z0, ∞) as two series
 * (arXiv:1908.10530 Sec. 3.3). As in dp_accounting today, every term is added with the absolute
 * value of its (alternating, for i > α) binomial coefficient: an upper bound on A_α, so the
 * guarantee stays conservative, and no subtraction that rounding could drive negative. Stops
 * when both series shrink and their terms are below e^−30 of the total; ∞ (the order is then
 * useless and never chosen) when that takes more than 1000 terms.
 */
function logAFrac(q: number, sigma: number, alpha: number): number {
  const logQ = Math.log(q);
  const log1mQ = Math.log1p(-q);
  const z0 = sigma ** 2 * Math.log(1 / q - 1) + 0.5;
  const scale = Math.SQRT2 * sigma;
  let logA0 = -Infinity;
  let logA1 = -Infinity;
  let lastS0 = -Infinity;
  let lastS1 = -Infinity;
  let logComb = 0; // log |C(α, i)|; α − i is never 0 for fractional α
  for (let i = 0; i < MAX_SERIES_TERMS; i++) {
    if (i > 0) logComb += Math.log(Math.abs(alpha - i + 1)) - Math.log(i);
    const j = alpha - i;
    const logT0 = logComb + i * logQ + j * log1mQ;
    const logT1 = logComb + j * logQ + i * log1mQ;
    const logE0 = Math.log(0.5) + logErfc((i - z0) / scale);
    const logE1 = Math.log(0.5) + logErfc((z0 - j) / scale);
    const logS0 = logT0 + (i * i - i) / (2 * sigma ** 2) + logE0;
    const logS1 = logT1 + (j * j - j) / (2 * sigma ** 2) + logE1;
    logA0 = logAdd(logA0, logS0);
    logA1 = logAdd(logA1, logS1);
    const total = logAdd(logA0, logA1);
    if (logS0 < lastS0 && logS1 < lastS1 && Math.max(logS0, logS1) < total - 30) return total;
    lastS0 = logS0;
    lastS1 = logS1;
  }
  return Infinity;
}

/** Throws bad-input unless `orders` is a non-empty list of numbers > 1 (∞ allowed). */
export function checkOrders(orders: readonly number[]): void {
  if (!Array.isArray(orders) || orders.length === 0)
    throw new LocalrecError('bad-input', 'orders must be a non-empty list of Rényi orders > 1');
  for (const a of orders)
    if (typeof a !== 'number' || !(a > 1))
      throw new LocalrecError('bad-input', `every Rényi order must be a number > 1, got ${a}`);
}

/** Throws bad-input unless q is in [0, 1] and the noise multiplier finite and ≥ 0. */
function checkMechanism({ q, noiseMultiplier }: SampledGaussian): void {
  if (typeof q !== 'number' || !(q >= 0 && q <= 1))
    throw new LocalrecError('bad-input', `q (the sampling rate) must be in [0, 1], got ${q}`);
  if (
    typeof noiseMultiplier !== 'number' ||
    !(noiseMultiplier >= 0) ||
    noiseMultiplier === Infinity
  )
    throw new LocalrecError(
      'bad-input',
      `noiseMultiplier must be a finite number >= 0, got ${noiseMultiplier}`,
    );
}

/** RDP of one step at order α (orders already checked). */
function rdpAt({ q, noiseMultiplier: sigma }: SampledGaussian, alpha: number): number {
  if (q === 0) return 0;
  if (alpha === Infinity || sigma === 0) return Infinity;
  if (q === 1) return alpha / (2 * sigma ** 2); // the Gaussian mechanism itself
  const logA = Number.isInteger(alpha) ? logAInt(q, sigma, alpha) : logAFrac(q, sigma, alpha);
  // A_α ≥ 1, so log A_α ≥ 0; rounding may leave −1e-17 when q is tiny.
  return Math.max(0, logA / (alpha - 1));
}

/**
 * The RDP of one step of the Poisson-subsampled Gaussian mechanism at each order: 0 when
 * q = 0, ∞ when σ = 0, α/(2σ²) when q = 1 (no amplification by sampling).
 *
 * ```ts
 * import { rdpSampledGaussian } from 'localrec/core';
 *
 * const perStep = rdpSampledGaussian({ q: 0.01, noiseMultiplier: 2.5 }, [1.5, 2.5, 5, 50]);
 * console.log(perStep.map((r) => r * 50)); // 50 steps: ≈ 6.7058e-4, 1.0855e-3, 2.1808e-3, 2.3846e-2
 * ```
 *
 * @throws LocalrecError `bad-input` for q outside [0, 1], σ < 0 or not finite, or orders that
 *   are empty or not all > 1.
 */
export function rdpSampledGaussian(
  mechanism: SampledGaussian,
  orders: readonly number[] = DEFAULT_RDP_ORDERS,
): Float64Array {
  checkMechanism(mechanism);
  checkOrders(orders);
  return Float64Array.from(orders, (alpha) => rdpAt(mechanism, alpha));
}

/**
 * RDP after `steps` runs of the mechanism: RDP composes by addition, so steps × per step (and
 * exactly 0 for 0 steps, also where one step's RDP is ∞).
 *
 * ```ts
 * import { composeRdp, rdpSampledGaussian } from 'localrec/core';
 *
 * const rounds = composeRdp(rdpSampledGaussian({ q: 1, noiseMultiplier: 4 }), 20);
 * ```
 *
 * @throws LocalrecError `bad-input` when steps is not a non-negative integer.
 */
export function composeRdp(perStep: Float64Array, steps: number): Float64Array {
  checkSteps(steps);
  return steps === 0 ? new Float64Array(perStep.length) : perStep.map((r) => r * steps);
}

/** Throws bad-input unless steps is a non-negative safe integer. */
export function checkSteps(steps: number): void {
  if (!Number.isSafeInteger(steps) || steps < 0)
    throw new LocalrecError('bad-input', `steps must be an integer >= 0, got ${steps}`);
}

/**
 * The robust rules: they read each update, so the intake must keep the updates (the round
 * store keeps only their sum) and they cannot run under secure aggregation.
 *
 * - **Norm-bounded mean** (Sun, Kairouz, Suresh & McMahan 2019, "Can You Really Backdoor
 *   Federated Learning?"): each update's L2 norm is cut to M before the fixed-denominator mean.
 *   The intake already holds every update to the round's clip norm C, so it changes anything only
 *   when M < C. It keeps DP-FedAvg's guarantee — one client still moves the mean by at most
 *   min(M, C) / n — and the optional noise is scaled to that bound.
 * - **Coordinate-wise trimmed mean** (Yin, Chen, Ramchandran & Bartlett 2018): per coordinate,
 *   the β·k largest and β·k smallest of the k values are dropped and the rest averaged. It has
 *   no DP option, on purpose (see {@link trimmedMean}).
 */
import type { Uniform } from '../../core/privacy/privatize.ts';
import {
  aggregationError,
  checkCount,
  checkNoiseMultiplier,
  checkUpdates,
  l2Norm,
  type AggregateResult,
  type UpdateContributions,
  type UpdatesAggregator,
} from './aggregator.ts';
import { noisyMean } from './noise.ts';

/** What {@link normBoundedMean} takes. */
export interface NormBoundedMeanOptions {
  /** M: the L2 bound each update is cut to (> 0). At or above the round's clip norm it is a no-op. */
  normBound: number;
  /** n, the fixed denominator, as in DP-FedAvg. */
  expectedClients: number;
  /** z, scaled to the sensitivity min(M, C) / n; 0 = no noise and no DP guarantee. */
  noiseMultiplier: number;
  /** Uniforms in [0, 1) for the noise; default the platform CSPRNG. Inject one only in tests. */
  random?: Uniform;
}

/**
 * Norm-bounded mean: Δ = Σ_k u_k · min(1, B / ‖u_k‖) / n + N(0, (z · B / n)² I), B = min(M, C).
 *
 * DP: the same Gaussian mechanism as DP-FedAvg with the clip bound B, so the same z gives the
 * same ε for less noise when M < C. Under secure aggregation the server cannot cut norms; the
 * equivalent there is a round clip norm of M, which the clients already enforce.
 */
export function normBoundedMean(options: NormBoundedMeanOptions): UpdatesAggregator {
  const M = options.normBound;
  if (!(Number.isFinite(M) && M > 0))
    throw aggregationError(`normBound (M) must be finite and > 0, got ${M}`);
  checkCount('expectedClients (n, the fixed denominator)', options.expectedClients);
  checkNoiseMultiplier(options.noiseMultiplier);
  return {
    needs: 'updates',
    method: 'norm-bounded-mean',
    aggregate(input: UpdateContributions): AggregateResult {
      const length = checkUpdates(input);
      const bound = Math.min(M, input.round.clipNorm);
      const sum = new Float64Array(length);
      let clipped = 0;
      for (const u of input.updates) {
        const norm = l2Norm(u);
        const scale = norm > bound ? bound / norm : 1;
        if (scale < 1) clipped++;
        for (let i = 0; i < length; i++) sum[i] = sum[i]! + u[i]! * scale;
      }
      const n = options.expectedClients;
      const z = options.noiseMultiplier;
      const { delta, sensitivity, noiseStd } = noisyMean(sum, n, bound, z, options.random);
      return {
        delta,
        report: {
          method: 'norm-bounded-mean',
          received: input.updates.length,
          denominator: n,
          sensitivity,
          noiseMultiplier: z,
          noiseStd,
          clipped,
        },
      };
    },
  };
}

/** What {@link trimmedMean} takes. */
export interface TrimmedMeanOptions {
  /** β in [0, 0.5): the fraction trimmed from EACH end per coordinate (⌊β·k⌋ values of k). */
  trim: number;
}

/**
 * Coordinate-wise trimmed mean: for every coordinate, the k received values sorted, t = ⌊β·k⌋
 * dropped from each end, the k − 2t left averaged. Up to t clients pushing a coordinate to any
 * value are trimmed away; β = 0 is the plain mean over the count received.
 *
 * DP: **refused, not approximated.** Its sensitivity is not C / n. The denominator k − 2t
 * depends on who came; and adding or removing one client shifts which values are kept in every
 * coordinate at once, moving each by up to about 2C / (k − 2t) — a bound set by the other
 * clients' values, not by that client's clipped norm — so over P coordinates the L2 sensitivity
 * is of the order √P · 2C / (k − 2t). Noise scaled to that would drown any model of useful size,
 * and noise scaled to C / n would claim a guarantee that does not hold. So this rule takes no
 * noise multiplier, its report's sensitivity is null, and a round aggregated with it must not be
 * counted as private. For robustness with DP, use the norm-bounded mean.
 */
export function trimmedMean(options: TrimmedMeanOptions): UpdatesAggregator {
  const beta = options.trim;
  if (!(Number.isFinite(beta) && beta >= 0 && beta < 0.5))
    throw aggregationError(
      `trim (β) must be in [0, 0.5): the fraction cut from each end, got ${beta}`,
    );
  const noise = (options as { noiseMultiplier?: unknown }).noiseMultiplier;
  if (noise !== undefined && noise !== 0)
    throw aggregationError(
      'trimmed mean takes no noise: its sensitivity is not C/n, so noise would not make it ' +
        'differentially private — use norm-bounded-mean with a noise multiplier instead',
    );
  return {
    needs: 'updates',
    method: 'trimmed-mean',
    aggregate(input: UpdateContributions): AggregateResult {
      const length = checkUpdates(input);
      const k = input.updates.length;
      const t = Math.floor(beta * k); // 2t < k since β < 0.5
      const kept = k - 2 * t;
      const column = new Float64Array(k);
      const delta = new Float64Array(length);
      for (let i = 0; i < length; i++) {
        for (let j = 0; j < k; j++) column[j] = input.updates[j]![i]!;
        column.sort(); // typed arrays sort numerically
        let s = 0;
        for (let j = t; j < k - t; j++) s += column[j]!;
        delta[i] = s / kept;
      }
      return {
        delta,
        report: {
          method: 'trimmed-mean',
          received: k,
          denominator: kept,
          sensitivity: null,
          noiseMultiplier: 0,
          noiseStd: 0,
          trimmed: t,
        },
      };
    },
  };
}

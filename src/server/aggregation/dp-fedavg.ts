/**
 * DP-FedAvg (McMahan, Ramage, Talwar & Zhang 2018, "Learning Differentially Private Recurrent
 * Language Models"): the mean of the round's clipped updates over a **fixed** denominator, plus
 * central Gaussian noise.
 *
 *   Δ = Σ_k u_k / n + N(0, (z · C / n)² I)
 *
 * with ‖u_k‖ ≤ C (the intake refuses anything over the round's clip norm), n the number of
 * clients the round expects — fixed before it opens, not the number that came — and z the noise
 * multiplier. Why the fixed denominator: adding or removing one client changes Σ by at most C
 * and leaves n alone, so the mean moves by at most C / n (the paper's estimator f̃_f, Lemma 1);
 * dividing by the count received instead would make the denominator depend on that very client
 * and the bound would no longer hold. Noise of standard deviation z · C / n is then the Gaussian
 * mechanism with noise multiplier z, which is what the privacy accountant composes over rounds.
 *
 * The price of the fixed n is bias when fewer clients come: the update shrinks by count / n (and
 * grows if more come — the bound C / n still holds). Clients are weighted equally (one report
 * per device per round); the paper's per-user weights capped at ŵ are the case ŵ = 1.
 *
 * It needs only the sum and the count, so it runs unchanged on a secure-aggregation sum.
 */
import type { Uniform } from '../../core/privacy/privatize.ts';
import {
  checkCount,
  checkNoiseMultiplier,
  checkSum,
  type AggregateResult,
  type SumAggregator,
  type SumContributions,
} from './aggregator.ts';
import { noisyMean } from './noise.ts';

/** What {@link dpFedAvg} takes. */
export interface DpFedAvgOptions {
  /**
   * n, the clients a round expects, fixed before it opens (the server's clients per round): the
   * denominator of the mean. A value picked after seeing the round voids the guarantee.
   */
  expectedClients: number;
  /**
   * z: the noise's standard deviation as a multiple of the sensitivity C / n. 0 adds no noise
   * and gives no DP guarantee; no default, so that choice is always written down.
   */
  noiseMultiplier: number;
  /** Uniforms in [0, 1) for the noise; default the platform CSPRNG. Inject one only in tests. */
  random?: Uniform;
}

/** DP-FedAvg over a round's sum (see the module comment). */
export function dpFedAvg(options: DpFedAvgOptions): SumAggregator {
  checkCount('expectedClients (n, the fixed denominator)', options.expectedClients);
  checkNoiseMultiplier(options.noiseMultiplier);
  return {
    needs: 'sum',
    method: 'dp-fedavg',
    aggregate(input: SumContributions): AggregateResult {
      checkSum(input);
      const n = options.expectedClients;
      const z = options.noiseMultiplier;
      const { delta, sensitivity, noiseStd } = noisyMean(
        input.sum,
        n,
        input.round.clipNorm,
        z,
        options.random,
      );
      return {
        delta,
        report: {
          method: 'dp-fedavg',
          received: input.count,
          denominator: n,
          sensitivity,
          noiseMultiplier: z,
          noiseStd,
        },
      };
    },
  };
}

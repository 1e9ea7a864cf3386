/**
 * The central Gaussian noise of DP-FedAvg and the fixed-denominator mean it is added to.
 *
 * The uniforms come from the platform's CSPRNG (`crypto.getRandomValues`, 53 bits each, via
 * `cryptoUniform` of src/core/privacy): a seeded PRNG would let whoever learns the seed subtract
 * the noise. Tests inject a seeded uniform instead. Both Box–Muller outputs are used, in float64.
 *
 * Known limit: a floating-point Gaussian is not exactly a Gaussian (its low-order bits and its
 * tails, cut at about 8.6σ by 53-bit uniforms, differ), and such artefacts have been turned into
 * attacks on DP implementations (Mironov 2012; Jin et al. 2022). The rigorous fix is a discrete
 * Gaussian on an integer grid (Canonne, Kamath & Steinke 2020), which is also what a secure
 * aggregation protocol with distributed noise would need (Kairouz et al. 2021); this sampler is
 * the usual practice of DP-FedAvg deployments, not that.
 */
import { cryptoUniform, type Uniform } from '../../core/privacy/privatize.ts';
import { LocalrecError } from '../../core/errors.ts';

export type { Uniform };

/** Adds N(0, std²) to every value in place (Box–Muller, both outputs). */
export function addGaussianNoise(values: Float64Array, std: number, random: Uniform): void {
  if (std === 0) return;
  const draw = (): number => {
    const u = random();
    if (!(u >= 0 && u < 1))
      throw new LocalrecError('internal', `the uniform source returned ${u}, outside [0, 1)`);
    return u;
  };
  for (let i = 0; i < values.length; i += 2) {
    const r = std * Math.sqrt(-2 * Math.log(1 - draw())); // 1 − u ∈ (0, 1]: log is finite
    const theta = 2 * Math.PI * draw();
    values[i] = values[i]! + r * Math.cos(theta);
    if (i + 1 < values.length) values[i + 1] = values[i + 1]! + r * Math.sin(theta);
  }
}

/**
 * sum / n plus Gaussian noise of standard deviation z · bound / n per coordinate, where `bound`
 * is the L2 norm no single client's update exceeds. Dividing by the fixed n (not by the count
 * received) is what makes one client's effect on the mean at most bound / n whatever the others
 * sent: with a data-dependent denominator the count itself would move with that client.
 */
export function noisyMean(
  sum: Float64Array,
  n: number,
  bound: number,
  noiseMultiplier: number,
  random: Uniform | undefined,
): { delta: Float64Array; sensitivity: number; noiseStd: number } {
  const delta = new Float64Array(sum.length);
  for (let i = 0; i < sum.length; i++) delta[i] = sum[i]! / n;
  const sensitivity = bound / n;
  const noiseStd = noiseMultiplier * sensitivity;
  if (noiseStd > 0) addGaussianNoise(delta, noiseStd, random ?? cryptoUniform());
  return { delta, sensitivity, noiseStd };
}

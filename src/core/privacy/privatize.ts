/**
 * The client side of a round's privacy: what a browser does to its fine-tuning change before
 * it leaves the device. The change is clipped to the round's L2 bound C (so one visitor moves
 * the round's sum by at most C — the sensitivity the server's Gaussian noise is scaled to),
 * optionally noised on the device (local DP), and rounded to int8 **stochastically**: each value
 * goes to one of its two neighbouring steps with the probabilities that make the rounding
 * unbiased (E[scale · q] = x), so the server's mean of many deltas has no rounding bias, where
 * round-to-nearest would drop every change smaller than half a step.
 *
 * Web-platform APIs only: runs in the browser, in workers and in Node.
 */
import { deltaNorm, randomUpdateId, type Delta, type DeltaSlice } from '../delta.ts';
import { LocalrecError } from '../errors.ts';

/** A source of uniform numbers in [0, 1). */
export type Uniform = () => number;

/** Uniform numbers from the platform's CSPRNG (53-bit, in blocks of 1024). */
export function cryptoUniform(): Uniform {
  const block = new Uint32Array(2048);
  let at = block.length;
  return () => {
    if (at >= block.length) {
      globalThis.crypto.getRandomValues(block);
      at = 0;
    }
    const hi = block[at++]! >>> 5; // 27 bits
    const lo = block[at++]! >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  };
}

/** A standard normal draw (Box–Muller) from a uniform source. */
export function gaussian(u: Uniform): number {
  let a = u();
  while (a <= 0) a = u();
  return Math.sqrt(-2 * Math.log(a)) * Math.cos(2 * Math.PI * u());
}

/** What {@link privatizeDelta} takes. */
export interface PrivatizeInput {
  roundId: number;
  baseVersion: string;
  /** The round's L2 bound C. */
  clipNorm: number;
  /** The change, one array per round slice, in the round's order. */
  slices: readonly Float32Array[];
  updateId?: string;
  /**
   * Local DP (off by default): Gaussian noise of standard deviation `localNoise · C` added to
   * every value after clipping, before the delta is clipped again to C (post-processing, so the
   * local guarantee holds) and rounded. It protects a visitor even from the server, at a steep
   * price: with P parameters the noise's norm is about √P · localNoise · C, so the re-clip
   * leaves almost nothing of the signal unless very many visitors contribute.
   */
  localNoise?: number;
  /** Randomness for rounding and noise; default the platform CSPRNG. */
  random?: Uniform;
}

/** What {@link privatizeDelta} returns: the delta and what the visitor's "Your data" shows. */
export interface PrivatizedDelta {
  delta: Delta;
  /** L2 norm of the change before clipping. */
  normBeforeClip: number;
  /** Whether clipping shrank it. */
  clipped: boolean;
}

function l2(slices: readonly Float32Array[] | readonly Float64Array[]): number {
  let sq = 0;
  for (const s of slices) for (let i = 0; i < s.length; i++) sq += s[i]! * s[i]!;
  return Math.sqrt(sq);
}

/** Stochastic int8 rounding of one slice with scale max|x|/127. */
function roundSlice(x: Float64Array, index: number, u: Uniform): DeltaSlice {
  let max = 0;
  for (let i = 0; i < x.length; i++) max = Math.max(max, Math.abs(x[i]!));
  const scale = max > 0 ? Math.fround(max / 127) : 0;
  const values = new Int8Array(x.length);
  if (scale > 0)
    for (let i = 0; i < x.length; i++) {
      const y = x[i]! / scale;
      const lo = Math.floor(y);
      const q = lo + (u() < y - lo ? 1 : 0);
      values[i] = Math.max(-127, Math.min(127, q));
    }
  return { index, scale, values };
}

/** The expected squared-norm increase of {@link roundSlice} over `x`: Σ scale² · f(1 − f). */
function roundingVariance(x: Float64Array): number {
  let max = 0;
  for (let i = 0; i < x.length; i++) max = Math.max(max, Math.abs(x[i]!));
  const scale = max > 0 ? Math.fround(max / 127) : 0;
  if (scale === 0) return 0;
  let v = 0;
  for (let i = 0; i < x.length; i++) {
    const y = x[i]! / scale;
    const f = y - Math.floor(y);
    v += f * (1 - f);
  }
  return v * scale * scale;
}

/**
 * Scales `xs` (in place) so that its squared norm plus twice the rounding's expected variance
 * is at most C²; leaves a change that already fits as it is.
 */
function fitRounding(xs: Float64Array[], C: number): void {
  let sq = 0;
  let variance = 0;
  for (const x of xs) {
    for (let i = 0; i < x.length; i++) sq += x[i]! * x[i]!;
    variance += roundingVariance(x);
  }
  const need = sq + 2 * variance;
  if (need <= C * C) return;
  const f = C / Math.sqrt(need);
  for (const x of xs) for (let i = 0; i < x.length; i++) x[i]! *= f;
}

/**
 * Clips, optionally noises, and stochastically rounds a change into a delta whose dequantized
 * L2 norm — what the server checks — is at most C. Unbiased rounding adds its variance to the
 * squared norm (Σ scale² · f(1 − f) over the values, f the fraction between two steps), so a
 * change clipped to exactly C would round to just over C about every time: where the squared
 * norm plus twice that expected variance passes C², the change is first scaled to fit it (a
 * factor within about 10⁻⁴ of 1 for a model's worth of values, applied only to changes already
 * at the bound). One rounding is drawn; in the rare case it still lands over C, the scales are
 * shrunk to meet the bound.
 *
 * ```ts
 * import { encodeDelta, privatizeDelta } from 'localrec/core';
 *
 * declare const slices: Float32Array[]; // new minus base weights, one per round slice
 * const { delta } = privatizeDelta({ roundId: 3, baseVersion: 'v1', clipNorm: 1, slices });
 * const body = encodeDelta(delta); // what the outbox posts
 * ```
 *
 * @throws LocalrecError `bad-input` for a non-finite value, a bound that is not > 0, or a
 *   negative `localNoise`.
 */
export function privatizeDelta(input: PrivatizeInput): PrivatizedDelta {
  const C = input.clipNorm;
  if (!(Number.isFinite(C) && C > 0))
    throw new LocalrecError('bad-input', `clip norm must be finite and > 0, got ${C}`);
  const noise = input.localNoise ?? 0;
  if (!(Number.isFinite(noise) && noise >= 0))
    throw new LocalrecError('bad-input', `localNoise must be ≥ 0, got ${noise}`);
  for (const s of input.slices)
    for (let i = 0; i < s.length; i++)
      if (!Number.isFinite(s[i]!))
        throw new LocalrecError('bad-input', 'delta: a value is not finite');
  const u = input.random ?? cryptoUniform();
  const normBeforeClip = l2(input.slices);
  const clip = (xs: Float64Array[], norm: number) => {
    if (norm <= C) return;
    const f = C / norm;
    for (const x of xs) for (let i = 0; i < x.length; i++) x[i]! *= f;
  };
  const xs = input.slices.map((s) => Float64Array.from(s));
  clip(xs, normBeforeClip);
  if (noise > 0) {
    for (const x of xs) for (let i = 0; i < x.length; i++) x[i]! += noise * C * gaussian(u);
    clip(xs, l2(xs));
  }
  const d: Delta = {
    roundId: input.roundId,
    baseVersion: input.baseVersion,
    updateId: input.updateId ?? randomUpdateId(),
    clipNorm: Math.fround(C),
    slices: [],
  };
  fitRounding(xs, C);
  d.slices = xs.map((x, i) => roundSlice(x, i, u));
  for (let tries = 0; deltaNorm(d) > C && tries < 64; tries++) {
    const shrink = (C / deltaNorm(d)) * (1 - 1e-7);
    for (const s of d.slices) s.scale = Math.fround(s.scale * shrink);
  }
  return { delta: d, normBeforeClip, clipped: normBeforeClip > C || noise > 0 };
}

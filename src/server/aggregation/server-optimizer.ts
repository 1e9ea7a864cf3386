/**
 * Server optimizers: how a round's aggregate Δ moves the published weights. The aggregate is a
 * pseudo-gradient pointing downhill (new minus base weights, averaged), so every rule *adds* it.
 *
 * - `sgd`: w ← w + η Δ. With η = 1 (the default) this is plain FedAvg: the new model is the
 *   base plus the mean update.
 * - `fedadam` (Reddi et al. 2021, "Adaptive Federated Optimization", Algorithm 2):
 *   m ← β1 m + (1 − β1) Δ, v ← β2 v + (1 − β2) Δ², w ← w + η m / (√v + τ), coordinate-wise,
 *   with no bias correction (as in the paper), m starting at 0 and v at τ² (the paper asks
 *   v₋₁ ≥ τ²). Defaults follow the paper's set-up: β1 = 0.9 and β2 = 0.99 (fixed there for every
 *   task) and τ = 10⁻³ (the adaptivity τ bounds the per-coordinate step by about η·|m|/τ; the
 *   paper tunes it on a log grid and finds adaptive methods robust around this value). η has no
 *   universal value — the paper tunes it per task on a log₁₀ grid — and the default 10⁻² is a
 *   conservative start: early steps move each coordinate by about η, whatever Δ's scale, so η
 *   should be of the order of the per-coordinate change one round is meant to make (try 10⁻³ …
 *   10⁻¹).
 *
 * DP: the optimizer only post-processes the noised aggregate, so it costs no privacy.
 */
import { LocalrecError } from '../../core/errors.ts';
import { sliceOffsets, type SliceSpec } from '../store/round-store.ts';
import {
  checkStateSlices,
  decodeOptimizerState,
  encodeOptimizerState,
  type ServerOptimizerKind,
} from './optimizer-state.ts';

/** Options of the plain server learning rate. */
export interface SgdOptions {
  kind: 'sgd';
  /** The round spec's parameter set: the layout of the weights and the deltas. */
  slices: readonly SliceSpec[];
  /** η > 0; default 1 (FedAvg). */
  learningRate?: number;
  /** Rounds over which η rises linearly from η/W to η (W ≥ 0; default 0: none). */
  warmupRounds?: number;
  /** η halves every this many rounds: η·2^(−t/H) at round t (H > 0; default 0: constant). */
  halfLifeRounds?: number;
  /** Bytes from {@link ServerOptimizer.saveState} to resume from. */
  state?: Uint8Array;
}

/** Options of FedAdam. */
export interface FedAdamOptions {
  kind: 'fedadam';
  /** The round spec's parameter set: the layout of the weights and the deltas. */
  slices: readonly SliceSpec[];
  /** η > 0; default 0.01. */
  learningRate?: number;
  /** β1 in [0, 1); default 0.9. */
  beta1?: number;
  /** β2 in [0, 1); default 0.99. */
  beta2?: number;
  /** τ > 0, the adaptivity; default 1e-3. */
  tau?: number;
  /**
   * Rounds over which η rises linearly from η/W to η (W ≥ 0; default 0: none). FedAdam's
   * first steps move every coordinate by about η whatever its signal (m and v hold one round),
   * which knocks a trained model back before the moments settle; a warm-up keeps those steps
   * small.
   */
  warmupRounds?: number;
  /**
   * η halves every this many rounds: η·2^(−t/H) at round t (H > 0; default 0: constant). A
   * constant η leaves the published model wandering around the optimum by about η a
   * coordinate; a decay lets it settle, as central training lowers its rate.
   */
  halfLifeRounds?: number;
  /** Bytes from {@link ServerOptimizer.saveState} to resume from (its moments). */
  state?: Uint8Array;
}

/** What {@link createServerOptimizer} takes. */
export type ServerOptimizerOptions = SgdOptions | FedAdamOptions;

/** A server optimizer over one parameter set. */
export interface ServerOptimizer {
  readonly kind: ServerOptimizerKind;
  readonly slices: readonly SliceSpec[];
  /** Rounds applied so far (restored with the state). */
  readonly steps: number;
  /**
   * The next weights: `weights` moved by the round's Δ, in a new array of the same type (the
   * input is left as it was). Advances the optimizer's state; persist {@link saveState} with the
   * version these weights become, and on a failed publish rebuild the optimizer from the last
   * saved state.
   *
   * @throws LocalrecError `bad-input` for a length other than the parameter set's or a
   *   non-finite value; nothing changes then.
   */
  apply(weights: Float32Array, delta: Float64Array): Float32Array;
  apply(weights: Float64Array, delta: Float64Array): Float64Array;
  /** The state as bytes (optimizer-state.ts), to resume after a restart. */
  saveState(): Uint8Array;
}

function bad(what: string): LocalrecError {
  return new LocalrecError('bad-input', `server optimizer: ${what}`);
}

function check(name: string, x: number, ok: (x: number) => boolean, rule: string): number {
  if (!(Number.isFinite(x) && ok(x))) throw bad(`${name} must be ${rule}, got ${x}`);
  return x;
}

function checkVector(what: string, v: Float32Array | Float64Array, length: number): void {
  if (v.length !== length)
    throw bad(`${what} has ${v.length} values, the parameter set has ${length}`);
  for (let i = 0; i < v.length; i++)
    if (!Number.isFinite(v[i]!)) throw bad(`${what}: value ${i} is not finite`);
}

/**
 * A server optimizer for a round spec's parameter set, fresh or resumed from saved state.
 *
 * ```ts
 * import { createServerOptimizer } from 'localrec/server';
 *
 * declare const weights: Float32Array; // the published trainable blob
 * declare const delta: Float64Array; // a round's aggregate
 * declare const saved: Uint8Array | undefined; // the state stored with that version
 * const slices = [{ name: 'item_emb', shape: [1683, 64] }];
 * const opt = createServerOptimizer({ kind: 'fedadam', slices, learningRate: 0.01, state: saved });
 * const next = opt.apply(weights, delta);
 * const state = opt.saveState(); // store it with the version `next` becomes
 * ```
 *
 * @throws LocalrecError `bad-input` for a bad hyperparameter, or a state of another kind or
 *   parameter set; `bad-format` / `unsupported-version` for a state that is not one.
 */
export function createServerOptimizer(options: ServerOptimizerOptions): ServerOptimizer {
  const slices = options.slices.map((s) => ({ name: s.name, shape: [...s.shape] }));
  if (slices.length < 1) throw bad('the parameter set must have at least one slice');
  const length = sliceOffsets(slices).at(-1)!;
  const baseEta = check(
    'learningRate',
    options.learningRate ?? (options.kind === 'sgd' ? 1 : 0.01),
    (x) => x > 0,
    '> 0',
  );
  let b1 = 0;
  let b2 = 0;
  let tau = 0;
  if (options.kind === 'fedadam') {
    const unit = (x: number) => x >= 0 && x < 1;
    b1 = check('beta1', options.beta1 ?? 0.9, unit, 'in [0, 1)');
    b2 = check('beta2', options.beta2 ?? 0.99, unit, 'in [0, 1)');
    tau = check('tau', options.tau ?? 1e-3, (x) => x > 0, '> 0');
  } else if (options.kind !== 'sgd') {
    throw bad(
      `unknown kind '${String((options as { kind?: unknown }).kind)}'; choose sgd or fedadam`,
    );
  }
  const kind = options.kind;
  const warmup = check(
    'warmupRounds',
    options.warmupRounds ?? 0,
    (x) => Number.isInteger(x) && x >= 0,
    'an integer ≥ 0',
  );
  const halfLife = check('halfLifeRounds', options.halfLifeRounds ?? 0, (x) => x >= 0, '≥ 0');

  let steps = 0;
  let m: Float64Array = new Float64Array(kind === 'fedadam' ? length : 0);
  let v: Float64Array = new Float64Array(kind === 'fedadam' ? length : 0).fill(tau * tau);
  if (options.state !== undefined) {
    const state = decodeOptimizerState(options.state);
    if (state.kind !== kind)
      throw bad(`the saved state is a ${state.kind} optimizer's, the options ask for ${kind}`);
    checkStateSlices(state.slices, slices);
    steps = state.steps;
    if (kind === 'fedadam') [m, v] = state.arrays as [Float64Array, Float64Array];
  }

  function step(w: Float32Array | Float64Array, delta: Float64Array, out: typeof w): void {
    // This step is number steps + 1; during the warm-up η grows by η/W a round; with a half-life
    // it then halves every H rounds (counted from the first round, warm-up included).
    const rise = warmup > 0 ? Math.min(1, (steps + 1) / warmup) : 1;
    const decay = halfLife > 0 ? 2 ** (-steps / halfLife) : 1;
    const eta = baseEta * rise * decay;
    if (kind === 'sgd') {
      for (let i = 0; i < length; i++) out[i] = w[i]! + eta * delta[i]!;
      return;
    }
    for (let i = 0; i < length; i++) {
      const d = delta[i]!;
      const mi = b1 * m[i]! + (1 - b1) * d;
      const vi = b2 * v[i]! + (1 - b2) * d * d;
      m[i] = mi;
      v[i] = vi;
      out[i] = w[i]! + (eta * mi) / (Math.sqrt(vi) + tau);
    }
  }

  return {
    kind,
    slices,
    get steps() {
      return steps;
    },
    apply<W extends Float32Array | Float64Array>(weights: W, delta: Float64Array): W {
      if (!(weights instanceof Float32Array || weights instanceof Float64Array))
        throw bad('weights must be a Float32Array or a Float64Array');
      if (!(delta instanceof Float64Array)) throw bad('the delta must be a Float64Array');
      checkVector('the weights', weights, length);
      checkVector('the delta', delta, length);
      const out = (
        weights instanceof Float32Array ? new Float32Array(length) : new Float64Array(length)
      ) as W;
      step(weights, delta, out);
      steps++;
      return out;
    },
    saveState(): Uint8Array {
      return encodeOptimizerState({
        kind,
        steps,
        slices,
        arrays: kind === 'fedadam' ? [m, v] : [],
      });
    },
  };
}

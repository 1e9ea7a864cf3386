/**
 * One client's part of a federated round: fine-tune the shipped SASRec (single model or every
 * member of an ensemble) on that client's own item sequence for a few optimizer steps, from the
 * weights of the round's base version, and return the change of the federated parameter set.
 * The same code runs in the browser's trainer worker (tfjs on WebGPU or wasm) and in
 * `localrec fedsim` (tfjs in Node): the forward pass and the loss are central training's own
 * (models/sasrec/loss.ts `sliceLoss`, with the default training config's loss options).
 */
import * as tf from '@tensorflow/tfjs';
import { LocalrecError } from '../../src/core/errors.ts';
import { Rng } from '../../src/core/random.ts';
import { buildExamples } from '../training/examples.ts';
import { defaultTrainConfig, type SasrecConfig } from '../sasrec/config.ts';
import { sliceLoss } from '../sasrec/slice.ts';
import { memberConfig, memberCount, memberPrefix } from '../sasrec/model.ts';
import { toVariables } from '../tf-ops.ts';
import type { WeightArrays } from '../weights.ts';
import { sliceValues, type ParameterSet } from './parameter-set.ts';

/** How clients train in a round: part of the round's public spec, the same for every client. */
export interface LocalTrainSpec {
  /** Optimizer steps on the client's sequence. */
  steps: number;
  learningRate: number;
  /** 'adam' starts from a fresh state each round; 'sgd' is plain gradient descent. */
  optimizer: 'sgd' | 'adam';
}

/**
 * Defaults of a round's local training: one plain gradient step per round (FedSGD), with the
 * server's FedAdam doing the adapting. Chosen on ML-100K validation with `localrec fedsim`
 * (2026-12-03): four local Adam steps (lr 1e-3 or 2e-3) or four SGD steps (lr 0.05) with a
 * plain server step left validation NDCG@10 flat or lower over 6–8 rounds; one SGD step with
 * FedAdam (lr 2e-3) at the server rose (docs/BENCHMARKS.md, "Federated learning").
 */
export const DEFAULT_LOCAL_TRAIN: LocalTrainSpec = {
  steps: 1,
  learningRate: 1,
  optimizer: 'sgd',
};

/** Checks a spec from a manifest or a flag; returns it. */
export function checkLocalTrainSpec(s: LocalTrainSpec): LocalTrainSpec {
  const bad = (m: string) => new LocalrecError('bad-input', `local training: ${m}`);
  if (!Number.isInteger(s.steps) || s.steps < 1 || s.steps > 1000)
    throw bad(`steps must be an integer from 1 to 1000, got ${s.steps}`);
  if (!(s.learningRate > 0 && s.learningRate < 10))
    throw bad(`learningRate must be in (0, 10), got ${s.learningRate}`);
  if (s.optimizer !== 'sgd' && s.optimizer !== 'adam')
    throw bad(`optimizer must be 'sgd' or 'adam', got ${String(s.optimizer)}`);
  return s;
}

/** What {@link localUpdate} returns. */
export interface LocalUpdate {
  /** New minus base values, one array per slice of the parameter set (not clipped). */
  slices: Float32Array[];
  /** The training loss of each step, per member (members × steps). */
  losses: number[][];
  /** Training positions the client's sequence gave. */
  positions: number;
}

/** Member k's weights under their single-model names, as tfjs variables. */
function memberVariables(c: SasrecConfig, base: WeightArrays, k: number) {
  const prefix = memberCount(c) > 1 ? memberPrefix(k) : '';
  const tensors: Record<string, tf.Tensor> = {};
  for (const [name, a] of Object.entries(base))
    if (name.startsWith(prefix)) tensors[name.slice(prefix.length)] = tf.tensor(a.data, a.shape);
  const vars = toVariables(tensors);
  tf.dispose(Object.values(tensors));
  return { prefix, vars };
}

/**
 * Fine-tunes every member on `sequence` (internal item indices, oldest first; the last
 * `maxLen + 1` are used) and returns the change of `set`'s values. Deterministic given `seed`
 * (dropout and cropping draw from it). Returns null when the sequence has fewer than two items:
 * there is no next-item pair to learn from.
 */
export async function localUpdate(
  c: SasrecConfig,
  base: WeightArrays,
  set: ParameterSet,
  sequence: Int32Array,
  spec: LocalTrainSpec,
  seed: number,
): Promise<LocalUpdate | null> {
  checkLocalTrainSpec(spec);
  for (const x of sequence)
    if (!Number.isInteger(x) || x < 1 || x > c.numItems)
      throw new LocalrecError('bad-input', `the sequence holds ${x}, not an item index`);
  if (sequence.length < 2) return null;
  const one = memberConfig(c);
  const tc = defaultTrainConfig;
  const rng = new Rng(seed);
  const split = {
    numItems: c.numItems,
    itemIds: [],
    users: [{ user: 'me', train: sequence.slice(-(c.maxLen + 1)), valid: 0, test: 0 }],
  };
  const trained: WeightArrays = {};
  const losses: number[][] = [];
  let positions = 0;
  for (let k = 0; k < memberCount(c); k++) {
    const { prefix, vars } = memberVariables(c, base, k);
    const varList = Object.values(vars);
    const optimizer =
      spec.optimizer === 'adam'
        ? tf.train.adam(spec.learningRate)
        : tf.train.sgd(spec.learningRate);
    const memberLosses: number[] = [];
    try {
      for (let step = 0; step < spec.steps; step++) {
        // Central training's examples: the same crop rule, so local steps see what epochs see.
        const [ex] = buildExamples(split, one.maxLen, tc.cropRate, rng);
        if (!ex) break;
        if (k === 0 && step === 0) positions = ex.target.length;
        const loss = optimizer.minimize(
          () =>
            sliceLoss(
              one,
              vars,
              [ex.input],
              [ex.target],
              {
                loss: tc.loss,
                excludeSeen: tc.excludeSeen,
                perUser: tc.perUserLoss,
                F: null,
                idDropout: 0,
              },
              rng,
            ),
          true,
          varList,
        )!;
        memberLosses.push((await loss.data())[0]!);
        loss.dispose();
      }
      for (const [name, v] of Object.entries(vars))
        trained[prefix + name] = {
          data: (await v.data()) as Float32Array,
          shape: [...v.shape],
        };
    } finally {
      optimizer.dispose();
      tf.dispose(varList);
    }
    losses.push(memberLosses);
  }
  const before = sliceValues(set, base);
  const after = sliceValues(set, trained);
  const slices = after.map((a, i) => {
    const b = before[i]!;
    for (let j = 0; j < a.length; j++) a[j]! -= b[j]!;
    return a;
  });
  return { slices, losses, positions };
}

/**
 * The poisoning run's attacker: a client that, instead of fine-tuning, sends the max-norm delta
 * (L2 norm exactly the round's clip norm C) that pushes one target item up for users in general.
 *
 * What it sends: the **mean query vector** q̄ of the base model — the mean, over sequences the
 * attacker can see (public histories), of what the shipped encoder outputs and every item row is
 * dotted with (h, or h / (|h|·T) for a cosine model; an ensemble's members side by side, each
 * / K) — written into the target's item-embedding row of every member (and, where the model has
 * item biases, the bias component of the query, 1 / K, into its bias), zero everywhere else,
 * scaled to norm C. For a dot-product model that is the gradient of the target's mean score over
 * those users with respect to its row, so it is the steepest way up that C allows; for a cosine
 * model it turns the row towards q̄, and the cosine with q̄ rises monotonically with the step:
 * cos(e + s·q̂, q̂) = (e·q̂ + s) / |e + s·q̂| has derivative ∝ |e|² − (e·q̂)² ≥ 0 in s. The item
 * rows are also the model's input embeddings, so users whose history holds the target see it
 * change there too. Recomputed from each round's base, as an attacker reading the published
 * model would. Every attacker of a round sends the same direction (a coordinated attack: their
 * pushes add up, which is what a mean is weakest against).
 */
import * as tf from '@tensorflow/tfjs';
import { LocalrecError } from '../../core/errors.ts';
import type { SasrecConfig } from '../../../models/sasrec/config.ts';
import {
  arraysToWeights,
  memberConfig,
  memberCount,
  memberPrefix,
  scoreAll,
  userVectors,
} from '../../../models/sasrec/model.ts';
import type { WeightArrays } from '../../../models/weights.ts';
import type { ParameterSet } from '../../../models/federated/parameter-set.ts';

/** What the attacker works from: the round's base model and its parameter set. */
export interface AttackBase {
  config: SasrecConfig;
  weights: WeightArrays;
  set: ParameterSet;
}

/** Mean of the rows of `seqs`' query vectors (what item rows are dotted with), in batches. */
function meanQuery(c: SasrecConfig, w: WeightArrays, seqs: Int32Array[]): Float64Array {
  const tw = arraysToWeights(c, w);
  try {
    const width = c.dim * memberCount(c);
    const sum = new Float64Array(width);
    for (let at = 0; at < seqs.length; at += 256) {
      const batch = seqs.slice(at, at + 256).map((s) => s.slice(-c.maxLen));
      const q = userVectors(c, tw, batch);
      const v = q.dataSync();
      q.dispose();
      for (let b = 0; b < batch.length; b++)
        for (let j = 0; j < width; j++) sum[j]! += v[b * width + j]!;
    }
    for (let j = 0; j < width; j++) sum[j]! /= Math.max(1, seqs.length);
    return sum;
  } finally {
    tf.dispose(Object.values(tw));
  }
}

/**
 * The attacker's change (one array per slice of the round's parameter set) for `target` (an
 * internal item index), with L2 norm exactly `clipNorm`. `sequences`: the histories the attacker
 * averages the query over (at least one, each with at least one item).
 *
 * @throws LocalrecError `bad-input` when the target's row is not in the parameter set, or no
 *   sequence is given.
 */
export function targetPushDelta(
  base: AttackBase,
  target: number,
  sequences: Int32Array[],
  clipNorm: number,
): Float32Array[] {
  const { config: c, set } = base;
  const row = set.rows.indexOf(target);
  if (row < 0)
    throw new LocalrecError(
      'bad-input',
      `item ${target} has no row in the round's parameter set: an attacker cannot move it directly`,
    );
  const seqs = sequences.filter((s) => s.length > 0);
  if (seqs.length === 0)
    throw new LocalrecError('bad-input', 'the attacker needs at least one non-empty sequence');
  if (!(clipNorm > 0))
    throw new LocalrecError('bad-input', `clip norm must be > 0, got ${clipNorm}`);
  const q = meanQuery(c, base.weights, seqs);
  const K = memberCount(c);
  const dim = memberConfig(c).dim;
  const prefix = (k: number) => (K > 1 ? memberPrefix(k) : '');
  const out = set.slices.map((s) => new Float32Array(s.shape.reduce((a, b) => a * b, 1)));
  const x = new Float64Array(K * (dim + 1));
  for (let k = 0; k < K; k++) {
    for (let j = 0; j < dim; j++) x[k * (dim + 1) + j] = q[k * dim + j]!;
    x[k * (dim + 1) + dim] = 1 / K;
  }
  let sq = 0;
  const placed: { slice: number; at: number; value: number }[] = [];
  set.slices.forEach((s, i) => {
    if (!s.itemRows) return;
    for (let k = 0; k < K; k++) {
      if (s.tensor === `${prefix(k)}item_emb`)
        for (let j = 0; j < dim; j++)
          placed.push({ slice: i, at: row * dim + j, value: x[k * (dim + 1) + j]! });
      else if (s.tensor === `${prefix(k)}item_bias`)
        placed.push({ slice: i, at: row, value: x[k * (dim + 1) + dim]! });
    }
  });
  for (const p of placed) sq += p.value * p.value;
  if (!(sq > 0))
    throw new LocalrecError('internal', 'the mean query vector is zero: nothing to push along');
  const scale = clipNorm / Math.sqrt(sq);
  for (const p of placed) out[p.slice]![p.at] = p.value * scale;
  // Float32 rounding can leave the norm a hair over C; the intake refuses anything over it.
  let n = 0;
  for (const a of out) for (const v of a) n += v * v;
  if (Math.sqrt(n) > clipNorm) {
    const f = Math.fround((clipNorm / Math.sqrt(n)) * (1 - 1e-7));
    for (const a of out) for (let i = 0; i < a.length; i++) a[i] = a[i]! * f;
  }
  return out;
}

/** Mean score of `item` over `sequences` under weights `w` (what the attack raises; for tests). */
export function meanItemScore(
  c: SasrecConfig,
  w: WeightArrays,
  sequences: Int32Array[],
  item: number,
): number {
  const tw = arraysToWeights(c, w);
  try {
    const s = scoreAll(
      c,
      tw,
      sequences.map((x) => x.slice(-c.maxLen)),
    );
    const v = s.dataSync();
    s.dispose();
    const width = c.numItems + 1;
    let sum = 0;
    for (let b = 0; b < sequences.length; b++) sum += v[b * width + item]!;
    return sum / sequences.length;
  } finally {
    tf.dispose(Object.values(tw));
  }
}

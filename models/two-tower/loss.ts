import * as tf from '@tensorflow/tfjs';
import { LocalrecError } from '../../src/core/errors.ts';
import type { Rng } from '../../src/core/random.ts';
import { lookup, MASK_VALUE, matMul, softmaxCrossEntropy } from '../tf-ops.ts';
import type { TwoTowerConfig } from './config.ts';
import type { ItemFeatures } from '../training/item-features.ts';
import { itemTower, userTowerPrefixes, type TwoTowerWeights } from './model.ts';

/**
 * In-batch sampled softmax with the logQ correction.
 *
 * A batch is a few users' sequences; every position t with a target is one training row
 * (user tower over the items up to t → the item after t). The softmax of a row runs over the
 * batch's candidate set: the distinct target items of all its rows (no catalog-wide softmax,
 * and no duplicate columns, so there are no "accidental hits" to remove).
 *
 * The candidate set is a popularity-biased sample of the catalog: popular items are in almost
 * every batch, rare ones seldom, so without a correction the model learns to push popular
 * items down (they are negatives far more often than their share of the catalog). The
 * sampled-softmax correction (Bengio & Senécal 2008; Jean et al. 2015; for in-batch negatives
 * Yi et al., RecSys 2019) subtracts from every logit of column j the log of j's probability
 * of being sampled into the set. Taking the R target rows as R independent draws from the
 * training-target distribution p (p_j = item j's share of all training targets):
 *
 *     π_j = P(j in the candidate set) = 1 − (1 − p_j)^R,    logit'_rj = cos(u_r, v_j)/τ − log π_j
 *
 * For rare items π_j ≈ R·p_j, i.e. "subtract log p_j" up to a constant that cancels in the
 * softmax; an item so popular that it is in nearly every batch gets π_j → 1 and no correction.
 * The positive column is corrected too, as in TF's sampled_softmax_loss.
 */

/** log π_j = log(1 − (1 − p_j)^R) for each p_j, computed as log(−expm1(R·log1p(−p))). */
export function logQCorrection(p: ArrayLike<number>, rows: number): Float32Array {
  const out = new Float32Array(p.length);
  for (let j = 0; j < p.length; j++) {
    const pj = Math.min(1, Math.max(p[j]!, 1e-12));
    out[j] = pj >= 1 ? 0 : Math.log(-Math.expm1(rows * Math.log1p(-pj)));
  }
  return out;
}

/**
 * Each item's share of the training targets the examples hold (targets are 1..numItems,
 * 0 = padding): the sampling distribution of the in-batch candidates.
 */
export function targetDistribution(targets: Int32Array[], numItems: number): Float64Array {
  const p = new Float64Array(numItems + 1);
  let total = 0;
  for (const t of targets) {
    for (const i of t) {
      if (i === 0) continue;
      p[i]! += 1;
      total++;
    }
  }
  if (total > 0) for (let i = 0; i <= numItems; i++) p[i]! /= total;
  return p;
}

/** One batch laid out for {@link twoTowerLoss}: plain arrays, no tensors. */
export interface PreparedBatch {
  batch: number;
  /** Positions per sequence (left-padded). */
  T: number;
  /** Distinct items of the inputs and targets; local index l+1 is items[l], 0 is padding. */
  items: Int32Array;
  /** (items) 0 = show the item as new this step (id-dropout), 1 = as it is. */
  keep: Float32Array;
  /** (batch·T) local index of each input item. */
  localInputs: Int32Array;
  /** (K) the candidate set: distinct target items, in first-seen order. */
  candidates: Int32Array;
  /** (K) local index of each candidate. */
  candidateLocal: Int32Array;
  /** (batch·T) column of each row's target in `candidates` (0 on padding rows). */
  labels: Int32Array;
  /** (batch·T) 1 for rows with a target, 0 for padding. */
  weights: Float32Array;
  /** Rows with a target (R). */
  rows: number;
  /** (K) log π of each candidate ({@link logQCorrection}); zeros when the correction is off. */
  logQ: Float32Array;
  /** (batch·T, K) additive mask: MASK_VALUE on items seen up to that position (its target excepted). */
  seen: Float32Array | null;
  /** (batch·T, C) the context of predicting each row's target (0 on padding); null without context. */
  context: Float32Array | null;
}

export interface PrepareOptions {
  idDropout: number;
  excludeSeen: boolean;
  /** Apply the logQ correction (default true; off only to measure what it does). */
  logQ?: boolean;
  /**
   * For a model with context features: per sequence, (targets.length, width) the context of
   * predicting each target (models/two-tower/context.ts), aligned with `targets`.
   */
  context?: { rows: Float32Array[]; width: number };
}

/**
 * Lays out one batch: left-pads inputs/targets to T = the longest (≤ maxLen, the last items
 * kept), collects the distinct items and candidates, draws id-dropout, and computes the logQ
 * correction from `targetProb` (p per item index) with R = the batch's rows with a target.
 */
export function prepareBatch(
  inputs: Int32Array[],
  targets: Int32Array[],
  maxLen: number,
  targetProb: ArrayLike<number>,
  rng: Rng,
  opts: PrepareOptions,
): PreparedBatch {
  const B = inputs.length;
  const T = Math.max(1, Math.min(maxLen, Math.max(...inputs.map((s) => s.length))));
  const ins = new Int32Array(B * T);
  const tgs = new Int32Array(B * T);
  const C = opts.context?.width ?? 0;
  const context = opts.context ? new Float32Array(B * T * C) : null;
  for (let b = 0; b < B; b++) {
    const s = inputs[b]!;
    const g = targets[b]!;
    const n = Math.min(T, s.length);
    const cr = opts.context?.rows[b];
    if (context && cr?.length !== g.length * C)
      throw new LocalrecError(
        'bad-input',
        `sequence ${b}: context has ${cr?.length ?? 0} values, ${g.length} targets × ${C} need ${g.length * C}`,
      );
    for (let j = 0; j < n; j++) {
      const r = b * T + T - n + j;
      const k = g.length - n + j;
      ins[r] = s[s.length - n + j]!;
      tgs[r] = g[k]!;
      if (context) context.set(cr!.subarray(k * C, (k + 1) * C), r * C);
    }
  }
  const local = new Map<number, number>();
  const items: number[] = [];
  const localOf = (i: number) => {
    let l = local.get(i);
    if (l === undefined) {
      items.push(i);
      l = items.length;
      local.set(i, l);
    }
    return l;
  };
  const localInputs = new Int32Array(B * T);
  const candidateCol = new Map<number, number>();
  const candidates: number[] = [];
  const labels = new Int32Array(B * T);
  const weights = new Float32Array(B * T);
  let rows = 0;
  for (let r = 0; r < B * T; r++) {
    if (ins[r] !== 0) localInputs[r] = localOf(ins[r]!);
    const t = tgs[r]!;
    if (t === 0 || ins[r] === 0) continue;
    let col = candidateCol.get(t);
    if (col === undefined) {
      col = candidates.length;
      candidates.push(t);
      candidateCol.set(t, col);
      localOf(t);
    }
    labels[r] = col;
    weights[r] = 1;
    rows++;
  }
  const keep = new Float32Array(items.length);
  for (let l = 0; l < items.length; l++) keep[l] = rng.next() < opts.idDropout ? 0 : 1;
  const K = candidates.length;
  const logQ =
    opts.logQ === false
      ? new Float32Array(K)
      : logQCorrection(
          candidates.map((i) => targetProb[i]!),
          rows,
        );

  let seen: Float32Array | null = null;
  if (opts.excludeSeen) {
    seen = new Float32Array(B * T * K);
    for (let b = 0; b < B; b++) {
      const cols: number[] = []; // candidate columns of the items seen so far in sequence b
      for (let t = 0; t < T; t++) {
        const r = b * T + t;
        const col = candidateCol.get(ins[r]!);
        if (col !== undefined) cols.push(col);
        if (weights[r] === 0) continue;
        for (const c of cols) seen[r * K + c] = MASK_VALUE;
        seen[r * K + labels[r]!] = 0;
      }
    }
  }
  return {
    batch: B,
    T,
    items: Int32Array.from(items),
    keep,
    localInputs,
    candidates: Int32Array.from(candidates),
    candidateLocal: Int32Array.from(candidates, (i) => local.get(i)!),
    labels,
    weights,
    rows,
    logQ,
    seen,
    context,
  };
}

/**
 * The corrected in-batch logits: cos(u_r, v_j)/τ − logQ_j (+ the seen mask).
 * users (rows, dim) and candidates (K, dim), both L2-normalised.
 */
export function correctedLogits(
  users: tf.Tensor2D,
  candidates: tf.Tensor2D,
  temperature: number,
  logQ: Float32Array,
  seen: Float32Array | null,
): tf.Tensor2D {
  const K = candidates.shape[0];
  let logits = tf.sub(
    tf.div(matMul(users, candidates, false, true), temperature),
    tf.tensor2d(logQ, [1, K]),
  );
  if (seen) logits = tf.add(logits, tf.tensor2d(seen, [users.shape[0], K]));
  return logits as tf.Tensor2D;
}

/** Mean softmax cross-entropy over the batch's rows with a target (see the module comment). */
export function twoTowerLoss(
  c: TwoTowerConfig,
  w: TwoTowerWeights,
  f: ItemFeatures,
  p: PreparedBatch,
): tf.Scalar {
  const { batch: B, T } = p;
  // Local table: row 0 = padding (zeros), row l = item tower of items[l-1].
  const vecs = tf.concat(
    [tf.zeros([1, c.dim]), itemTower(c, w, f, p.items, p.keep)],
    0,
  ) as tf.Tensor2D;
  const hist = lookup(vecs, tf.tensor1d(p.localInputs, 'int32')).reshape([
    B,
    T,
    c.dim,
  ]) as tf.Tensor3D;
  const mask = tf.tensor2d(
    Float32Array.from(p.localInputs, (l) => (l !== 0 ? 1 : 0)),
    [B, T],
  );
  const users = userTowerPrefixes(c, w, hist, mask, p.context ?? undefined); // (B·T, dim)
  const cand = lookup(vecs, tf.tensor1d(p.candidateLocal, 'int32')); // (K, dim)
  const logits = correctedLogits(users, cand, c.temperature, p.logQ, p.seen);
  return softmaxCrossEntropy(logits, tf.tensor1d(p.labels, 'int32'), tf.tensor1d(p.weights));
}

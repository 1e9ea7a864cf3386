import * as tf from '@tensorflow/tfjs';
import { LocalrecError } from '../../src/core/errors.ts';
import type { Rng } from '../../src/core/random.ts';
import { lookup, MASK_VALUE, matMul, softCrossEntropy, softmaxCrossEntropy } from '../tf-ops.ts';
import type { SasrecConfig, SasrecLoss } from './config.ts';
import {
  forward,
  itemRows,
  outputSides,
  queryRows,
  type SasrecWeights,
  type SeedSource,
} from './model.ts';

/**
 * Next-item training loss over every non-padding position.
 * inputs, targets: (batch, T) int32; targets[b, t] is the item after inputs[b, t] (0 = no target).
 * 'full' is softmax cross-entropy over the whole catalog (SASRec+); 'sampled' is cross-entropy
 * over the positive and `negatives` uniform items shared by the batch, accidental hits masked,
 * each item scored with the model's own score (see {@link sampledSoftmaxLoss}).
 * With `excludeSeen` (full loss), items already in the sequence up to each position are left
 * out of that position's softmax, the target excepted: the same rule the evaluation protocol
 * and the product's `excludeHistory` apply, so no capacity goes into pushing seen items down.
 * With `future` (full loss only), each position's target is a distribution instead of one item:
 * `1 - future.weight` on the next item and `future.weight` shared by the items after it inside
 * the window (see {@link FutureTargets}).
 */
export function sasrecLoss(
  c: SasrecConfig,
  w: SasrecWeights,
  inputs: tf.Tensor2D,
  targets: tf.Tensor2D,
  loss: SasrecLoss,
  rng: Rng,
  excludeSeen = false,
  perUser = false,
  future?: FutureTargets,
): tf.Scalar {
  // Dropout seeds as the forward pass asks for them, then the negatives: rng's order of draws.
  const negatives = () => drawNegatives(c, loss.kind === 'sampled' ? loss.negatives : 0, rng);
  return lossOn(c, w, inputs, targets, loss, rng, negatives, excludeSeen, perUser, future);
}

/**
 * {@link sasrecLoss} with its random draws given: `seeds` hands out the forward pass's dropout
 * seeds, `negatives` (called once, after the forward pass) the sampled loss's negatives, as
 * ids into `w`'s item table (which may hold only some rows of the catalog's: see
 * models/sasrec/slice.ts).
 */
export function lossOn(
  c: SasrecConfig,
  w: SasrecWeights,
  inputs: tf.Tensor2D,
  targets: tf.Tensor2D,
  loss: SasrecLoss,
  seeds: SeedSource,
  negatives: () => Int32Array,
  excludeSeen = false,
  perUser = false,
  future?: FutureTargets,
): tf.Scalar {
  // The masks and soft targets read the ids back to the CPU: built before forward() uploads
  // the ids to a GPU backend, where that read would be a synchronous GPU readback (tfjs WebGPU
  // drops a tensor's CPU copy once it is uploaded; in a worker that readback can lose the device).
  const fullFuture = loss.kind === 'full' && future !== undefined && future.weight > 0;
  const soft = fullFuture
    ? futureTargets(inputs, targets, future, c.numItems + 1, excludeSeen)
    : undefined;
  // The output layer scores only the positions with a target: padding rows weigh 0 (their
  // terms, gradients and logits are zeros that add nothing), so they are left out before it.
  const ids = soft ? null : (targets.dataSync() as Int32Array);
  const real = ids ? targetRows(ids) : null;
  const seen =
    loss.kind === 'full' && !fullFuture && excludeSeen
      ? seenPairs(inputs, targets, real ?? undefined)
      : undefined;
  let h = forward(c, w, inputs, { training: { rng: seeds } }).reshape([-1, c.dim]) as tf.Tensor2D; // (rows, dim)
  let labels = targets.reshape([-1]) as tf.Tensor1D; // (rows)
  let weights = tf.cast(tf.notEqual(labels, 0), 'float32') as tf.Tensor1D;
  if (perUser) {
    // Each sequence weighs the same in total (as each user does in the metric): 1 / its positions.
    const w2 = weights.reshape(targets.shape);
    weights = tf.div(w2, tf.maximum(tf.sum(w2, 1, true), 1)).reshape([-1]) as tf.Tensor1D;
  }
  let labelIds = ids ?? undefined;
  if (real) {
    const keep = tf.tensor1d(real.rows, 'int32');
    const at = keep.expandDims(1) as tf.Tensor2D;
    h = lookup(h, keep);
    labels = tf.gatherND(labels, at) as tf.Tensor1D;
    weights = tf.gatherND(weights, at) as tf.Tensor1D;
    labelIds = real.rows.map((r) => ids![r]!);
  }
  const table = w['item_emb'] as tf.Tensor2D; // (numItems+1, dim)

  if (loss.kind === 'full') {
    // (rows, numItems+1); the padding column can never be a label, so it only ever loses mass.
    const [q, items] = outputSides(c, h, table, w['item_bias']);
    let logits = matMul(q, items, false, true) as tf.Tensor2D;
    if (soft) {
      if (soft.mask) logits = tf.add(logits, soft.mask) as tf.Tensor2D;
      return softCrossEntropy(logits, soft.dist, weights);
    }
    return softmaxCrossEntropy(logits, labels, weights, seen);
  }
  if (future && future.weight > 0)
    throw new LocalrecError('bad-input', 'future-window targets need the full softmax loss');

  return sampledSoftmaxLoss(c, w, h, labels, weights, negatives(), labelIds);
}

/** The sampled loss's negatives: `k` item ids drawn uniformly from 1..numItems (with repeats). */
export function drawNegatives(c: SasrecConfig, k: number, rng: Rng): Int32Array {
  const negIds = new Int32Array(k);
  for (let i = 0; i < k; i++) negIds[i] = 1 + rng.int(c.numItems);
  return negIds;
}

/**
 * Sampled softmax cross-entropy: each row of `h` (rows, dim) against its label and the
 * negatives `negIds` shared by all rows, a negative equal to the row's label masked out.
 * Items are scored as the full softmax, validation and the export score them (the model's
 * {@link queryRows} · {@link itemRows}: cosine / temperature or dot products, plus the item
 * bias where the config has one), on the gathered rows only.
 * weights: (rows) loss weights (0 = padding), as in the full loss. `labelIds`: the labels'
 * values, where the caller has them on the CPU (else they are read from `labels`).
 */
export function sampledSoftmaxLoss(
  c: SasrecConfig,
  w: SasrecWeights,
  h: tf.Tensor2D,
  labels: tf.Tensor1D,
  weights: tf.Tensor1D,
  negIds: Int32Array,
  labelIds?: Int32Array,
): tf.Scalar {
  const table = w['item_emb'] as tf.Tensor2D; // (numItems+1, dim)
  const bias = c.itemBias ? (w['item_bias']?.reshape([-1, 1]) as tf.Tensor2D) : undefined;
  const negs = tf.tensor1d(negIds, 'int32');
  const q = queryRows(c, h); // (rows, dim [+1])
  const pos = itemRows(c, lookup(table, labels), bias && lookup(bias, labels)); // (rows, dim [+1])
  const neg = itemRows(c, lookup(table, negs), bias && lookup(bias, negs)); // (k, dim [+1])
  const posLogit = tf.sum(tf.mul(q, pos), 1, true); // (rows, 1)
  const negLogits = matMul(q, neg, false, true); // (rows, k)
  const logits = tf.concat([posLogit, negLogits], 1) as tf.Tensor2D; // (rows, 1 + k)
  // Accidental hits (a negative equal to the row's label) are masked inside the loss: MASK_VALUE
  // added to just those logits, the numbers a dense (rows, k) mask added to negLogits gives.
  const hits = accidentalHits((labelIds ?? labels.dataSync()) as Int32Array, negIds);
  return softmaxCrossEntropy(
    logits,
    tf.zeros([labels.shape[0]], 'int32') as tf.Tensor1D,
    weights,
    hits,
  );
}

/**
 * [row, 1 + j] for every negative j equal to row's label (label 0, padding, never matches: the
 * negatives are 1..numItems): the sampled logits' entries that are masked, as (n, 2) int32.
 */
function accidentalHits(labels: Int32Array, negIds: Int32Array): tf.Tensor2D {
  const where = new Map<number, number[]>();
  negIds.forEach((id, j) => {
    const js = where.get(id);
    if (js) js.push(j);
    else where.set(id, [j]);
  });
  const out: number[] = [];
  labels.forEach((l, r) => {
    for (const j of where.get(l) ?? []) out.push(r, 1 + j);
  });
  return tf.tensor2d(Int32Array.from(out), [out.length / 2, 2], 'int32');
}

/** Rows kept of a (batch·T) layout: `rows` in order, and each row's new index (−1: left out). */
export interface KeptRows {
  rows: Int32Array;
  at: Int32Array;
}

/** The rows with a target (label ≠ 0), or null when every row has one or none has. */
export function targetRows(labels: Int32Array): KeptRows | null {
  const at = new Int32Array(labels.length).fill(-1);
  let n = 0;
  labels.forEach((l, r) => {
    if (l !== 0) at[r] = n++;
  });
  if (n === labels.length || n === 0) return null;
  const rows = new Int32Array(n);
  at.forEach((k, r) => {
    if (k >= 0) rows[k] = r;
  });
  return { rows, at };
}

/**
 * The entries the full softmax leaves out, as (n, 2) int32 [row, item] pairs (row = b*T + t),
 * each once: the items that occur in the input sequence at or before that position and are not
 * that position's target (padding rows: none). {@link softmaxCrossEntropy} adds MASK_VALUE to
 * exactly these logits, what adding {@link seenMask} does, without a (rows, classes) array.
 * With `kept`, only the kept rows' pairs, numbered by their new index.
 */
export function seenPairs(inputs: tf.Tensor2D, targets: tf.Tensor2D, kept?: KeptRows): tf.Tensor2D {
  const [batch, T] = inputs.shape;
  const ins = inputs.dataSync();
  const tgs = targets.dataSync();
  let out = new Int32Array(1024);
  let n = 0;
  const items: number[] = []; // distinct items of the current sequence so far
  const has = new Set<number>();
  for (let b = 0; b < batch; b++) {
    items.length = 0;
    has.clear();
    for (let t = 0; t < T; t++) {
      const r = b * T + t;
      const item = ins[r]!;
      if (item === 0) continue; // padding row: no target, weight 0
      if (!has.has(item)) {
        has.add(item);
        items.push(item);
      }
      const target = tgs[r]!;
      if (2 * (n + items.length) > out.length) {
        const grown = new Int32Array(Math.max(2 * out.length, 2 * (n + items.length)));
        grown.set(out.subarray(0, 2 * n));
        out = grown;
      }
      const row = kept ? kept.at[r]! : r;
      if (row < 0) continue;
      for (const s of items) {
        if (s === target) continue;
        out[2 * n] = row;
        out[2 * n + 1] = s;
        n++;
      }
    }
  }
  return tf.tensor2d(out.subarray(0, 2 * n), [n, 2], 'int32');
}

/**
 * Additive mask (rows = batch*T, classes): MASK_VALUE where the item occurs in the input
 * sequence at or before that position and is not that position's target; 0 elsewhere (the
 * dense form of {@link seenPairs}).
 */
export function seenMask(inputs: tf.Tensor2D, targets: tf.Tensor2D, classes: number): tf.Tensor2D {
  const rows = inputs.shape[0] * inputs.shape[1];
  return tf.tidy(() => {
    const pairs = seenPairs(inputs, targets);
    if (pairs.shape[0] === 0) return tf.zeros([rows, classes]) as tf.Tensor2D;
    return tf.scatterND(pairs, tf.fill([pairs.shape[0]], MASK_VALUE), [rows, classes]);
  });
}

/**
 * Items further ahead than the next one, as extra soft targets ("dense all-action" targets):
 * ML-100K's order inside a rating session is mostly the site's list order, so the items a few
 * steps ahead say as much about what this visitor wants next as the very next one does.
 */
export interface FutureTargets {
  /** (batch, T, k) int32, aligned with the padded inputs: the items 2..k+1 steps after each input (0 = none). */
  items: tf.Tensor3D;
  /** Share of each position's target mass spread evenly over its future items (0-1). */
  weight: number;
}

/**
 * Target distributions (rows = batch*T, classes) for {@link FutureTargets}: `1 - weight` on the
 * next item, `weight / m` on each of the m future items (all on the next item when m = 0);
 * with `excludeSeen`, the additive mask of {@link seenMask} that also never hides a target.
 */
export function futureTargets(
  inputs: tf.Tensor2D,
  targets: tf.Tensor2D,
  future: FutureTargets,
  classes: number,
  excludeSeen: boolean,
): { dist: tf.Tensor2D; mask: tf.Tensor2D | null } {
  const [batch, T] = inputs.shape;
  const k = future.items.shape[2];
  const ins = inputs.dataSync();
  const tgs = targets.dataSync();
  const fut = future.items.dataSync();
  const dist = new Float32Array(batch * T * classes);
  const mask = excludeSeen ? new Float32Array(batch * T * classes) : null;
  const seen = new Float32Array(classes);
  for (let b = 0; b < batch; b++) {
    seen.fill(0);
    for (let t = 0; t < T; t++) {
      const r = b * T + t;
      const item = ins[r]!;
      if (item === 0) continue; // padding row: weight 0
      seen[item] = MASK_VALUE;
      const next = tgs[r]!;
      if (next === 0) continue;
      const row = dist.subarray(r * classes, (r + 1) * classes);
      let m = 0;
      for (let j = 0; j < k; j++) if (fut[r * k + j]! !== 0) m++;
      row[next] = m > 0 ? 1 - future.weight : 1;
      for (let j = 0; j < k; j++) {
        const f = fut[r * k + j]!;
        if (f !== 0) row[f]! += future.weight / m;
      }
      if (mask) {
        const mrow = mask.subarray(r * classes, (r + 1) * classes);
        mrow.set(seen);
        mrow[next] = 0;
        for (let j = 0; j < k; j++) mrow[fut[r * k + j]!] = 0;
      }
    }
  }
  return {
    dist: tf.tensor2d(dist, [batch * T, classes]),
    mask: mask && tf.tensor2d(mask, [batch * T, classes]),
  };
}

/**
 * Pads per-example future items like {@link padBatch} pads inputs (left padding, the last T
 * positions kept): example b's `futures[b]` holds k items per input position.
 */
export function padFutures(
  futures: Int32Array[],
  lengths: number[],
  T: number,
  k: number,
): tf.Tensor3D {
  const out = new Int32Array(futures.length * T * k);
  futures.forEach((f, b) => {
    const len = lengths[b]!;
    const n = Math.min(T, len);
    out.set(f.subarray((len - n) * k, len * k), (b * T + T - n) * k);
  });
  return tf.tensor3d(out, [futures.length, T, k], 'int32');
}

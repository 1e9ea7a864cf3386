import * as tf from '@tensorflow/tfjs';
import type { WeightArrays } from './weights.ts';

/**
 * Row lookup `table[ids]` whose gradient is a `scatterND` into the table's shape.
 * tf.gather's own gradient needs UnsortedSegmentSum, which tfjs-backend-wasm lacks;
 * scatterND sums the updates of repeated ids, which is exactly the embedding gradient. The rows
 * are read with gatherND, not tf.gather: the same copy, and tfjs-backend-wasm's GatherV2 is
 * ~10× slower (measured: 1,300 rows of a (25001, 64) table, 2.9 ms vs 0.2 ms).
 */
export function lookup(table: tf.Tensor2D, ids: tf.Tensor1D): tf.Tensor2D {
  const f = tf.customGrad((t, save) => {
    const tt = t as tf.Tensor2D;
    (save as tf.GradSaveFunc)([ids]);
    return {
      value: tf.gatherND(tt, ids.expandDims(1)),
      // dy: (ids.length, dim) -> (rows, dim)
      // Saved tensors outlive the forward tidy; captured ones would not.
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.scatterND(saved[0]!.expandDims(1), dy, tt.shape),
    };
  });
  return (f as (t: tf.Tensor) => tf.Tensor)(table) as tf.Tensor2D;
}

function swapLast(t: tf.Tensor): tf.Tensor {
  const r = t.rank;
  const perm = Array.from({ length: r }, (_, i) => i);
  perm[r - 2] = r - 1;
  perm[r - 1] = r - 2;
  return tf.transpose(t, perm);
}

/**
 * a @ b (optionally transposed), for training. tfjs-backend-wasm runs transposed matmuls
 * 8-16x slower than plain ones (measured: (6400,64)@(64,1683) 56 ms plain, 539 ms with
 * transposeB), and tf.matMul's own gradient uses them; here every product, forward and
 * backward, is a plain matmul over an explicit transpose.
 */
export function matMul(
  a: tf.Tensor,
  b: tf.Tensor,
  transposeA = false,
  transposeB = false,
): tf.Tensor {
  const f = tf.customGrad((x, y, save) => {
    (save as tf.GradSaveFunc)([x as tf.Tensor, y as tf.Tensor]);
    return {
      value: tf.matMul(x as tf.Tensor, y as tf.Tensor),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, ys] = saved as [tf.Tensor, tf.Tensor];
        return [tf.matMul(dy, swapLast(ys)), tf.matMul(swapLast(xs), dy)];
      },
    };
  });
  return (f as (x: tf.Tensor, y: tf.Tensor) => tf.Tensor)(
    transposeA ? swapLast(a) : a,
    transposeB ? swapLast(b) : b,
  );
}

/** Dense layer on the last axis: (..., in) @ (in, out) + (out). */
export function dense(x: tf.Tensor, w: tf.Tensor2D, b: tf.Tensor1D): tf.Tensor {
  const shape = x.shape;
  const inDim = shape[shape.length - 1]!;
  const y = tf.add(matMul(x.reshape([-1, inDim]), w), b);
  return y.reshape([...shape.slice(0, -1), w.shape[1]]);
}

/** Layer normalisation over the last axis, the same math as ONNX LayerNormalization. */
export function layerNorm(
  x: tf.Tensor,
  gamma: tf.Tensor1D,
  beta: tf.Tensor1D,
  eps: number,
): tf.Tensor {
  const axis = x.shape.length - 1;
  const { mean, variance } = tf.moments(x, axis, true);
  return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, eps))), gamma), beta);
}

/**
 * Weighted mean softmax cross-entropy with integer labels and an analytic gradient,
 * so no gather/oneHot gradient is needed: d loss / d logits = (softmax - onehot) * w / sum(w).
 * logits: (rows, classes); labels: (rows) int32; weights: (rows) 0/1.
 * `masked`: (n, 2) int32 [row, class] pairs, no pair twice, left out of their row's softmax:
 * MASK_VALUE is added to those logits, as adding a dense mask of MASK_VALUE and 0 would.
 *
 * The same numbers as {@link softCrossEntropy} against one-hot targets (and a dense mask added
 * to the logits), without any (rows, classes) tensor besides the logits' own: the label's
 * log-probability is picked (a one-hot row's sum of products is exactly that term), the mask
 * and the gradient's −1 at each label are written where they belong (x + 0 and x − 0 are x),
 * and the op saves only the log-probabilities for its gradient.
 */
export function softmaxCrossEntropy(
  logits: tf.Tensor2D,
  labels: tf.Tensor1D,
  weights: tf.Tensor1D,
  masked?: tf.Tensor2D | null,
): tf.Scalar {
  const rows = logits.shape[0];
  const f = tf.customGrad((lg, save) => {
    let l = lg as tf.Tensor2D;
    if (masked && masked.shape[0] > 0)
      l = tf.tensorScatterUpdate(l, masked, tf.add(tf.gatherND(l, masked), MASK_VALUE));
    const logp = tf.logSoftmax(l);
    const pick = tf.stack([tf.range(0, rows, 1, 'int32'), labels.toInt()], 1) as tf.Tensor2D;
    const total = tf.maximum(tf.sum(weights), 1);
    const perRow = tf.neg(tf.gatherND(logp, pick)); // (rows)
    const value = tf.div(tf.sum(tf.mul(perRow, weights)), total) as tf.Scalar;
    (save as tf.GradSaveFunc)([logp, pick, total, weights]);
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [lp, pk, tot, wts] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Scalar, tf.Tensor1D];
        const scale = tf.div(tf.mul(wts, dy), tot).expandDims(1); // (rows, 1)
        const p = tf.exp(lp);
        return tf.mul(tf.tensorScatterUpdate(p, pk, tf.sub(tf.gatherND(p, pk), 1)), scale);
      },
    };
  });
  return (f as (t: tf.Tensor) => tf.Tensor)(logits) as tf.Scalar;
}

/**
 * The same loss against a target distribution per row instead of one label: `targets` is
 * (rows, classes), each row summing to 1 (or anything for a row of weight 0), and
 * d loss / d logits = (softmax - targets) * w / sum(w).
 */
export function softCrossEntropy(
  logits: tf.Tensor2D,
  targets: tf.Tensor2D,
  weights: tf.Tensor1D,
): tf.Scalar {
  const f = tf.customGrad((lg, save) => {
    const l = lg as tf.Tensor2D;
    const logp = tf.logSoftmax(l);
    const total = tf.maximum(tf.sum(weights), 1);
    const perRow = tf.neg(tf.sum(tf.mul(logp, targets), 1)); // (rows)
    const value = tf.div(tf.sum(tf.mul(perRow, weights)), total) as tf.Scalar;
    (save as tf.GradSaveFunc)([logp, targets, total, weights]);
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [lp, ys, tot, wts] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Scalar, tf.Tensor1D];
        const scale = tf.div(tf.mul(wts, dy), tot).expandDims(1); // (rows, 1)
        return tf.mul(tf.sub(tf.exp(lp), ys), scale);
      },
    };
  });
  return (f as (t: tf.Tensor) => tf.Tensor)(logits) as tf.Scalar;
}

/** Copies of every weight (new tensors the caller owns), e.g. the best checkpoint so far. */
export function cloneWeights(w: Record<string, tf.Tensor>): Record<string, tf.Tensor> {
  const out: Record<string, tf.Tensor> = {};
  for (const [k, v] of Object.entries(w)) out[k] = tf.clone(v);
  return out;
}

/**
 * An exponential moving average of training weights: non-trainable variables that start as a
 * copy of `w` and take `avg ← d·avg + (1−d)·w` on each {@link updateAverage}.
 */
export function startAverage(w: Record<string, tf.Tensor>): Record<string, tf.Variable> {
  return Object.fromEntries(Object.entries(w).map(([k, v]) => [k, tf.variable(v, false)]));
}

/** One moving-average step, in place (see {@link startAverage}). */
export function updateAverage(
  avg: Record<string, tf.Variable>,
  w: Record<string, tf.Tensor>,
  decay: number,
): void {
  tf.tidy(() => {
    for (const [k, v] of Object.entries(w))
      avg[k]!.assign(tf.add(tf.mul(avg[k]!, decay), tf.mul(v, 1 - decay)));
  });
}

/** Attention-mask fill value (large negative, not -inf, so fully masked pad rows stay finite). */
export const MASK_VALUE = -1e9;

/**
 * Left-pads (or cuts to the last `len` items) each sequence into one (batch, len) int32 tensor.
 * `len` defaults to the longest sequence, capped at maxLen.
 */
export function padBatch(seqs: ArrayLike<number>[], maxLen: number, len?: number): tf.Tensor2D {
  const T = len ?? Math.max(1, Math.min(maxLen, Math.max(...seqs.map((s) => s.length))));
  const out = new Int32Array(seqs.length * T);
  seqs.forEach((s, b) => {
    const n = Math.min(T, s.length);
    for (let j = 0; j < n; j++) out[b * T + T - n + j] = s[s.length - n + j]!;
  });
  return tf.tensor2d(out, [seqs.length, T], 'int32');
}

/**
 * tfjs weights → plain arrays (for checkpoints, quantization and export), of either model:
 * each model's own `arraysToWeights` goes back, checking the shapes against its config.
 */
export function weightsToArrays(w: Record<string, tf.Tensor>): WeightArrays {
  const out: WeightArrays = {};
  for (const [name, t] of Object.entries(w))
    out[name] = { data: t.dataSync() as Float32Array, shape: [...t.shape] };
  return out;
}

/**
 * {@link weightsToArrays}, read asynchronously: on a GPU backend in Node (tfjs-backend-webgpu
 * over Dawn) a synchronous read back is not possible (tfjs does it through an OffscreenCanvas).
 */
export async function readWeights(w: Record<string, tf.Tensor>): Promise<WeightArrays> {
  const out: WeightArrays = {};
  for (const [name, t] of Object.entries(w))
    out[name] = { data: (await t.data()) as Float32Array, shape: [...t.shape] };
  return out;
}

/** Wraps every weight in a trainable tf.Variable (same names). */
export function toVariables(w: Record<string, tf.Tensor>): Record<string, tf.Variable> {
  const v: Record<string, tf.Variable> = {};
  // Unnamed: tfjs registers variable names globally, so a named set could not be built twice.
  for (const [name, t] of Object.entries(w)) v[name] = tf.variable(t, true);
  return v;
}

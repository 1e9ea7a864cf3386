import * as tf from '@tensorflow/tfjs';
import { contextWidth } from '../../src/core/context.ts';
import { LocalrecError } from '../../src/core/errors.ts';
import { Rng } from '../../src/core/random.ts';
import { dense, lookup, matMul, padBatch } from '../tf-ops.ts';
import type { WeightArrays } from '../weights.ts';
import { validateTwoTowerConfig, type TwoTowerConfig } from './config.ts';
import type { ItemFeatures } from '../training/item-features.ts';

/**
 * A two-tower retrieval model: score(user, item) = cos(userTower(history), itemTower(item)).
 *
 * Item tower, for item i (../training/item-features.ts):
 *   x = known_i·id_emb[i] + mean(cat_emb[categories_i]) + mean(tok_emb[title tokens_i]) + pop_emb[bucket_i]
 *   y = x + W2·relu(W1·x + b1) + b2,   v_i = y / ‖y‖
 * `known_i` is 1 only for items with training events, and id_emb starts at zero, so an item
 * never seen in training has no id part at all (not an untrained random vector): its vector
 * comes from its categories, title and the "no events" popularity bucket. Training shows a
 * share of items the same way (id-dropout, train.ts) so the tower learns to use features alone.
 *
 * User tower, over the last maxLen items h_1..h_T of the history (h = the items' v vectors,
 * padding = 0):
 *   mean = Σ h_k / T,   rec = Σ γ^(T-k) h_k / Σ γ^(T-k)     (γ = recencyDecay)
 *   y = mean + rec + U2·relu(U1·[mean; rec; ctx] + c1) + c2,   u = y / ‖y‖
 * where ctx is the request-context vector (hour, weekday, gap, previous event type:
 * src/core/context.ts) for a model whose config has `context`, and empty otherwise. Context
 * enters through the MLP only: it can turn the pooled history, not replace it.
 * The history vectors are the item tower's outputs, so a new item in a history is represented
 * by its features too; at inference they are one precomputed table (the item shards' rows).
 *
 * Why L2-normalised outputs: the item vectors ship as int8 shards with one scale per row, and
 * unit rows quantize with the same relative error whatever the item; a new item's
 * features-only vector cannot lose to warm items by having a smaller norm; and the softmax
 * sharpness is then set by one explicit parameter, the temperature (logits = cos / τ).
 * Popularity is still learnable (through the direction, the popularity bucket and the logQ
 * correction), just not through an unbounded norm.
 *
 * Weights are one flat, name-keyed map (the checkpoint and ONNX contract). Matrices are
 * (in, out): y = x @ W + b.
 */
export type TwoTowerWeights = Record<string, tf.Tensor>;

/** The weights the exported user tower holds (besides the item-vector table). */
export const USER_TOWER_WEIGHTS = ['user.w1', 'user.b1', 'user.w2', 'user.b2'] as const;

export function weightShapes(c: TwoTowerConfig): Record<string, number[]> {
  return {
    'item.id_emb': [c.numItems + 1, c.dim],
    'item.cat_emb': [c.numCategories + 1, c.dim],
    'item.tok_emb': [c.titleBuckets + 1, c.dim],
    'item.pop_emb': [c.popBuckets, c.dim],
    'item.w1': [c.dim, c.hidden],
    'item.b1': [c.hidden],
    'item.w2': [c.hidden, c.dim],
    'item.b2': [c.dim],
    'user.w1': [2 * c.dim + contextWidth(c.context), c.hidden],
    'user.b1': [c.hidden],
    'user.w2': [c.hidden, c.dim],
    'user.b2': [c.dim],
  };
}

export function countParameters(c: TwoTowerConfig): number {
  return Object.values(weightShapes(c)).reduce((a, s) => a + s.reduce((x, y) => x * y, 1), 0);
}

/**
 * Fresh weights, deterministic given the seed: id embeddings zero (an untrained item has no id
 * part), feature embeddings N(0, 1/dim) (unit-norm rows on average), Xavier-normal matrices,
 * zero biases.
 */
export function initWeights(c: TwoTowerConfig, seed: number): TwoTowerWeights {
  validateTwoTowerConfig(c);
  const rng = new Rng(seed);
  const w: TwoTowerWeights = {};
  for (const [name, shape] of Object.entries(weightShapes(c))) {
    if (name === 'item.id_emb' || shape.length === 1) w[name] = tf.zeros(shape);
    else if (name.endsWith('_emb'))
      w[name] = tf.randomNormal(shape, 0, 1 / Math.sqrt(c.dim), 'float32', rng.seed());
    else {
      const std = Math.sqrt(2 / (shape[0]! + shape[1]!));
      w[name] = tf.randomNormal(shape, 0, std, 'float32', rng.seed());
    }
  }
  return w;
}

function get(w: TwoTowerWeights, name: string): tf.Tensor {
  const t = w[name];
  if (!t) throw new Error(`two-tower weights lack ${name}`);
  return t;
}

/**
 * x / sqrt(Σx² + 1e-12) along the last axis (the ONNX export computes exactly this). The
 * epsilon inside the root keeps the gradient finite at x = 0 (padding rows of a batch are
 * exactly 0 before training), where ‖x‖'s own gradient is 0/0.
 */
export function l2Normalize(x: tf.Tensor): tf.Tensor {
  return tf.div(x, tf.sqrt(tf.add(tf.sum(tf.mul(x, x), -1, true), NORM_EPS)));
}

/** Added to Σx² before the square root in {@link l2Normalize}. */
export const NORM_EPS = 1e-12;

/** Masked mean of table rows: idx (rows·width) with 0 = none → (rows, dim). */
function bagMean(table: tf.Tensor2D, idx: Int32Array, rows: number, width: number): tf.Tensor2D {
  const scale = new Float32Array(rows * width); // 1/count for present entries, 0 for none
  for (let r = 0; r < rows; r++) {
    let n = 0;
    for (let j = 0; j < width; j++) if (idx[r * width + j] !== 0) n++;
    for (let j = 0; j < width; j++) if (idx[r * width + j] !== 0) scale[r * width + j] = 1 / n;
  }
  const dim = table.shape[1];
  const e = lookup(table, tf.tensor1d(idx, 'int32')).reshape([rows, width, dim]);
  return tf.sum(tf.mul(e, tf.tensor3d(scale, [rows, width, 1])), 1) as tf.Tensor2D;
}

/**
 * Item vectors (ids.length, dim), L2-normalised. `keep[u]` = 0 shows item ids[u] as new
 * (no id embedding, popularity bucket 0): id-dropout during training.
 */
export function itemTower(
  c: TwoTowerConfig,
  w: TwoTowerWeights,
  f: ItemFeatures,
  ids: Int32Array,
  keep?: Float32Array,
): tf.Tensor2D {
  const U = ids.length;
  const cm = f.maxCategories;
  const tl = f.maxTitleTokens;
  const cats = new Int32Array(U * cm);
  const toks = new Int32Array(U * tl);
  const pop = new Int32Array(U);
  const idMask = new Float32Array(U);
  for (let u = 0; u < U; u++) {
    const i = ids[u]!;
    if (i < 1 || i > f.numItems)
      throw new LocalrecError('bad-input', `item index ${i} is outside 1..${f.numItems}`);
    cats.set(f.categories.subarray(i * cm, (i + 1) * cm), u * cm);
    toks.set(f.titleTokens.subarray(i * tl, (i + 1) * tl), u * tl);
    const k = keep ? keep[u]! : 1;
    idMask[u] = f.known[i]! * k;
    pop[u] = k > 0 ? f.popBucket[i]! : 0;
  }
  const idv = tf.mul(
    lookup(get(w, 'item.id_emb') as tf.Tensor2D, tf.tensor1d(ids, 'int32')),
    tf.tensor2d(idMask, [U, 1]),
  );
  const catv = bagMean(get(w, 'item.cat_emb') as tf.Tensor2D, cats, U, cm);
  const tokv = bagMean(get(w, 'item.tok_emb') as tf.Tensor2D, toks, U, tl);
  const popv = lookup(get(w, 'item.pop_emb') as tf.Tensor2D, tf.tensor1d(pop, 'int32'));
  const x = tf.addN([idv, catv, tokv, popv]); // (U, dim)
  const h = tf.relu(dense(x, get(w, 'item.w1') as tf.Tensor2D, get(w, 'item.b1') as tf.Tensor1D));
  const y = tf.add(x, dense(h, get(w, 'item.w2') as tf.Tensor2D, get(w, 'item.b2') as tf.Tensor1D));
  return l2Normalize(y) as tf.Tensor2D;
}

/**
 * Every item's vector: (numItems+1, dim), row 0 (padding) all zeros. This is the table the
 * user tower reads histories from at inference and the rows the item shards ship.
 */
export function itemTable(
  c: TwoTowerConfig,
  w: TwoTowerWeights,
  f: ItemFeatures,
  chunk = 8192,
): tf.Tensor2D {
  return tf.tidy(() => {
    const parts: tf.Tensor[] = [tf.zeros([1, c.dim])];
    for (let start = 1; start <= c.numItems; start += chunk) {
      const end = Math.min(c.numItems + 1, start + chunk);
      parts.push(
        itemTower(
          c,
          w,
          f,
          Int32Array.from({ length: end - start }, (_, k) => start + k),
        ),
      );
    }
    return tf.concat(parts, 0) as tf.Tensor2D;
  });
}

/** Recency weights of a right-aligned window of maxLen positions: w[k] = γ^(maxLen-1-k). */
export function recencyWeights(c: TwoTowerConfig): Float32Array {
  return Float32Array.from({ length: c.maxLen }, (_, k) =>
    Math.pow(c.recencyDecay, c.maxLen - 1 - k),
  );
}

/** (2T, T): row t averages positions ≤ t; row T+t weighs position k ≤ t by γ^(t-k). */
function prefixPoolMatrix(c: TwoTowerConfig, T: number): tf.Tensor2D {
  const a = new Float32Array(2 * T * T);
  for (let t = 0; t < T; t++) {
    for (let k = 0; k <= t; k++) {
      a[t * T + k] = 1;
      a[(T + t) * T + k] = Math.pow(c.recencyDecay, t - k);
    }
  }
  return tf.tensor2d(a, [2 * T, T]);
}

/**
 * The context tensor (rows, C) of a model with context features, checked; null for a model
 * without. `ctx` is row-major (rows·C).
 */
function contextTensor(
  c: TwoTowerConfig,
  ctx: Float32Array | tf.Tensor2D | undefined,
  rows: number,
): tf.Tensor2D | null {
  const C = contextWidth(c.context);
  if (C === 0) {
    if (ctx !== undefined)
      throw new LocalrecError('bad-input', 'this two-tower model takes no context features');
    return null;
  }
  if (ctx === undefined)
    throw new LocalrecError(
      'bad-input',
      `this two-tower model takes ${C} context features per user (${c.context!.features.join(', ')}); none were given`,
    );
  const n = ctx instanceof Float32Array ? ctx.length : ctx.size;
  if (n !== rows * C)
    throw new LocalrecError(
      'bad-input',
      `context has ${n} values; ${rows} users × ${C} features need ${rows * C}`,
    );
  return ctx instanceof Float32Array ? tf.tensor2d(ctx, [rows, C]) : ctx;
}

/**
 * The MLP head on the pooled history: (rows, dim) mean and rec, plus (rows, C) context when
 * the model has it → (rows, dim), L2-normalised.
 */
function userHead(
  w: TwoTowerWeights,
  mean: tf.Tensor2D,
  rec: tf.Tensor2D,
  ctx: tf.Tensor2D | null,
): tf.Tensor2D {
  const u = tf.concat(ctx ? [mean, rec, ctx] : [mean, rec], 1); // (rows, 2·dim + C)
  const h = tf.relu(dense(u, get(w, 'user.w1') as tf.Tensor2D, get(w, 'user.b1') as tf.Tensor1D));
  const out = dense(h, get(w, 'user.w2') as tf.Tensor2D, get(w, 'user.b2') as tf.Tensor1D);
  return l2Normalize(tf.addN([mean, rec, out])) as tf.Tensor2D;
}

/**
 * The user vector after every position of every sequence, for training:
 * hist (batch, T, dim) history item vectors (0 at padding), mask (batch, T) 1 = real item.
 * `ctx` (batch·T, C): row b·T+t is the context of predicting the item after position t (only
 * for a model with context). Returns (batch·T, dim); row b·T+t pools positions ≤ t of
 * sequence b (meaningless where position t is padding). Both poolings of every prefix are one
 * plain 2-D matmul.
 */
export function userTowerPrefixes(
  c: TwoTowerConfig,
  w: TwoTowerWeights,
  hist: tf.Tensor3D,
  mask: tf.Tensor2D,
  ctx?: Float32Array | tf.Tensor2D,
): tf.Tensor2D {
  const [B, T, d] = hist.shape;
  const m3 = mask.expandDims(2); // (B, T, 1)
  const z = tf.concat([tf.mul(hist, m3), m3], 2); // (B, T, d+1): weighted values and weights
  const zt = z.transpose([1, 0, 2]).reshape([T, B * (d + 1)]);
  const p = matMul(prefixPoolMatrix(c, T), zt) // (2T, B·(d+1))
    .reshape([2, T, B, d + 1])
    .transpose([2, 1, 0, 3]); // (B, T, 2, d+1)
  const num = p.slice([0, 0, 0, 0], [B, T, 2, d]);
  const den = p.slice([0, 0, 0, d], [B, T, 2, 1]);
  // A real position weighs itself by 1, so den ≥ 1 there; padding rows give 0 / 1 = 0.
  const pooled = tf.div(num, tf.maximum(den, 1)); // (B, T, 2, d)
  const mean = pooled.slice([0, 0, 0, 0], [B, T, 1, d]).reshape([B * T, d]) as tf.Tensor2D;
  const rec = pooled.slice([0, 0, 1, 0], [B, T, 1, d]).reshape([B * T, d]) as tf.Tensor2D;
  return userHead(w, mean, rec, contextTensor(c, ctx, B * T));
}

/**
 * The user vector after the last position only (inference; what the ONNX user tower
 * computes): hist (batch, T, dim), mask (batch, T), T ≤ maxLen, left-padded, and for a model
 * with context `ctx` (batch, C) → (batch, dim).
 */
export function userTowerLast(
  c: TwoTowerConfig,
  w: TwoTowerWeights,
  hist: tf.Tensor3D,
  mask: tf.Tensor2D,
  ctx?: Float32Array | tf.Tensor2D,
): tf.Tensor2D {
  const T = hist.shape[1];
  const rw = tf.tensor1d(recencyWeights(c).subarray(c.maxLen - T)); // (T)
  const mw = tf.mul(mask, rw); // (B, T)
  const pool = (m: tf.Tensor) =>
    tf.div(tf.sum(tf.mul(hist, m.expandDims(2)), 1), tf.maximum(tf.sum(m, 1, true), 1));
  return userHead(
    w,
    pool(mask) as tf.Tensor2D,
    pool(mw) as tf.Tensor2D,
    contextTensor(c, ctx, hist.shape[0]),
  );
}

/**
 * User vectors (batch, dim) from item-index histories, reading history vectors from `table`
 * (numItems+1, dim; row 0 zeros), the last maxLen items of each. A model with context features
 * also takes `ctx` (batch·C, row-major): each user's context vector (src/core/context.ts).
 */
export function encodeUsers(
  c: TwoTowerConfig,
  w: TwoTowerWeights,
  table: tf.Tensor2D,
  seqs: ArrayLike<number>[],
  ctx?: Float32Array,
): tf.Tensor2D {
  return tf.tidy(() => {
    const ids = padBatch(seqs, c.maxLen); // (B, T)
    const [B, T] = ids.shape;
    const hist = tf.gather(table, ids.reshape([-1])).reshape([B, T, c.dim]) as tf.Tensor3D;
    const mask = tf.cast(tf.notEqual(ids, 0), 'float32') as tf.Tensor2D;
    return userTowerLast(c, w, hist, mask, ctx);
  });
}

/** Plain arrays → tfjs weights, checked against the config's shapes (extra names ignored). */
export function arraysToWeights(c: TwoTowerConfig, a: WeightArrays): TwoTowerWeights {
  const w: TwoTowerWeights = {};
  for (const [name, shape] of Object.entries(weightShapes(c))) {
    const x = a[name];
    if (!x) throw new LocalrecError('bad-format', `two-tower weights lack ${name}`);
    if (x.shape.join(',') !== shape.join(',')) {
      throw new LocalrecError(
        'bad-format',
        `two-tower weight ${name} has shape [${x.shape}], config needs [${shape}]`,
      );
    }
    w[name] = tf.tensor(x.data, shape, 'float32');
  }
  return w;
}

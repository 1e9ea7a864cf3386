import * as tf from '@tensorflow/tfjs';
import { LocalrecError } from '../../src/core/errors.ts';
import { Rng } from '../../src/core/random.ts';
import type { WeightArrays } from '../weights.ts';
import { dense, layerNorm, lookup, MASK_VALUE, matMul, padBatch } from '../tf-ops.ts';
import { validateModelConfig, type SasrecConfig } from './config.ts';

/**
 * SASRec (Kang & McAuley 2018) as a pre-LN causal transformer over item sequences, with the
 * input and output item embeddings shared. Padding id 0, sequences left-padded, positions
 * right-aligned: the last event is always at position maxLen-1, so a batch cut to its own
 * length T uses position rows maxLen-T..maxLen-1 and gives the same numbers as a maxLen batch.
 *
 * Weights are one flat, name-keyed map (the names are the checkpoint and ONNX contract):
 *   item_emb (numItems+1, dim), pos_emb (maxLen, dim),
 *   blocks.{i}.ln1.gamma|beta (dim), blocks.{i}.attn.wq|wk|wv|wo (dim, dim), .bq|bk|bv|bo (dim),
 *   blocks.{i}.ln2.gamma|beta (dim), blocks.{i}.ffn.w1 (dim, ffnDim), .b1 (ffnDim),
 *   blocks.{i}.ffn.w2 (ffnDim, dim), .b2 (dim), final_ln.gamma|beta (dim).
 * Matrices are (in, out): y = x @ W + b.
 */
export type SasrecWeights = Record<string, tf.Tensor>;

function singleOnly(c: SasrecConfig, what: string): void {
  if (memberCount(c) > 1)
    throw new LocalrecError(
      'bad-input',
      `${what}() runs one SASRec; this is an ensemble of ${c.members}: use each member (memberWeights) or scoreAll`,
    );
}

/**
 * What the exported encoder outputs (batch, dim · members): the final state h, or h / (|h| · T)
 * for cosine models; an ensemble's members side by side, each divided by the member count, so
 * that its dot product with a shipped item row (the members' rows side by side) is the mean of
 * the members' scores.
 */
export function userVectors(
  c: SasrecConfig,
  w: SasrecWeights,
  seqs: ArrayLike<number>[],
): tf.Tensor2D {
  const K = memberCount(c);
  return tf.tidy(() => {
    const one = memberConfig(c);
    const t = one.cosineTemperature ?? 0;
    const parts = Array.from({ length: K }, (_, k) => {
      const h = encode(one, memberWeights(c, w, k), seqs);
      const v = t > 0 ? tf.div(l2Normalize(h), t) : h;
      return K > 1 ? tf.div(v, K) : v;
    });
    return (K > 1 ? tf.concat(parts, 1) : parts[0]!) as tf.Tensor2D;
  });
}

/** Members of an ensemble config (1 for a single model). */
export function memberCount(c: SasrecConfig): number {
  return c.members ?? 1;
}

/** The config of one member of an ensemble (the config itself for a single model). */
export function memberConfig(c: SasrecConfig): SasrecConfig {
  if (memberCount(c) === 1) return c;
  const one = { ...c };
  delete one.members;
  return one;
}

/** The weight-name prefix of member k of an ensemble. */
export function memberPrefix(k: number): string {
  return `m${k}.`;
}

/** Member k's weights under their single-model names (the weights themselves for a single model). */
export function memberWeights<T>(
  c: SasrecConfig,
  w: Record<string, T>,
  k: number,
): Record<string, T> {
  if (memberCount(c) === 1) return w;
  const p = memberPrefix(k);
  const out: Record<string, T> = {};
  for (const [name, t] of Object.entries(w)) if (name.startsWith(p)) out[name.slice(p.length)] = t;
  return out;
}

/** Single models' weights → one ensemble's (prefixed); a single model is returned as is. */
export function mergeMembers<T>(ws: Record<string, T>[]): Record<string, T> {
  if (ws.length === 1) return ws[0]!;
  const out: Record<string, T> = {};
  ws.forEach((w, k) => {
    for (const [name, t] of Object.entries(w)) out[memberPrefix(k) + name] = t;
  });
  return out;
}

export function weightShapes(c: SasrecConfig): Record<string, number[]> {
  const K = memberCount(c);
  if (K > 1) {
    const one = weightShapes(memberConfig(c));
    return mergeMembers(Array.from({ length: K }, () => one));
  }
  const s: Record<string, number[]> = {
    item_emb: [c.numItems + 1, c.dim],
    pos_emb: [c.maxLen, c.dim],
  };
  for (let i = 0; i < c.blocks; i++) {
    const p = `blocks.${i}.`;
    for (const n of ['ln1', 'ln2']) {
      s[`${p}${n}.gamma`] = [c.dim];
      s[`${p}${n}.beta`] = [c.dim];
    }
    for (const n of ['q', 'k', 'v', 'o']) {
      s[`${p}attn.w${n}`] = [c.dim, c.dim];
      s[`${p}attn.b${n}`] = [c.dim];
    }
    s[`${p}ffn.w1`] = [c.dim, c.ffnDim];
    s[`${p}ffn.b1`] = [c.ffnDim];
    s[`${p}ffn.w2`] = [c.ffnDim, c.dim];
    s[`${p}ffn.b2`] = [c.dim];
  }
  s['final_ln.gamma'] = [c.dim];
  s['final_ln.beta'] = [c.dim];
  if (c.itemBias) s['item_bias'] = [c.numItems + 1];
  if (c.itemFeatures) s['item_feat'] = [c.itemFeatures, c.dim];
  return s;
}

/**
 * Fresh weights: Xavier-normal matrices and embeddings (as SASRec.pytorch does),
 * LayerNorm gamma 1 / beta 0, biases 0. Deterministic given the seed.
 */
export function initWeights(c: SasrecConfig, seed: number): SasrecWeights {
  validateModelConfig(c);
  const rng = new Rng(seed);
  const w: SasrecWeights = {};
  for (const [name, shape] of Object.entries(weightShapes(c))) {
    if (shape.length === 2) {
      const std = Math.sqrt(2 / (shape[0]! + shape[1]!));
      w[name] = tf.randomNormal(shape, 0, std, 'float32', rng.seed());
    } else if (name.endsWith('.gamma')) {
      w[name] = tf.ones(shape);
    } else {
      w[name] = tf.zeros(shape);
    }
  }
  return w;
}

/** Where dropout seeds come from: an Rng, or seeds drawn ahead ({@link dropoutCalls} of them). */
export interface SeedSource {
  seed(): number;
}

export interface ForwardOptions {
  /** Dropout on; a fresh seed per call comes from this source. */
  training?: { rng: SeedSource };
}

/** How many dropout seeds one training {@link forward} pass draws (0 without dropout). */
export function dropoutCalls(c: SasrecConfig): number {
  // The embeddings' dropout, then per block: attention probabilities, attention output, FFN
  // hidden and FFN output (the calls to dropout() in forward, in this order).
  return c.dropout > 0 ? 1 + 4 * c.blocks : 0;
}

function get(w: SasrecWeights, name: string): tf.Tensor {
  const t = w[name];
  if (!t) throw new Error(`SASRec weights lack ${name}`);
  return t;
}

function dropout(x: tf.Tensor, rate: number, opts: ForwardOptions): tf.Tensor {
  return opts.training && rate > 0 ? tf.dropout(x, rate, undefined, opts.training.rng.seed()) : x;
}

/**
 * The sequence encoder. ids: (batch, T) int32, left-padded with 0, T <= maxLen.
 * Returns the final hidden states (batch, T, dim); rows at padding positions are zero before
 * the final LayerNorm and meaningless after it.
 */
export function forward(
  c: SasrecConfig,
  w: SasrecWeights,
  ids: tf.Tensor2D,
  opts: ForwardOptions = {},
): tf.Tensor3D {
  singleOnly(c, 'forward');
  const [batch, T] = ids.shape;
  const { dim, heads } = c;
  const dh = dim / heads;
  const mask = tf.cast(tf.notEqual(ids, 0), 'float32'); // (batch, T)
  const mask3 = mask.expandDims(2); // (batch, T, 1)

  const emb = lookup(get(w, 'item_emb') as tf.Tensor2D, ids.reshape([-1]) as tf.Tensor1D); // (batch*T, dim)
  const pos = tf.slice(get(w, 'pos_emb'), [c.maxLen - T, 0], [T, dim]); // (T, dim)
  let x: tf.Tensor = tf.add(tf.mul(emb.reshape([batch, T, dim]), Math.sqrt(dim)), pos);
  x = tf.mul(dropout(x, c.dropout, opts), mask3); // (batch, T, dim)

  // Additive attention bias: causal (T, T) plus key padding (batch, 1, 1, T).
  const causal = tf.mul(tf.sub(1, tf.linalg.bandPart(tf.ones([T, T]), -1, 0)), MASK_VALUE);
  const keyPad = tf.mul(tf.sub(1, mask), MASK_VALUE).reshape([batch, 1, 1, T]);
  const bias = tf.add(causal, keyPad); // (batch, 1, T, T)

  const splitHeads = (t: tf.Tensor) => t.reshape([batch, T, heads, dh]).transpose([0, 2, 1, 3]); // (batch, heads, T, dh)

  for (let i = 0; i < c.blocks; i++) {
    const p = `blocks.${i}.`;
    const g = (n: string) => get(w, p + n);
    let h = layerNorm(
      x,
      g('ln1.gamma') as tf.Tensor1D,
      g('ln1.beta') as tf.Tensor1D,
      c.layerNormEps,
    );
    const q = splitHeads(dense(h, g('attn.wq') as tf.Tensor2D, g('attn.bq') as tf.Tensor1D));
    const k = splitHeads(dense(h, g('attn.wk') as tf.Tensor2D, g('attn.bk') as tf.Tensor1D));
    const v = splitHeads(dense(h, g('attn.wv') as tf.Tensor2D, g('attn.bv') as tf.Tensor1D));
    const scores = tf.add(tf.div(matMul(q, k, false, true), Math.sqrt(dh)), bias); // (batch, heads, T, T)
    const probs = dropout(tf.softmax(scores), c.dropout, opts);
    const ctx = matMul(probs, v).transpose([0, 2, 1, 3]).reshape([batch, T, dim]);
    const attnOut = dense(ctx, g('attn.wo') as tf.Tensor2D, g('attn.bo') as tf.Tensor1D);
    x = tf.add(x, dropout(attnOut, c.dropout, opts));

    h = layerNorm(x, g('ln2.gamma') as tf.Tensor1D, g('ln2.beta') as tf.Tensor1D, c.layerNormEps);
    let f = tf.relu(dense(h, g('ffn.w1') as tf.Tensor2D, g('ffn.b1') as tf.Tensor1D));
    f = dense(dropout(f, c.dropout, opts), g('ffn.w2') as tf.Tensor2D, g('ffn.b2') as tf.Tensor1D);
    x = tf.mul(tf.add(x, dropout(f, c.dropout, opts)), mask3);
  }
  return layerNorm(
    x,
    get(w, 'final_ln.gamma') as tf.Tensor1D,
    get(w, 'final_ln.beta') as tf.Tensor1D,
    c.layerNormEps,
  ) as tf.Tensor3D;
}

/** User representations: the final hidden state after each sequence's last item. (batch, dim) */
export function encode(c: SasrecConfig, w: SasrecWeights, seqs: ArrayLike<number>[]): tf.Tensor2D {
  singleOnly(c, 'encode');
  return tf.tidy(() => {
    const ids = padBatch(seqs, c.maxLen);
    const h = forward(c, w, ids); // (batch, T, dim)
    const T = ids.shape[1];
    return h.slice([0, T - 1, 0], [-1, 1, -1]).reshape([seqs.length, c.dim]) as tf.Tensor2D;
  });
}

/** Rows scaled to unit L2 norm (an all-zero row stays zero). */
export function l2Normalize(x: tf.Tensor2D): tf.Tensor2D {
  return tf.div(x, tf.sqrt(tf.add(tf.sum(tf.square(x), 1, true), 1e-12))) as tf.Tensor2D;
}

/**
 * The output side of the model: what user states `h` (rows, dim) are scored with, and how.
 * Dot products with the item table, or — with `cosineTemperature` — cosines divided by it.
 * Returns [query rows, item rows] such that scores = query · itemsᵀ.
 */
export function outputSides(
  c: SasrecConfig,
  h: tf.Tensor2D,
  table: tf.Tensor2D,
  bias?: tf.Tensor,
): [tf.Tensor2D, tf.Tensor2D] {
  return [queryRows(c, h), itemRows(c, table, bias)];
}

/** The query side of {@link outputSides}: h, or h / (|h| · temperature); [q, 1] with an item bias. */
export function queryRows(c: SasrecConfig, h: tf.Tensor2D): tf.Tensor2D {
  const t = c.cosineTemperature ?? 0;
  const q = t > 0 ? (tf.div(l2Normalize(h), t) as tf.Tensor2D) : h;
  return c.itemBias ? (tf.concat([q, tf.ones([q.shape[0], 1])], 1) as tf.Tensor2D) : q;
}

/**
 * The item side of {@link outputSides} for some rows of the item table (the whole table, or the
 * rows a sampled loss gathered) and their biases (one per row, any shape of that size): the
 * rows, or the rows at unit norm for a cosine model; [e, b] with an item bias.
 */
export function itemRows(c: SasrecConfig, rows: tf.Tensor2D, bias?: tf.Tensor): tf.Tensor2D {
  const items = (c.cosineTemperature ?? 0) > 0 ? l2Normalize(rows) : rows;
  if (!c.itemBias) return items;
  if (!bias) throw new LocalrecError('bad-format', 'SASRec weights lack item_bias');
  return tf.concat([items, bias.reshape([-1, 1])], 1) as tf.Tensor2D;
}

/**
 * Scores of every item (index 0 = padding included) for each sequence: (batch, numItems+1).
 * An ensemble scores with the mean of its members' scores.
 */
export function scoreAll(
  c: SasrecConfig,
  w: SasrecWeights,
  seqs: ArrayLike<number>[],
): tf.Tensor2D {
  const K = memberCount(c);
  if (K > 1)
    return tf.tidy(() => {
      const parts = Array.from({ length: K }, (_, k) =>
        scoreAll(memberConfig(c), memberWeights(c, w, k), seqs),
      );
      return tf.div(tf.addN(parts), K) as tf.Tensor2D;
    });
  return tf.tidy(() => {
    const [q, items] = outputSides(
      c,
      encode(c, w, seqs),
      get(w, 'item_emb') as tf.Tensor2D,
      w['item_bias'],
    );
    return tf.matMul(q, items, false, true);
  });
}

export function countParameters(c: SasrecConfig): number {
  return Object.values(weightShapes(c)).reduce((a, s) => a + s.reduce((x, y) => x * y, 1), 0);
}

/** Plain arrays → tfjs weights, checked against the config's shapes. */
export function arraysToWeights(c: SasrecConfig, a: WeightArrays): SasrecWeights {
  const w: SasrecWeights = {};
  for (const [name, shape] of Object.entries(weightShapes(c))) {
    const x = a[name];
    if (!x) throw new LocalrecError('bad-format', `SASRec weights lack ${name}`);
    if (x.shape.join(',') !== shape.join(',')) {
      throw new LocalrecError(
        'bad-format',
        `SASRec weight ${name} has shape [${x.shape}], config needs [${shape}]`,
      );
    }
    w[name] = tf.tensor(x.data, shape, 'float32');
  }
  return w;
}

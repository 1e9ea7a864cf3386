/**
 * The sampled softmax scores items exactly as the model does (issue #14, item 2): cosine over a
 * temperature or dot products, plus the item bias where the config has one — the scores the
 * full softmax trains, validation ranks and the export ships. With the whole item table as the
 * sample (every row once, the padding row included as in the full softmax's denominator; no
 * logQ correction), the sampled loss and its gradients must be the full softmax's.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import type { SasrecConfig } from '../../models/sasrec/config.ts';
import { drawNegatives, sampledSoftmaxLoss, sasrecLoss } from '../../models/sasrec/loss.ts';
import {
  forward,
  initWeights,
  itemRows,
  queryRows,
  type SasrecWeights,
} from '../../models/sasrec/model.ts';
import { lookup, MASK_VALUE, matMul, padBatch, softCrossEntropy } from '../../models/tf-ops.ts';
import { Rng } from '../../src/core/random.ts';

beforeAll(async () => {
  await tf.setBackend('wasm');
  await tf.ready();
});

/** Dropout 0: the two losses must see the same hidden states. */
const base: SasrecConfig = {
  numItems: 40,
  maxLen: 8,
  dim: 16,
  blocks: 2,
  heads: 2,
  ffnDim: 32,
  dropout: 0,
  layerNormEps: 1e-6,
};

// Sequences of different lengths (padding rows carry weight 0), a repeated item, a target
// that also occurs among the inputs.
const INPUTS = [[1, 2, 3, 4, 5, 6], [7, 8, 3], [9], [12, 40, 12, 5]];
const TARGETS = [[2, 3, 4, 5, 6, 7], [8, 3, 1], [10], [40, 12, 5, 39]];

function weightsFor(c: SasrecConfig): SasrecWeights {
  const w = initWeights(c, 7);
  if (c.itemBias) {
    // initWeights starts the bias at 0: give it values that matter.
    w['item_bias']!.dispose();
    w['item_bias'] = tf.randomNormal([c.numItems + 1], 0, 1.5, 'float32', 3);
  }
  return w;
}

/** Loss and gradients (by weight name) of both losses, the sample being the whole item table. */
function bothLosses(c: SasrecConfig) {
  const w = weightsFor(c);
  const names = Object.keys(w);
  const ins = padBatch(INPUTS, c.maxLen);
  const tgs = padBatch(TARGETS, c.maxLen);
  const everyRow = Int32Array.from({ length: c.numItems + 1 }, (_, i) => i);
  const asWeights = (xs: tf.Tensor[]) =>
    Object.fromEntries(names.map((n, i) => [n, xs[i]!])) as SasrecWeights;
  const full = (...xs: tf.Tensor[]) =>
    sasrecLoss(c, asWeights(xs), ins, tgs, { kind: 'full' }, new Rng(1), false);
  const sampled = (...xs: tf.Tensor[]) => {
    const ws = asWeights(xs);
    const h = forward(c, ws, ins).reshape([-1, c.dim]) as tf.Tensor2D;
    const labels = tgs.reshape([-1]) as tf.Tensor1D;
    const weights = tf.cast(tf.notEqual(labels, 0), 'float32') as tf.Tensor1D;
    return sampledSoftmaxLoss(c, ws, h, labels, weights, everyRow);
  };
  const xs = names.map((n) => w[n]!);
  const a = tf.valueAndGrads(full)(xs);
  const b = tf.valueAndGrads(sampled)(xs);
  return { names, full: a, sampled: b };
}

const cases: [string, Partial<SasrecConfig>][] = [
  ['dot products', {}],
  ['dot products + item bias', { itemBias: true }],
  ['cosine / temperature 0.07', { cosineTemperature: 0.07 }],
  ['cosine / temperature 0.07 + item bias', { cosineTemperature: 0.07, itemBias: true }],
];

describe('sampled softmax over the whole catalog = full softmax', () => {
  for (const [what, extra] of cases) {
    it(`${what}: same loss and same gradients`, () => {
      const c = { ...base, ...extra };
      const { names, full, sampled } = bothLosses(c);
      const lf = full.value.dataSync()[0]!;
      const ls = sampled.value.dataSync()[0]!;
      expect(Number.isFinite(lf)).toBe(true);
      expect(Math.abs(ls - lf)).toBeLessThan(1e-4 * Math.max(1, Math.abs(lf)));
      names.forEach((n, i) => {
        const gf = full.grads[i]!;
        const gs = sampled.grads[i]!;
        const scale = Math.max(1e-3, tf.max(tf.abs(gf)).dataSync()[0]!);
        const diff = tf.max(tf.abs(tf.sub(gf, gs))).dataSync()[0]!;
        expect(diff / scale, `gradient of ${n}`).toBeLessThan(1e-3);
      });
    });
  }

  it('sasrecLoss samples its negatives with drawNegatives and scores them with sampledSoftmaxLoss', () => {
    const c = { ...base, cosineTemperature: 0.07, itemBias: true };
    const w = weightsFor(c);
    const ins = padBatch(INPUTS, c.maxLen);
    const tgs = padBatch(TARGETS, c.maxLen);
    const viaLoss = sasrecLoss(c, w, ins, tgs, { kind: 'sampled', negatives: 12 }, new Rng(5));
    const h = forward(c, w, ins).reshape([-1, c.dim]) as tf.Tensor2D;
    const labels = tgs.reshape([-1]) as tf.Tensor1D;
    const weights = tf.cast(tf.notEqual(labels, 0), 'float32') as tf.Tensor1D;
    const direct = sampledSoftmaxLoss(c, w, h, labels, weights, drawNegatives(c, 12, new Rng(5)));
    expect(viaLoss.dataSync()[0]).toBe(direct.dataSync()[0]);
  });

  it('accidental hits are masked: bit-for-bit a dense MASK_VALUE mask added to the negatives', () => {
    const c = { ...base, cosineTemperature: 0.07, itemBias: true };
    const w = weightsFor(c);
    const h = tf.randomNormal([6, c.dim], 0, 1, 'float32', 9) as tf.Tensor2D;
    const labels = tf.tensor1d([3, 7, 0, 3, 40, 12], 'int32');
    const weights = tf.tensor1d([1, 1, 0, 1, 1, 1]);
    // Label 3 drawn twice, 7 and 40 once, 12 never.
    const negIds = Int32Array.from([3, 5, 7, 3, 9, 40, 1]);
    // The dense form the loss used before (issue #14): MASK_VALUE · [label = negative] added.
    const dense = (hh: tf.Tensor2D) => {
      const negs = tf.tensor1d(negIds, 'int32');
      const bias = w['item_bias']!.reshape([-1, 1]) as tf.Tensor2D;
      const q = queryRows(c, hh);
      const table = w['item_emb'] as tf.Tensor2D;
      const pos = itemRows(c, lookup(table, labels), lookup(bias, labels));
      const neg = itemRows(c, lookup(table, negs), lookup(bias, negs));
      const hits = tf.cast(tf.equal(labels.expandDims(1), negs.expandDims(0)), 'float32');
      const negLogits = tf.add(matMul(q, neg, false, true), tf.mul(hits, MASK_VALUE));
      const logits = tf.concat([tf.sum(tf.mul(q, pos), 1, true), negLogits], 1) as tf.Tensor2D;
      const oneHot = tf.oneHot(tf.zeros([6], 'int32') as tf.Tensor1D, 1 + negIds.length);
      return softCrossEntropy(logits, oneHot.toFloat() as tf.Tensor2D, weights);
    };
    const got = (hh: tf.Tensor) =>
      sampledSoftmaxLoss(c, w, hh as tf.Tensor2D, labels, weights, negIds);
    expect(got(h).dataSync()[0]).toBe(dense(h).dataSync()[0]);
    expect(tf.grad(got)(h).dataSync()).toEqual(
      tf
        .grad((hh) => dense(hh as tf.Tensor2D))(h)
        .dataSync(),
    );
  });
});

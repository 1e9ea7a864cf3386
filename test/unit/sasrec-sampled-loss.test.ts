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
import { forward, initWeights, type SasrecWeights } from '../../models/sasrec/model.ts';
import { padBatch } from '../../models/tf-ops.ts';
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
});

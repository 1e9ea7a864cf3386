/**
 * The sampled loss on the rows a slice reads (models/sasrec/slice.ts, issue #14): the same loss
 * value and the same gradients, bit for bit, as the loss on the whole item table — with item
 * features (F · item_feat on those rows only, its gradient over their nonzeros), an item bias,
 * dropout (its seeds drawn up front) and id dropout; and the rows a worker is sent give the
 * same numbers as the whole table cut on the main thread.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import type { SasrecConfig } from '../../models/sasrec/config.ts';
import {
  featureMatrixFromDense,
  featureMix,
  mixRows,
  withItemFeatures,
} from '../../models/sasrec/item-features.ts';
import { sasrecLoss } from '../../models/sasrec/loss.ts';
import { dropoutCalls, forward, initWeights } from '../../models/sasrec/model.ts';
import {
  rowsLoss,
  sliceDraws,
  sliceLoss,
  sliceRows,
  type SliceLossOptions,
} from '../../models/sasrec/slice.ts';
import { padBatch } from '../../models/tf-ops.ts';
import { Rng } from '../../src/core/random.ts';

beforeAll(async () => {
  await tf.setBackend('wasm');
  await tf.ready();
});

const ITEMS = 300;
const COLS = 23;
const c: SasrecConfig = {
  numItems: ITEMS,
  maxLen: 10,
  dim: 16,
  blocks: 2,
  heads: 2,
  ffnDim: 16,
  dropout: 0.2,
  layerNormEps: 1e-6,
  cosineTemperature: 0.1,
  itemBias: true,
  itemFeatures: COLS,
};
const INPUTS = [[1, 2, 3, 4, 5, 6], [7, 8, 3], [9], [12, 299, 12, 5]].map((s) =>
  Int32Array.from(s),
);
const TARGETS = [[2, 3, 4, 5, 6, 7], [8, 3, 1], [10], [299, 12, 5, 39]].map((s) =>
  Int32Array.from(s),
);

/** A sparse feature matrix: one to three nonzeros a row of values 1/n, padding and a few rows empty. */
function features() {
  const data = new Float32Array((ITEMS + 1) * COLS);
  for (let r = 1; r <= ITEMS; r++) {
    if (r % 17 === 0) continue;
    const n = 1 + (r % 3);
    for (let k = 0; k < n; k++) data[r * COLS + ((r * 7 + k * 5) % COLS)] = 1 / n;
  }
  return featureMix(featureMatrixFromDense(ITEMS + 1, COLS, data));
}

function weights() {
  const w = initWeights(c, 3);
  w['item_bias']!.dispose();
  w['item_bias'] = tf.randomNormal([ITEMS + 1], 0, 1, 'float32', 4);
  w['item_feat']!.dispose();
  w['item_feat'] = tf.randomNormal([COLS, c.dim], 0, 1, 'float32', 5);
  return w;
}

/**
 * Loss and gradients as plain numbers, −0 read as +0: with id dropout the whole table's
 * gradient is dy · 0 = −0 at a dropped row's negative entries and the rows' scatter writes +0
 * there, which Adam cannot tell apart (its updates add g or g², and −0 + x = +0 + x).
 */
const lossAndGrads = (f: (ws: tf.Tensor[]) => tf.Scalar, xs: tf.Tensor[]) => {
  const { value, grads } = tf.valueAndGrads((...ws: tf.Tensor[]) => f(ws))(xs);
  const plain = (t: tf.Tensor) => Array.from(t.dataSync(), (x) => x + 0);
  return { value: value.dataSync()[0], grads: grads.map(plain) };
};

describe('SASRec sampled loss on the rows it reads', () => {
  it('forward draws exactly dropoutCalls(c) seeds', () => {
    let n = 0;
    const seeds = { seed: () => ++n };
    tf.tidy(() =>
      forward(c, initWeights(c, 1), padBatch(INPUTS, c.maxLen), { training: { rng: seeds } }),
    );
    expect(n).toBe(dropoutCalls(c));
    expect(dropoutCalls({ ...c, dropout: 0 })).toBe(0);
  });

  it('mixRows gives those rows of the whole-table mix, and their share of its gradient', () => {
    const F = features();
    const mix = tf.randomNormal([COLS, 8], 0, 1, 'float32', 2) as tf.Tensor2D;
    const rows = Int32Array.from([0, 3, 17, 40, 41, 299, 300]);
    const whole = tf.tidy(
      () =>
        withItemFeatures(
          { ...c, dim: 8 },
          { item_emb: tf.zeros([ITEMS + 1, 8]), item_feat: mix },
          F,
        )['item_emb']!,
    );
    const picked = tf.gatherND(whole, tf.tensor2d(rows, [rows.length, 1], 'int32'));
    expect(Array.from(mixRows(F, rows, mix).dataSync())).toEqual(Array.from(picked.dataSync()));
    const dy = tf.randomNormal([rows.length, 8], 0, 1, 'float32', 9);
    const dense = tf.scatterND(tf.tensor2d(rows, [rows.length, 1], 'int32'), dy, [ITEMS + 1, 8]);
    const g = tf.grad((m) => tf.sum(tf.mul(mixRows(F, rows, m as tf.Tensor2D), dy)))(mix);
    const want = tf.grad((m) =>
      tf.sum(
        tf.mul(
          withItemFeatures(
            { ...c, dim: 8 },
            { item_emb: tf.zeros([ITEMS + 1, 8]), item_feat: m },
            F,
          )['item_emb']!,
          dense,
        ),
      ),
    )(mix);
    expect(Array.from(g.dataSync())).toEqual(Array.from(want.dataSync()));
    F.dispose();
  });

  for (const idDropout of [0, 0.3])
    it(`equals the whole-table loss bit for bit (item features, bias, dropout, id dropout ${idDropout})`, () => {
      const F = features();
      const w = weights();
      const names = Object.keys(w);
      const xs = names.map((n) => w[n]!);
      const o: SliceLossOptions = {
        loss: { kind: 'sampled', negatives: 50 },
        excludeSeen: false,
        perUser: false,
        F,
        idDropout,
      };
      const named = (ws: tf.Tensor[]) => Object.fromEntries(names.map((n, i) => [n, ws[i]!]));
      // The whole table, as before slice.ts: features added to every row, the loss's own draws.
      const before = lossAndGrads((ws) => {
        const rng = new Rng(11);
        const drop = idDropout > 0 ? { rate: idDropout, seed: rng.seed() } : undefined;
        return sasrecLoss(
          c,
          withItemFeatures(c, named(ws), F, drop),
          padBatch(INPUTS, c.maxLen),
          padBatch(TARGETS, c.maxLen),
          o.loss,
          rng,
        );
      }, xs);
      const cut = lossAndGrads(
        (ws) => sliceLoss(c, named(ws), INPUTS, TARGETS, o, new Rng(11)),
        xs,
      );
      expect(cut.value).toBe(before.value);
      cut.grads.forEach((g, i) => expect(g, names[i]).toEqual(before.grads[i]));

      // A worker's view: only the rows (item_emb, item_bias), the draws made for it.
      const draws = sliceDraws(c, o, new Rng(11));
      const rows = sliceRows(INPUTS, TARGETS, draws.negatives!);
      const ids = tf.tensor2d(rows, [rows.length, 1], 'int32');
      const part = names.map((n) =>
        n === 'item_emb' || n === 'item_bias' ? tf.gatherND(w[n]!, ids) : w[n]!,
      );
      const remote = lossAndGrads(
        (ws) => rowsLoss(c, named(ws), INPUTS, TARGETS, o, draws, rows),
        part,
      );
      expect(remote.value).toBe(before.value);
      names.forEach((n, i) => {
        const g =
          n === 'item_emb' || n === 'item_bias'
            ? Array.from(
                tf
                  .scatterND(ids, tf.tensor(remote.grads[i]!, part[i]!.shape), w[n]!.shape)
                  .dataSync(),
                (x) => x + 0,
              )
            : remote.grads[i];
        expect(g, n).toEqual(before.grads[i]);
      });
      F.dispose();
    });
});

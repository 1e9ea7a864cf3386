import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import type { SasrecConfig } from '../../models/sasrec/config.ts';
import {
  bakedConfig,
  checkFeatureMatrix,
  denseFeatures,
  featureMatrixFromDense,
  featureMix,
  itemFeatureMatrix,
  mixFeatures,
  mixRows,
  withItemFeatures,
} from '../../models/sasrec/item-features.ts';
import { initWeights, scoreAll } from '../../models/sasrec/model.ts';
import { lookup } from '../../models/tf-ops.ts';
import { makeScorer, trainSasrec } from '../../models/sasrec/train.ts';
import { buildItemFeatures } from '../../models/training/item-features.ts';
import { evaluateRanking } from '../../src/core/metrics.ts';
import { leaveOneOut } from '../../src/core/split.ts';
import { generateSyntheticCatalog } from '../../src/core/synthetic.ts';

beforeAll(async () => {
  await tf.setBackend('wasm');
  await tf.ready();
});

const cfg = (numItems: number, itemFeatures?: number): SasrecConfig => ({
  numItems,
  maxLen: 20,
  dim: 16,
  blocks: 1,
  heads: 1,
  ffnDim: 16,
  dropout: 0,
  layerNormEps: 1e-6,
  cosineTemperature: 0.1,
  ...(itemFeatures && { itemFeatures }),
});

describe('SASRec item features', () => {
  it('the matrix averages each feature group of an item: genres, title words, popularity', () => {
    // Three items: a (2 genres, "Star Wars (1977)"), b (1 genre, "Star Trek (1979)"), c (none).
    const events = ['a', 'a', 'b', 'a', 'b', 'c'].map((item, i) => ({
      user: `u${i % 2}`,
      item,
      timestamp: i,
    }));
    const split = leaveOneOut(events, { extraItems: ['a', 'b', 'c'] });
    const f = buildItemFeatures(split, [
      { id: 'a', title: 'Star Wars (1977)', categories: ['Sci-Fi', 'Action'] },
      { id: 'b', title: 'Star Trek (1979)', categories: ['Sci-Fi'] },
      { id: 'c', title: 'Solo', categories: [] },
    ]);
    const m = itemFeatureMatrix(f);
    expect(m.rows).toBe(4);
    const data = denseFeatures(m);
    const row = (i: number) => Array.from(data.subarray(i * m.cols, (i + 1) * m.cols));
    expect(row(0).every((x) => x === 0)).toBe(true); // padding
    const nCat = f.categoryVocab.length; // Sci-Fi, Action
    expect(nCat).toBe(2);
    const [a, b, c] = [1, 2, 3].map((i) => split.itemIds.indexOf(['a', 'b', 'c'][i - 1]!));
    // Genres: a splits its weight over two, b has all on Sci-Fi (id 0: the most frequent).
    expect(row(a!).slice(0, 2)).toEqual([0.5, 0.5]);
    expect(row(b!).slice(0, 2)).toEqual([1, 0]);
    expect(row(c!).slice(0, 2)).toEqual([0, 0]);
    // Title words kept (in ≥ 2 titles): "star" and the decade token "1970s", shared by a and b.
    const words = (i: number) => row(i).slice(nCat, m.cols - f.popBuckets);
    expect(words(a!).filter((x) => x > 0)).toEqual([0.5, 0.5]);
    expect(words(a!)).toEqual(words(b!));
    expect(words(c!).every((x) => x === 0)).toBe(true);
    // One popularity bucket each, by training count.
    for (const i of [a!, b!, c!]) {
      const pop = row(i).slice(m.cols - f.popBuckets);
      expect(pop.filter((x) => x === 1)).toHaveLength(1);
      expect(pop.indexOf(1)).toBe(f.popBucket[i]);
    }
    expect(() => checkFeatureMatrix(cfg(3, m.cols + 1), m)).toThrow(/needs 4×/);
    expect(() => checkFeatureMatrix(cfg(3, m.cols), undefined)).toThrow(/pass their matrix/);
  });

  it('the sparse mix is bit-for-bit the dense F · item_feat, and its gradient Fᵀ · dy; F gets none', () => {
    // A sparse F with rows of different fill, empty first and last rows (padding, and a tail
    // the segment sum must pad), an empty last column and repeated values.
    const rows = 40;
    const cols = 9;
    const data = new Float32Array(rows * cols);
    for (let r = 1; r < rows - 1; r++)
      for (let c = 0; c < cols - 1; c++)
        if ((r * 7 + c * 3) % 5 < 2) data[r * cols + c] = 1 / (1 + ((r + c) % 4));
    const m = featureMatrixFromDense(rows, cols, data);
    const F = tf.tensor2d(data, [rows, cols]);
    const mix = tf.randomNormal([cols, 16], 0, 1, 'float32', 5) as tf.Tensor2D;
    const dy = tf.randomNormal([rows, 16], 0, 1, 'float32', 6);
    const sparse = featureMix(m);
    expect(sparse.nnz).toBe(data.filter((x) => x !== 0).length);
    expect(mixFeatures(sparse, mix).dataSync()).toEqual(tf.matMul(F, mix).dataSync());
    const g = tf.grad((x) => tf.sum(tf.mul(mixFeatures(sparse, x as tf.Tensor2D), dy)))(mix);
    expect(g.dataSync()).toEqual(tf.matMul(tf.transpose(F), dy).dataSync());
    sparse.dispose();
  });

  it('on the rows a loss reads (mixRows), the gradient sums over those rows only and equals the whole Fᵀ · dy', () => {
    const rows = 40;
    const cols = 9;
    const data = new Float32Array(rows * cols);
    for (let r = 1; r < rows - 1; r++)
      for (let c = 0; c < cols - 1; c++)
        if ((r * 5 + c * 3) % 4 < 2) data[r * cols + c] = 1 / (1 + ((r + c) % 3));
    const sparse = featureMix(featureMatrixFromDense(rows, cols, data));
    const mix = tf.randomNormal([cols, 8], 0, 1, 'float32', 7) as tf.Tensor2D;
    // The gradient a sampled loss gives the table: nonzero only on the rows it looked up.
    const read = [0, 3, 17, 3, 38, 39, 21];
    const up = tf.randomNormal([read.length, 8], 0, 1, 'float32', 8);
    const whole = tf.grad((x) =>
      tf.sum(tf.mul(lookup(mixFeatures(sparse, x as tf.Tensor2D), tf.tensor1d(read, 'int32')), up)),
    )(mix);
    const distinct = Int32Array.from(new Set(read)).sort();
    const at = tf.tensor1d(
      read.map((r) => distinct.indexOf(r)),
      'int32',
    );
    const some = tf.grad((x) =>
      tf.sum(tf.mul(lookup(mixRows(sparse, distinct, x as tf.Tensor2D), at), up)),
    )(mix);
    expect(some.dataSync()).toEqual(whole.dataSync());
    // Rows with no nonzeros only (padding, the empty last row): a zero gradient of mix's shape.
    const none = tf.grad((x) =>
      tf.sum(mixRows(sparse, Int32Array.from([0, 39]), x as tf.Tensor2D)),
    )(mix);
    expect(none.shape).toEqual(mix.shape);
    expect(Array.from(none.dataSync()).every((v) => v === 0)).toBe(true);
    sparse.dispose();
  });

  it('baking folds F · item_feat into item_emb, and the baked plain model scores the same', () => {
    const c = cfg(6, 3);
    const w = initWeights(c, 4);
    const data = Float32Array.from({ length: 7 * 3 }, (_, k) => (k < 3 ? 0 : ((k * 7) % 5) / 5));
    const m = featureMatrixFromDense(7, 3, data);
    const F = tf.tensor2d(data, [7, 3]);
    const baked = withItemFeatures(c, w, featureMix(m));
    expect(baked['item_feat']).toBeUndefined();
    const want = tf.add(w['item_emb']!, tf.matMul(F, w['item_feat']!));
    expect(tf.max(tf.abs(tf.sub(baked['item_emb']!, want))).dataSync()[0]).toBeLessThan(1e-6);
    // The baked weights are a plain SASRec: the config without features loads and scores them.
    const plain = bakedConfig(c);
    expect(plain.itemFeatures).toBeUndefined();
    const s = scoreAll(plain, baked, [[1, 2, 3]]);
    expect(s.shape).toEqual([1, 7]);
    expect(() => withItemFeatures(c, w, null)).toThrow(/feature matrix/);
  });

  it('trains with features on one and two threads alike, and returns baked weights', async () => {
    const ds = generateSyntheticCatalog({
      items: 60,
      users: 80,
      seed: 3,
      minEvents: 6,
      maxEvents: 16,
    });
    const split = leaveOneOut(ds.events, { extraItems: ds.items.map((i) => i.id) });
    const m = itemFeatureMatrix(buildItemFeatures(split, ds.items));
    const c = cfg(split.numItems, m.cols);
    const run = (workers: number) =>
      trainSasrec(
        c,
        split,
        { epochs: 1, batchSize: 16, learningRate: 1e-2, evalEvery: 1, seed: 2, workers },
        {},
        m,
      );
    const one = await run(1);
    const two = await run(2);
    expect(one.weights['item_feat']).toBeUndefined();
    const diff = tf.max(tf.abs(tf.sub(one.weights['item_emb']!, two.weights['item_emb']!)));
    expect(diff.dataSync()[0]).toBeLessThan(1e-4);
    // What training reported for validation is what the baked weights score.
    const again = await evaluateRanking(split, 'valid', makeScorer(bakedConfig(c), one.weights));
    expect(again.full.ndcg10).toBeCloseTo(one.bestValid!.full.ndcg10, 6);
    // A config with features and no matrix is refused before any training.
    await expect(trainSasrec(c, split, { epochs: 1 })).rejects.toThrow(/pass their matrix/);
  }, 60_000);
});

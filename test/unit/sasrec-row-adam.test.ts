/**
 * Lazy row-wise Adam for the item tables (models/sasrec/row-adam.ts, `--sparse-adam`): rows
 * with a gradient take Adam's update, the others are left exactly as they are; with every row
 * in the gradient it is dense Adam. And training with it (sampled loss, one and two threads)
 * runs, touches only rows it read, and is refused for the full softmax.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { RowAdam } from '../../models/sasrec/row-adam.ts';
import { trainSasrec } from '../../models/sasrec/train.ts';
import { leaveOneOut } from '../../src/core/split.ts';
import { generateSyntheticCatalog } from '../../src/core/synthetic.ts';

beforeAll(async () => {
  await tf.setBackend('wasm');
  await tf.ready();
});

describe('row-wise lazy Adam', () => {
  it('matches dense Adam on the rows it updates and leaves the others bit for bit', () => {
    const rows = 12;
    const dim = 5;
    const w0 = tf.randomNormal([rows, dim], 0, 1, 'float32', 1);
    const dense = tf.variable(tf.clone(w0));
    const lazy = tf.variable(tf.clone(w0));
    // A clone shares the variable's memory: the in-place update must not write through it.
    const kept = tf.clone(lazy);
    const before = Array.from(w0.dataSync());
    const opt = tf.train.adam(0.01, 0.9, 0.98);
    const adam = new RowAdam(opt as unknown as { beta1: number; beta2: number; epsilon: number });
    const all = Int32Array.from({ length: rows }, (_, i) => i);
    for (let step = 0; step < 3; step++) {
      const g = tf.randomNormal([rows, dim], 0, 1, 'float32', 10 + step);
      opt.applyGradients([{ name: dense.name, tensor: g }]);
      adam.step();
      adam.update(lazy, all, g.dataSync() as Float32Array, 0.01);
    }
    const d = dense.dataSync();
    lazy.dataSync().forEach((x, i) => expect(x).toBeCloseTo(d[i]!, 5));
    expect(Array.from(kept.dataSync())).toEqual(before);
    // Rows 2 and 7 only: the others keep their values exactly.
    const snap = Array.from(lazy.dataSync());
    adam.step();
    adam.update(lazy, Int32Array.from([2, 7]), new Float32Array(2 * dim).fill(0.5), 0.01);
    const after = lazy.dataSync();
    for (let r = 0; r < rows; r++)
      for (let j = 0; j < dim; j++) {
        const k = r * dim + j;
        if (r === 2 || r === 7) expect(after[k]).not.toBe(snap[k]);
        else expect(after[k]).toBe(snap[k]);
      }
    adam.dispose();
  });

  it('trains with the sampled loss on one and two threads; refused with the full softmax', async () => {
    const ds = generateSyntheticCatalog({
      items: 300,
      users: 60,
      seed: 3,
      minEvents: 5,
      maxEvents: 12,
    });
    const split = leaveOneOut(ds.events, { extraItems: ds.items.map((i) => i.id) });
    const c = {
      numItems: split.numItems,
      maxLen: 12,
      dim: 16,
      blocks: 1,
      heads: 1,
      ffnDim: 16,
      dropout: 0.1,
      layerNormEps: 1e-6,
      cosineTemperature: 0.1,
    };
    const tc = {
      epochs: 2,
      batchSize: 16,
      evalEvery: 1,
      seed: 2,
      sparseAdam: true,
      loss: { kind: 'sampled' as const, negatives: 8 },
    };
    for (const workers of [1, 2]) {
      const r = await trainSasrec(c, split, { ...tc, workers });
      expect(r.epochsRun).toBe(2);
      expect(r.history.every((h) => Number.isFinite(h.loss))).toBe(true);
      expect(r.bestValid).not.toBeNull();
    }
    await expect(
      trainSasrec(c, split, { ...tc, loss: { kind: 'full' }, workers: 1 }),
    ).rejects.toThrow(/sampled loss/);
  }, 60_000);
});

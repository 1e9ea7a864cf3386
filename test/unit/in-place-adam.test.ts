/**
 * InPlaceAdam (models/training/adam.ts, issue #14): the training loop's Adam, updated in one
 * pass in the wasm heap, must give tf.train.adam's weights bit for bit — over several steps, a
 * learning-rate change, gradients with zeros, tiny and large values — and leave a clone of a
 * weight (a checkpoint) as it was.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { InPlaceAdam } from '../../models/training/adam.ts';

beforeAll(async () => {
  await tf.setBackend('wasm');
  await tf.ready();
});

describe('InPlaceAdam', () => {
  it("gives tf.train.adam's weights bit for bit, and keeps a clone's values", () => {
    const shapes = [[300, 16], [16], [4, 5, 3]];
    const init = shapes.map((s, i) => tf.randomNormal(s, 0, 1, 'float32', i + 1));
    const ref = init.map((t) => tf.variable(tf.mul(t, 1)));
    const mine = init.map((t) => tf.variable(tf.mul(t, 1)));
    const a = tf.train.adam(2e-3, 0.9, 0.98);
    const b = new InPlaceAdam(2e-3, 0.9, 0.98);
    const checkpoint = tf.clone(mine[0]!);
    const saved = Array.from(checkpoint.dataSync());
    for (let step = 0; step < 6; step++) {
      if (step === 3) {
        // As the training loop lowers it on a plateau.
        for (const o of [a, b]) (o as unknown as { learningRate: number }).learningRate = 1e-3;
      }
      const grads = shapes.map((s, i) =>
        tf.tidy(() => {
          const g = tf.randomNormal(s, 0, step % 2 ? 1e-3 : 50, 'float32', 100 * step + i);
          // Zeros (rows a sampled step did not read) and a few tiny values.
          return tf.mul(
            g,
            tf.cast(tf.greater(tf.randomUniform(s, 0, 1, 'float32', 7 + step), 0.3), 'float32'),
          );
        }),
      );
      a.applyGradients(ref.map((v, i) => ({ name: v.name, tensor: grads[i]! })));
      b.applyGradients(
        Object.fromEntries(mine.map((v, i) => [v.name, grads[i]!])) as tf.NamedTensorMap as never,
      );
      tf.dispose(grads);
      ref.forEach((v, i) =>
        expect(Array.from(mine[i]!.dataSync())).toEqual(Array.from(v.dataSync())),
      );
    }
    expect(Array.from(checkpoint.dataSync())).toEqual(saved);
    expect(b.iterations).toBe(6);
    a.dispose();
    b.dispose();
  });
});

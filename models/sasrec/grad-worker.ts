/**
 * A gradient worker for data-parallel training in Node (models/sasrec/parallel.ts): receives
 * the current weights and a slice of the batch, returns the loss gradients for that slice.
 * tfjs-backend-wasm is single-threaded in Node, so extra cores are only usable this way.
 */
import { parentPort } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { Rng } from '../../src/core/random.ts';
import { featureMix, type FeatureMix } from './item-features.ts';
import { rowsLoss, sliceLoss, type SliceLossOptions } from './slice.ts';
import type { SasrecWeights } from './model.ts';
import { ownedArray, type GradRequest, type GradResponse } from './parallel.ts';

await tf.setBackend('wasm');
await tf.ready();

/** The item feature matrix of this training run (sent once), as its nonzeros. */
let F: FeatureMix | null = null;

parentPort!.on('message', (m: GradRequest) => {
  try {
    if (m.itemFeatures) {
      F?.dispose();
      F = featureMix(m.itemFeatures);
    }
    // The tidy returns tensors only: a container it returns is walked key by key to find the
    // tensors in it, and a typed array's every element with it (that walk, on the gradients as
    // arrays, took 25–35% of this thread in the profile of issue #14).
    const { value, grads: gradTensors } = tf.tidy(() => {
      const xs = m.names.map((_, i) => tf.tensor(m.weights[i]!, m.shapes[i]!, 'float32'));
      const rng = new Rng(m.seed);
      const options: SliceLossOptions = {
        loss: m.loss,
        excludeSeen: m.excludeSeen,
        perUser: m.perUser,
        F,
        idDropout: m.idDropout ?? 0,
        ...(m.future && { future: m.future }),
      };
      const f = (...ws: tf.Tensor[]) => {
        const w: SasrecWeights = Object.fromEntries(m.names.map((n, i) => [n, ws[i]!]));
        return m.rows && m.draws
          ? rowsLoss(m.config, w, m.inputs, m.targets, options, m.draws, m.rows)
          : sliceLoss(m.config, w, m.inputs, m.targets, options, rng);
      };
      return tf.valueAndGrads(f)(xs);
    });
    const loss = value.dataSync()[0]!;
    const grads = gradTensors.map((g) => ownedArray(g.dataSync() as Float32Array));
    tf.dispose([value, ...gradTensors]);
    // Under the sampled loss the item tables' gradients are already just the rows sent.
    const res: GradResponse = { id: m.id, loss, grads };
    parentPort!.postMessage(
      res,
      grads.map((g) => g.buffer as ArrayBuffer),
    );
  } catch (e) {
    const res: GradResponse = { id: m.id, error: e instanceof Error ? e.message : String(e) };
    parentPort!.postMessage(res);
  }
});

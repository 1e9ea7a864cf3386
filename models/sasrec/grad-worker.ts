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
import { sliceLoss, type SliceLossOptions } from './loss.ts';
import type { SasrecWeights } from './model.ts';
import { nonzeroRows, ownedArray, type GradRequest, type GradResponse } from './parallel.ts';

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
        return sliceLoss(m.config, w, m.inputs, m.targets, options, rng);
      };
      return tf.valueAndGrads(f)(xs);
    });
    const loss = value.dataSync()[0]!;
    const grads = gradTensors.map((g) => ownedArray(g.dataSync() as Float32Array));
    tf.dispose([value, ...gradTensors]);
    // The item table's gradient as its nonzero rows, where a sampled loss read only a few.
    const rows: NonNullable<GradResponse['rows']> = [];
    const t = m.names.indexOf('item_emb');
    const sparse =
      t >= 0 && m.loss.kind === 'sampled' ? nonzeroRows(grads[t]!, m.shapes[t]![1]!) : null;
    if (sparse) {
      rows.push({ index: t, ...sparse });
      grads[t] = new Float32Array(0);
    }
    const res: GradResponse = { id: m.id, loss, grads, ...(rows.length > 0 && { rows }) };
    parentPort!.postMessage(res, [
      ...grads.map((g) => g.buffer as ArrayBuffer),
      ...rows.flatMap((r) => [r.ids.buffer as ArrayBuffer, r.values.buffer as ArrayBuffer]),
    ]);
  } catch (e) {
    const res: GradResponse = { id: m.id, error: e instanceof Error ? e.message : String(e) };
    parentPort!.postMessage(res);
  }
});

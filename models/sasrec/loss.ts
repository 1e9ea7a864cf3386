import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../../src/core/random.ts';
import { lookup, matMul, softmaxCrossEntropy } from '../tf-ops.ts';
import type { SasrecConfig, SasrecLoss } from './config.ts';
import { forward, MASK_VALUE, type SasrecWeights } from './model.ts';

/**
 * Next-item training loss over every non-padding position.
 * inputs, targets: (batch, T) int32; targets[b, t] is the item after inputs[b, t] (0 = no target).
 * 'full' is softmax cross-entropy over the whole catalog (SASRec+); 'sampled' is cross-entropy
 * over the positive and `negatives` uniform items shared by the batch, accidental hits masked.
 */
export function sasrecLoss(
  c: SasrecConfig,
  w: SasrecWeights,
  inputs: tf.Tensor2D,
  targets: tf.Tensor2D,
  loss: SasrecLoss,
  rng: Rng,
): tf.Scalar {
  const h = forward(c, w, inputs, { training: { rng } }).reshape([-1, c.dim]) as tf.Tensor2D; // (rows, dim)
  const labels = targets.reshape([-1]) as tf.Tensor1D; // (rows)
  const weights = tf.cast(tf.notEqual(labels, 0), 'float32') as tf.Tensor1D;
  const table = w['item_emb'] as tf.Tensor2D; // (numItems+1, dim)

  if (loss.kind === 'full') {
    // (rows, numItems+1); the padding column can never be a label, so it only ever loses mass.
    const logits = matMul(h, table, false, true) as tf.Tensor2D;
    return softmaxCrossEntropy(logits, labels, weights);
  }

  const k = loss.negatives;
  const negIds = new Int32Array(k);
  for (let i = 0; i < k; i++) negIds[i] = 1 + rng.int(c.numItems);
  const negs = tf.tensor1d(negIds, 'int32');
  const posEmb = lookup(table, labels); // (rows, dim)
  const negEmb = lookup(table, negs); // (k, dim)
  const posLogit = tf.sum(tf.mul(h, posEmb), 1, true); // (rows, 1)
  const hits = tf.cast(tf.equal(labels.expandDims(1), negs.expandDims(0)), 'float32'); // (rows, k)
  const negLogits = tf.add(matMul(h, negEmb, false, true), tf.mul(hits, MASK_VALUE)); // (rows, k)
  const logits = tf.concat([posLogit, negLogits], 1) as tf.Tensor2D; // (rows, 1 + k)
  return softmaxCrossEntropy(logits, tf.zeros([labels.shape[0]], 'int32') as tf.Tensor1D, weights);
}

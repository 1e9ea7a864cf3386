import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';

let ready: Promise<void> | null = null;

/**
 * Selects tfjs-backend-wasm in Node (tfjs-node cannot be installed everywhere; wasm is
 * about 8x the plain JS backend). Idempotent.
 */
export function initTf(): Promise<void> {
  ready ??= (async () => {
    await tf.setBackend('wasm');
    await tf.ready();
  })();
  return ready;
}

/**
 * Row-wise lazy Adam for the item tables (issue #14): a sampled-loss step reads a few thousand
 * rows of a table of 25k or 1M, and only those rows get a gradient. Dense Adam still moves
 * every row every step (its moments decay and the weight follows them), which costs a pass
 * over the whole table, its two moments and the dense gradient each step. Lazy Adam (as
 * TensorFlow's LazyAdam, PyTorch's SparseAdam) updates the rows that have a gradient only —
 * their moments and weights by Adam's own formula with the global step's bias correction —
 * and leaves the other rows as they are. That changes the training numbers (a row's moments
 * no longer decay while it is not read), so it is an option (`--sparse-adam`), not the default.
 *
 * The update runs in place: on tfjs-backend-wasm, in the wasm heap through the tensors' memory
 * (no copy of the table a step; a tensor sharing the weight's memory, e.g. a checkpoint's
 * clone, is first given its own copy); on another backend, by scatter updates of the rows. A
 * table changed in place must not be a matmul operand (tfjs-backend-wasm keeps an operand's
 * packing by tensor): training reads it by rows, and validation scores a copy (train.ts).
 */
import * as tf from '@tensorflow/tfjs';

interface WasmInternals {
  refCount(dataId: object): number;
  getMemoryOffset(dataId: object): number;
  wasm: { HEAPF32: Float32Array };
}

/** The wasm backend's internals read here, or null on another backend. */
const wasmBackend = (): WasmInternals | null =>
  tf.getBackend() === 'wasm' ? (tf.backend() as unknown as WasmInternals) : null;

/** The wasm heap's view of a float32 tensor (valid until the next allocation). */
function heapView(b: WasmInternals, t: tf.Tensor): Float32Array {
  return new Float32Array(b.wasm.HEAPF32.buffer, b.getMemoryOffset(t.dataId), t.size);
}

/** Gives `v` memory of its own when another tensor shares it (clones share their dataId). */
function ownMemory(v: tf.Variable): void {
  const b = wasmBackend();
  if (b && b.refCount(v.dataId) > 1) {
    const copy = tf.tidy(() => tf.mul(v, 1));
    v.assign(copy);
    copy.dispose();
  }
}

/** Adam's settings, as the training loop's tf.train.adam has them. */
export interface AdamSettings {
  beta1: number;
  beta2: number;
  epsilon: number;
}

/** Lazy Adam state for some (rows, …) variables: per-row moments, and the step count. */
export class RowAdam {
  private readonly m = new Map<tf.Variable, tf.Tensor>();
  private readonly v = new Map<tf.Variable, tf.Tensor>();
  private t = 0;

  constructor(private readonly s: AdamSettings) {}

  /** Starts a step (bias correction counts steps, as dense Adam does). */
  step(): void {
    this.t++;
  }

  /**
   * One update of rows `rows` (distinct ids) of `w`, whose gradient rows are `g` ((rows, …)
   * as a flat row-major array) — Adam's update on those rows at the current step, learning
   * rate `lr`: m ← β1·m + (1−β1)·g, v ← β2·v + (1−β2)·g², w ← w − lr·m̂ / (√v̂ + ε).
   */
  update(w: tf.Variable, rows: Int32Array, g: Float32Array, lr: number): void {
    const width = w.size / w.shape[0]!;
    const m = this.state(this.m, w);
    const v = this.state(this.v, w);
    const { beta1: b1, beta2: b2, epsilon: eps } = this.s;
    const c1 = 1 - b1 ** this.t;
    const c2 = 1 - b2 ** this.t;
    ownMemory(w);
    const b = wasmBackend();
    if (b) {
      const W = heapView(b, w);
      const M = heapView(b, m);
      const V = heapView(b, v);
      rows.forEach((r, i) => {
        for (let j = 0, o = r * width, k = i * width; j < width; j++, o++, k++) {
          const gj = g[k]!;
          const mj = (M[o] = b1 * M[o]! + (1 - b1) * gj);
          const vj = (V[o] = b2 * V[o]! + (1 - b2) * gj * gj);
          W[o] = W[o]! - (lr * (mj / c1)) / (Math.sqrt(vj / c2) + eps);
        }
      });
      return;
    }
    // Another backend: the same update on gathered rows, scattered back.
    tf.tidy(() => {
      const ids = tf.tensor2d(rows, [rows.length, 1], 'int32');
      const gt = tf.tensor(g, [rows.length, ...w.shape.slice(1)]);
      const m1 = tf.add(tf.mul(tf.gatherND(m, ids), b1), tf.mul(gt, 1 - b1));
      const v1 = tf.add(tf.mul(tf.gatherND(v, ids), b2), tf.mul(tf.square(gt), 1 - b2));
      const step = tf.div(tf.mul(tf.div(m1, c1), lr), tf.add(tf.sqrt(tf.div(v1, c2)), eps));
      const w1 = tf.sub(tf.gatherND(w, ids), step);
      this.replace(this.m, w, tf.tensorScatterUpdate(m, ids, m1));
      this.replace(this.v, w, tf.tensorScatterUpdate(v, ids, v1));
      w.assign(tf.tensorScatterUpdate(w, ids, w1));
    });
  }

  private state(map: Map<tf.Variable, tf.Tensor>, w: tf.Variable): tf.Tensor {
    let s = map.get(w);
    if (!s) {
      s = tf.zeros(w.shape);
      map.set(w, s);
    }
    return s;
  }

  private replace(map: Map<tf.Variable, tf.Tensor>, w: tf.Variable, next: tf.Tensor): void {
    map.get(w)?.dispose();
    map.set(w, tf.keep(next));
  }

  dispose(): void {
    for (const t of [...this.m.values(), ...this.v.values()]) t.dispose();
    this.m.clear();
    this.v.clear();
  }
}

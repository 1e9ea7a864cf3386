/**
 * tf.train.adam, its update done in one pass in place on tfjs-backend-wasm (issue #14, profile:
 * Adam was ~10 kernels a weight a step — ~370 kernel calls and ten passes over the 25k × 64 item
 * table, a tenth to a fifth of a sampled step). The same float32 arithmetic in the same order
 * as tfjs's AdamOptimizer.applyGradients, each operation rounded to float32 (Math.fround: a
 * double result of +, ×, ÷ or √ on floats, rounded once, is the float operation's own result),
 * so the weights are bit for bit those of tf.train.adam. Other backends run tfjs's own update.
 *
 * The moments are updated in place in the wasm heap, the weight written into a new tensor that
 * it is then assigned (see the loop: a weight is a matmul operand, whose packing tfjs-backend-wasm
 * keeps by tensor).
 */
import * as tf from '@tensorflow/tfjs';

export interface WasmInternals {
  refCount(dataId: object): number;
  getMemoryOffset(dataId: object): number;
  wasm: { HEAPF32: Float32Array };
}

/** The wasm backend's internals this module reads, or null on another backend. */
export const wasmBackend = (): WasmInternals | null =>
  tf.getBackend() === 'wasm' ? (tf.backend() as unknown as WasmInternals) : null;

/** The wasm heap's view of a float32 tensor (valid until the next allocation). */
export function heapView(b: WasmInternals, t: tf.Tensor): Float32Array {
  return new Float32Array(b.wasm.HEAPF32.buffer, b.getMemoryOffset(t.dataId), t.size);
}

/**
 * Gives `v` memory of its own when another tensor shares it (clones share their dataId), before
 * it is changed in place (models/sasrec/row-adam.ts).
 */
export function ownMemory(v: tf.Variable): void {
  const b = wasmBackend();
  if (b && b.refCount(v.dataId) > 1) {
    const copy = tf.tidy(() => tf.mul(v, 1));
    v.assign(copy);
    copy.dispose();
  }
}

const f = Math.fround;

/** Adam with tfjs's numbers, updated in place on wasm (see the module comment). */
export class InPlaceAdam extends tf.AdamOptimizer {
  private readonly moments = new Map<string, [tf.Tensor, tf.Tensor]>();
  /** β1^t and β2^t as float32, as tfjs keeps them (accBeta1, accBeta2). */
  private acc1: number;
  private acc2: number;

  constructor(learningRate: number, beta1: number, beta2: number) {
    super(learningRate, beta1, beta2);
    this.acc1 = f(beta1);
    this.acc2 = f(beta2);
  }

  override applyGradients(grads: Parameters<tf.AdamOptimizer['applyGradients']>[0]): void {
    const b = wasmBackend();
    if (!b) return super.applyGradients(grads);
    const list: { name: string; tensor: tf.Tensor }[] = Array.isArray(grads)
      ? grads
      : Object.entries(grads).map(([name, tensor]) => ({ name, tensor }));
    const s = this as unknown as { beta1: number; beta2: number; epsilon: number };
    const B1 = f(s.beta1);
    const B2 = f(s.beta2);
    const OB1 = f(1 - s.beta1);
    const OB2 = f(1 - s.beta2);
    const EPS = f(s.epsilon);
    const NLR = f(-this.learningRate);
    const C1 = f(1 - this.acc1);
    const C2 = f(1 - this.acc2);
    for (const { name, tensor: g } of list) {
      if (g == null) continue;
      const value = tf.engine().registeredVariables[name]!;
      let mv = this.moments.get(name);
      if (!mv) {
        mv = [tf.zeros(value.shape), tf.zeros(value.shape)];
        this.moments.set(name, mv);
      }
      // The new weight in a tensor of its own, as assign() would have it: tfjs-backend-wasm
      // keeps matmul operators with a weight's packed values by tensor, so a weight changed in
      // place would be multiplied from its stale packing. The moments are only ever read here.
      const out = tf.zeros(value.shape);
      // Views after every allocation: a heap that grows detaches the old ones.
      const W = heapView(b, value);
      const O = heapView(b, out);
      const M = heapView(b, mv[0]);
      const V = heapView(b, mv[1]);
      const G = heapView(b, g);
      for (let i = 0; i < W.length; i++) {
        const gi = G[i]!;
        const m = f(f(M[i]! * B1) + f(gi * OB1));
        const v = f(f(V[i]! * B2) + f(f(gi * gi) * OB2));
        M[i] = m;
        V[i] = v;
        const den = f(f(Math.sqrt(f(v / C2))) + EPS);
        O[i] = f(f(f(f(m / C1) / den) * NLR) + W[i]!);
      }
      value.assign(out);
      out.dispose();
    }
    this.acc1 = f(this.acc1 * B1);
    this.acc2 = f(this.acc2 * B2);
    (this as unknown as { incrementIterations(): void }).incrementIterations();
  }

  override dispose(): void {
    for (const [m, v] of this.moments.values()) tf.dispose([m, v]);
    this.moments.clear();
    super.dispose();
  }
}

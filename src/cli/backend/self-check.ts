/**
 * A tiny numeric check of the selected tfjs backend before `--backend auto` trusts it: a matmul,
 * a softmax cross-entropy and its gradient (the ops a training step is made of) on fixed small
 * inputs, compared with the same arithmetic in plain JavaScript.
 */
import * as tf from '@tensorflow/tfjs';

/** Relative tolerance: float32 arithmetic in another order, not a different result. */
const TOLERANCE = 1e-3;

/** (n, k) @ (k, m) and a softmax cross-entropy over its rows with labels, in doubles. */
function reference(a: number[], b: number[], n: number, k: number, m: number, labels: number[]) {
  const logits = new Float64Array(n * m);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < m; j++) {
      let s = 0;
      for (let t = 0; t < k; t++) s += a[i * k + t]! * b[t * m + j]!;
      logits[i * m + j] = s;
    }
  let loss = 0;
  const grad = new Float64Array(n * m); // d loss / d logits
  for (let i = 0; i < n; i++) {
    const row = logits.subarray(i * m, (i + 1) * m);
    const max = Math.max(...row);
    let z = 0;
    for (const x of row) z += Math.exp(x - max);
    loss += (Math.log(z) + max - row[labels[i]!]!) / n;
    for (let j = 0; j < m; j++)
      grad[i * m + j] = (Math.exp(row[j]! - max) / z - (j === labels[i] ? 1 : 0)) / n;
  }
  // d loss / d a = grad @ bᵀ
  const ga = new Float64Array(n * k);
  for (let i = 0; i < n; i++)
    for (let t = 0; t < k; t++) {
      let s = 0;
      for (let j = 0; j < m; j++) s += grad[i * m + j]! * b[t * m + j]!;
      ga[i * k + t] = s;
    }
  return { loss, ga };
}

/** Null when the backend agrees with the reference; else what differed. */
export async function selfCheck(): Promise<string | null> {
  const [n, k, m] = [6, 16, 10];
  const a = Array.from({ length: n * k }, (_, i) => Math.sin(i * 0.7) * 0.5);
  const b = Array.from({ length: k * m }, (_, i) => Math.cos(i * 0.3) * 0.5);
  const labels = Array.from({ length: n }, (_, i) => (i * 3) % m);
  const want = reference(a, b, n, k, m, labels);
  const A = tf.tensor2d(a, [n, k]);
  const B = tf.tensor2d(b, [k, m]);
  const Y = tf.oneHot(tf.tensor1d(labels, 'int32'), m);
  try {
    const { value, grads } = tf.valueAndGrads((x: tf.Tensor) =>
      tf.losses.softmaxCrossEntropy(Y, tf.matMul(x, B)),
    )([A]);
    const loss = (await value.data())[0]!;
    const ga = await grads[0]!.data();
    tf.dispose([value, ...grads]);
    const off = (got: number, exp: number) =>
      Math.abs(got - exp) > TOLERANCE * Math.max(1, Math.abs(exp));
    if (!Number.isFinite(loss) || off(loss, want.loss))
      return `loss ${loss}, expected ${want.loss.toFixed(6)}`;
    for (let i = 0; i < ga.length; i++)
      if (off(ga[i]!, want.ga[i]!)) return `gradient[${i}] ${ga[i]}, expected ${want.ga[i]}`;
    return null;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  } finally {
    tf.dispose([A, B, Y]);
  }
}

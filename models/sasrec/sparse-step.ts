/**
 * A training step with lazy Adam on the item tables (TrainConfig.sparseAdam, sampled loss; issue
 * #14): nothing in it is the size of the catalog. Each slice of the batch (this thread's and
 * each gradient worker's) is computed on the rows of the item tables it reads
 * (models/sasrec/slice.ts), the workers are sent just those rows, the slices' row gradients are
 * summed by row, and only those rows are updated (models/sasrec/row-adam.ts); the other weights
 * take the loop's dense Adam step.
 */
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../../src/core/random.ts';
import type { Example } from '../training/examples.ts';
import type { SasrecConfig, TrainConfig } from './config.ts';
import type { ItemFeatureMatrix } from './item-features.ts';
import { ownedArray, type GradPool } from './parallel.ts';
import type { RowAdam } from './row-adam.ts';
import { ROW_TABLES, rowsLoss, sliceDraws, sliceRows, type SliceLossOptions } from './slice.ts';

/** What a step reads of its trainer. */
export interface StepContext {
  c: SasrecConfig;
  tc: TrainConfig;
  rng: Rng;
  pool: GradPool | null;
  vars: Record<string, tf.Variable>;
  sliceOptions: SliceLossOptions;
  itemFeatures: ItemFeatureMatrix | undefined;
  /** Workers that have the feature matrix already (it is sent once). */
  sentFeatures: Set<number>;
}

/** The total loss weight of some examples: their real targets, or their sequences with per-user weighting. */
export function lossWeight(examples: Example[], perUser: boolean): number {
  let w = 0;
  for (const e of examples) {
    const real = e.target.reduce((a, t) => a + (t !== 0 ? 1 : 0), 0);
    w += perUser ? (real > 0 ? 1 : 0) : real;
  }
  return w;
}

/** Rows `rows` of a weight, as a fresh array (its own buffer, so it can be transferred). */
export function rowsOf(v: tf.Tensor, rows: Int32Array): Float32Array {
  const t = gatherRows(v, rows);
  const a = ownedArray(t.dataSync() as Float32Array);
  t.dispose();
  return a;
}

/** Rows `rows` of a weight, as a new tensor. */
export function gatherRows(v: tf.Tensor, rows: Int32Array): tf.Tensor {
  return tf.tidy(() => tf.gatherND(v, tf.tensor2d(rows, [rows.length, 1], 'int32')));
}

/**
 * A step with lazy Adam on the item tables (`sparseAdam`, sampled loss): every slice is
 * computed on the rows it reads, their gradients summed by row, and only those rows of the
 * item tables updated (models/sasrec/row-adam.ts); the other weights take a dense Adam step.
 */
export async function sparseStep(
  ctx: StepContext,
  batch: Example[],
  optimizer: tf.Optimizer,
  adam: RowAdam,
): Promise<number> {
  const { c, tc, rng, pool, vars, sliceOptions, itemFeatures, sentFeatures } = ctx;
  const varList = Object.values(vars);
  const names = Object.keys(vars);
  const shapes = varList.map((v) => [...v.shape]);
  const rowTable = names.map((name) => (ROW_TABLES as readonly string[]).includes(name));
  const parts: Example[][] = Array.from(
    { length: Math.max(1, Math.min((pool?.size ?? 0) + 1, batch.length)) },
    () => [],
  );
  batch.forEach((e, i) => parts[i % parts.length]!.push(e));
  const seeds = parts.slice(1).map(() => rng.seed());
  const plans = parts.map((part, i) => {
    const draws = sliceDraws(c, sliceOptions, i === 0 ? rng : new Rng(seeds[i - 1]!));
    const ins = part.map((e) => e.input);
    const tgs = part.map((e) => e.target);
    return { draws, rows: sliceRows(ins, tgs, draws.negatives!), ins, tgs };
  });
  const dense = varList.map((v, j) =>
    rowTable[j] || !pool ? new Float32Array(0) : ownedArray(v.dataSync() as Float32Array),
  );
  const remote = plans.slice(1).map((p, i) => {
    const ws = varList.map((v, j) => (rowTable[j] ? rowsOf(v, p.rows) : dense[j]!));
    return pool!.compute(
      i,
      {
        config: c,
        names,
        shapes: shapes.map((sh, j) => (rowTable[j] ? [p.rows.length, ...sh.slice(1)] : sh)),
        weights: ws,
        inputs: p.ins,
        targets: p.tgs,
        loss: tc.loss,
        excludeSeen: tc.excludeSeen,
        perUser: tc.perUserLoss,
        idDropout: tc.idDropout,
        ...(itemFeatures && !sentFeatures.has(i) && (sentFeatures.add(i), { itemFeatures })),
        rows: p.rows,
        draws: p.draws,
        seed: seeds[i]!,
      },
      varList.flatMap((_, j) => (rowTable[j] ? [ws[j]!.buffer as ArrayBuffer] : [])),
    );
  });
  const p0 = plans[0]!;
  const xs = varList.map((v, j) => (rowTable[j] ? gatherRows(v, p0.rows) : v));
  const local = tf.valueAndGrads((...ws: tf.Tensor[]) =>
    rowsLoss(
      c,
      Object.fromEntries(names.map((name, j) => [name, ws[j]!])),
      p0.ins,
      p0.tgs,
      sliceOptions,
      p0.draws,
      p0.rows,
    ),
  )(xs);
  // Read asynchronously: a GPU backend in Node has no synchronous read back (../../src/cli/tf-node.ts).
  const localGrads = (await Promise.all(local.grads.map((g) => g.data()))) as Float32Array[];
  const localLoss = (await local.value.data())[0]!;
  tf.dispose([local.value, ...local.grads, ...xs.filter((_, j) => rowTable[j])]);
  const results = await Promise.all(remote);
  const n = parts.map((p) => lossWeight(p, tc.perUserLoss));
  const total = n.reduce((a, b) => a + b, 0);
  const gradsOf = (i: number) => (i === 0 ? localGrads : results[i - 1]!.grads!);
  // The other weights: the slices' gradients weighted by their loss weight, dense Adam.
  const others = varList.flatMap((v, j) =>
    rowTable[j]
      ? []
      : [
          {
            name: v.name,
            tensor: tf.tidy(() =>
              parts.reduce<tf.Tensor>(
                (acc, _, i) =>
                  tf.add(acc, tf.mul(tf.tensor(gradsOf(i)[j]!, v.shape), n[i]! / total)),
                tf.zeros(v.shape),
              ),
            ),
          },
        ],
  );
  optimizer.applyGradients(others);
  tf.dispose(others.map((g) => g.tensor));
  // The item tables: the union of the slices' rows, each row's gradient summed over slices.
  adam.step();
  const lr = (optimizer as unknown as { learningRate: number }).learningRate;
  varList.forEach((v, j) => {
    if (!rowTable[j]) return;
    const width = v.size / v.shape[0]!;
    const at = new Map<number, number>();
    for (const p of plans) for (const r of p.rows) if (!at.has(r)) at.set(r, at.size);
    const sum = new Float32Array(at.size * width);
    plans.forEach((p, i) => {
      const g = gradsOf(i)[j]!;
      const scale = n[i]! / total;
      p.rows.forEach((r, k) => {
        const o = at.get(r)! * width;
        for (let d = 0; d < width; d++) sum[o + d]! += g[k * width + d]! * scale;
      });
    });
    adam.update(v, Int32Array.from(at.keys()), sum, lr);
  });
  return (
    parts.reduce((a, _, i) => a + (i === 0 ? localLoss : results[i - 1]!.loss!) * n[i]!, 0) / total
  );
}

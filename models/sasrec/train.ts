import * as tf from '@tensorflow/tfjs';
import { LocalrecError } from '../../src/core/errors.ts';
import { Rng } from '../../src/core/random.ts';
import type { SplitData, SplitMetrics } from '../../src/core/types.ts';
import { evaluateRanking } from '../../src/core/metrics.ts';
import { toVariables } from '../tf-ops.ts';
import { lengthBatches } from '../training/batches.ts';
import { buildExamples, usersByTrainLength, type Example } from '../training/examples.ts';
import {
  runTrainingLoop,
  type LoopEpochReport,
  type LoopProgress,
  type LoopResult,
} from '../training/loop.ts';
import { defaultTrainConfig, type SasrecConfig, type TrainConfig } from './config.ts';
import {
  readsRows,
  ROW_TABLES,
  sliceDraws,
  sliceLoss,
  sliceRows,
  type SliceLossOptions,
} from './slice.ts';
import {
  bakedConfig,
  checkFeatureMatrix,
  featureMix,
  withItemFeatures,
  type ItemFeatureMatrix,
} from './item-features.ts';
import { GradPool, ownedArray } from './parallel.ts';
import { RowAdam, type AdamSettings } from './row-adam.ts';
import { lossWeight, rowsOf, sparseStep } from './sparse-step.ts';
import { initWeights, scoreAll, type SasrecWeights } from './model.ts';

/** Progress after every step. */
export interface TrainProgress extends LoopProgress {
  /** Training positions (non-padding targets) per second over the epoch so far. */
  positionsPerSec: number;
}

/** What every epoch reports. */
export interface EpochReport extends LoopEpochReport<SplitMetrics> {
  /** Training positions per second over the epoch. */
  positionsPerSec: number;
}

/** What {@link trainSasrec} returns. */
export interface TrainResult extends LoopResult<SplitMetrics, EpochReport> {
  /** The best weights, as a plain SASRec (`bakedConfig(c)`: item features folded into item_emb). */
  weights: SasrecWeights;
}

export interface TrainHooks {
  onProgress?: (p: TrainProgress) => void;
  onEpoch?: (r: EpochReport) => void;
  /** Called with the best weights so far whenever validation improves. */
  onCheckpoint?: (w: SasrecWeights, r: EpochReport) => void | Promise<void>;
}

/** Scores for evaluation, in batches, as plain arrays (one per input sequence). */
export function makeScorer(c: SasrecConfig, w: SasrecWeights) {
  return async (inputs: Int32Array[]): Promise<Float32Array[]> => {
    const s = scoreAll(c, w, inputs);
    const data = (await s.data()) as Float32Array;
    s.dispose();
    const n = c.numItems + 1;
    return inputs.map((_, i) => data.subarray(i * n, (i + 1) * n));
  };
}

/**
 * Trains SASRec on the split's training sequences (the loop of models/training/loop.ts),
 * evaluating validation NDCG@10 (full ranking) every `evalEvery` epochs and keeping the best
 * weights (never looking at test).
 */
export async function trainSasrec(
  c: SasrecConfig,
  split: SplitData,
  config: Partial<TrainConfig> = {},
  hooks: TrainHooks = {},
  itemFeatures?: ItemFeatureMatrix,
): Promise<TrainResult> {
  const tc: TrainConfig = { ...defaultTrainConfig, ...config };
  checkFeatureMatrix(c, itemFeatures);
  const F = c.itemFeatures ? featureMix(itemFeatures!) : null;
  /** What evaluation and checkpoints see: a plain SASRec (item features baked into item_emb). */
  const plain = bakedConfig(c);
  const rng = new Rng(tc.seed);
  const vars = toVariables(initWeights(c, rng.seed()));
  const varList = Object.values(vars);
  if (!(Number.isInteger(tc.futureWindow) && tc.futureWindow >= 1))
    throw new LocalrecError(
      'bad-input',
      `futureWindow must be an integer ≥ 1, got ${tc.futureWindow}`,
    );
  if (!(tc.futureWeight >= 0 && tc.futureWeight < 1))
    throw new LocalrecError('bad-input', `futureWeight must be in [0, 1), got ${tc.futureWeight}`);
  if (tc.futureWindow > 1 && tc.loss.kind !== 'full')
    throw new LocalrecError('bad-input', 'a future window needs the full softmax loss');
  if (tc.sparseAdam && tc.loss.kind !== 'sampled')
    throw new LocalrecError('bad-input', 'sparse Adam needs the sampled loss');
  if (!(tc.emaDecay >= 0 && tc.emaDecay < 1))
    throw new LocalrecError('bad-input', `emaDecay must be in [0, 1), got ${tc.emaDecay}`);
  const window = tc.futureWeight > 0 ? tc.futureWindow : 1;
  const fixedExamples =
    tc.cropRate > 0 || tc.maskRate > 0 || tc.tieShuffle > 0
      ? null
      : buildExamples(split, c.maxLen, 0, undefined, 0, 0, window);
  const usersByLength = usersByTrainLength(split);

  const names = Object.keys(vars);
  const shapes = varList.map((v) => [...v.shape]);
  /** Which weights have a row per item ({@link ROW_TABLES}): cut to rows for the sampled loss. */
  const rowTable = names.map((n) => (ROW_TABLES as readonly string[]).includes(n));
  const pool = tc.workers > 1 ? GradPool.create(tc.workers - 1) : null;
  const sentFeatures = new Set<number>();
  /** How every slice is scored; `future` is filled in per slice. */
  const sliceOptions: SliceLossOptions = {
    loss: tc.loss,
    excludeSeen: tc.excludeSeen,
    perUser: tc.perUserLoss,
    F,
    idDropout: tc.idDropout,
  };
  const futureOf = (part: Example[]) =>
    window > 1
      ? { items: part.map((e) => e.future!), k: window - 1, weight: tc.futureWeight }
      : undefined;
  const lossOf = (part: Example[]) => {
    const future = futureOf(part);
    return sliceLoss(
      c,
      vars,
      part.map((e) => e.input),
      part.map((e) => e.target),
      { ...sliceOptions, ...(future && { future }) },
      rng,
    );
  };
  /** Lazy Adam for the item tables, with the loop's Adam settings (made at the first step). */
  let rowAdam: RowAdam | null = null;
  const adamOf = (o: tf.Optimizer) => (rowAdam ??= new RowAdam(o as unknown as AdamSettings));
  /** One optimizer step on a batch; returns its loss. With a pool, slices go to the workers. */
  const trainStep = async (batch: Example[], optimizer: tf.Optimizer): Promise<number> => {
    if (tc.sparseAdam)
      return sparseStep(
        { c, tc, rng, pool, vars, sliceOptions, itemFeatures, sentFeatures },
        batch,
        optimizer,
        adamOf(optimizer),
      );
    if (!pool || batch.length < 2) {
      const l = optimizer.minimize(() => lossOf(batch), true, varList)!;
      const v = (await l.data())[0]!;
      l.dispose();
      return v;
    }
    // Deal examples round-robin (the batch is length-sorted, so slices get similar work).
    const parts: Example[][] = Array.from(
      { length: Math.min(pool.size + 1, batch.length) },
      () => [],
    );
    batch.forEach((e, i) => parts[i % parts.length]!.push(e));
    // The workers' seeds, drawn before this thread's slice draws from rng (as always).
    const seeds = parts.slice(1).map(() => rng.seed());
    // The sampled loss: each worker gets only the rows of the item tables its slice reads
    // (their ids and its draws made here, as the worker would make them: slice.ts).
    const cut = readsRows(sliceOptions)
      ? parts.slice(1).map((part, i) => {
          const draws = sliceDraws(c, sliceOptions, new Rng(seeds[i]!));
          const rows = sliceRows(
            part.map((e) => e.input),
            part.map((e) => e.target),
            draws.negatives!,
          );
          return { draws, rows };
        })
      : null;
    // One copy of the other weights for all workers: structured-cloned to each, and handed
    // over (transferred, not copied) to the last, after which this thread no longer needs it.
    const weights = varList.map((v, j) =>
      cut && rowTable[j] ? new Float32Array(0) : ownedArray(v.dataSync() as Float32Array),
    );
    const remote = parts.slice(1).map((part, i, rest) => {
      const last = i === rest.length - 1;
      const mine = cut?.[i];
      const ws = mine
        ? varList.map((v, j) => (rowTable[j] ? rowsOf(v, mine.rows) : weights[j]!))
        : weights;
      const transfer = varList.flatMap((_, j) =>
        last || (mine && rowTable[j]) ? [ws[j]!.buffer as ArrayBuffer] : [],
      );
      return pool.compute(
        i,
        {
          config: c,
          names,
          shapes: mine
            ? shapes.map((sh, j) => (rowTable[j] ? [mine.rows.length, ...sh.slice(1)] : sh))
            : shapes,
          weights: ws,
          inputs: part.map((e) => e.input),
          targets: part.map((e) => e.target),
          loss: tc.loss,
          excludeSeen: tc.excludeSeen,
          perUser: tc.perUserLoss,
          idDropout: tc.idDropout,
          // The feature matrix goes to each worker once; it keeps it for the rest of training.
          ...(itemFeatures && !sentFeatures.has(i) && (sentFeatures.add(i), { itemFeatures })),
          ...(window > 1 && { future: futureOf(part) }),
          ...(mine && { rows: mine.rows, draws: mine.draws }),
          seed: seeds[i]!,
        },
        transfer,
      );
    });
    const local = optimizer.computeGradients(() => lossOf(parts[0]!), varList);
    const results = await Promise.all(remote);
    // Each slice's loss is a weighted mean; combine slices by their total loss weight so the
    // result is the whole batch's mean: non-padding targets, or sequences with per-user weights.
    const n = parts.map((p) => lossWeight(p, tc.perUserLoss));
    const total = n.reduce((a, b) => a + b, 0);
    const localLoss = (await local.value.data())[0]!;
    const combined = varList.map((v, j) => ({
      name: v.name,
      tensor: tf.tidy(() => {
        let acc = tf.mul(local.grads[v.name]!, n[0]! / total);
        results.forEach((r, i) => {
          const rows = cut?.[i]?.rows;
          const g =
            rows && rowTable[j]
              ? tf.scatterND(
                  tf.tensor2d(rows, [rows.length, 1], 'int32'),
                  tf.tensor(r.grads![j]!, [rows.length, ...v.shape.slice(1)]),
                  v.shape,
                )
              : tf.tensor(r.grads![j]!, v.shape);
          acc = tf.add(acc, tf.mul(g, n[i + 1]! / total));
        });
        return acc;
      }),
    }));
    optimizer.applyGradients(combined);
    tf.dispose([local.value, ...Object.values(local.grads), ...combined.map((g) => g.tensor)]);
    return (localLoss * n[0]! + results.reduce((a, r, i) => a + r.loss! * n[i + 1]!, 0)) / total;
  };

  // Worker threads keep the process alive: close them however training ends.
  try {
    return await runTrainingLoop(
      {
        schedule: tc,
        vars,
        hasValid: split.users.some((u) => u.valid > 0),
        rate: 'positionsPerSec',
        batches: () =>
          lengthBatches(
            fixedExamples ??
              buildExamples(split, c.maxLen, tc.cropRate, rng, tc.maskRate, tc.tieShuffle, window),
            tc.batchSize,
            rng,
          ),
        step: async (batch, optimizer) => ({
          loss: await trainStep(batch, optimizer),
          count: lossWeight(batch, false),
        }),
        evaluate: (w) =>
          evaluateRanking(split, 'valid', makeScorer(plain, w), { users: usersByLength }),
        score: (m) => m.full.ndcg10,
        ...((F || tc.sparseAdam) && {
          view: (w: SasrecWeights) => {
            // With --sparse-adam the table changes in place (row-adam.ts): scored as a copy.
            const baked = tf.tidy(() =>
              F ? withItemFeatures(c, w, F) : { ...w, item_emb: tf.mul(w['item_emb']!, 1) },
            );
            // The baked table is the view's own; the rest are the variables.
            return { weights: baked, release: () => baked['item_emb']!.dispose() };
          },
        }),
      },
      hooks,
    );
  } finally {
    await pool?.close();
    F?.dispose();
    (rowAdam as RowAdam | null)?.dispose();
  }
}

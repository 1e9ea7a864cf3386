import * as tf from '@tensorflow/tfjs';
import { LocalrecError } from '../../src/core/errors.ts';
import { Rng } from '../../src/core/random.ts';
import type { SplitData, SplitMetrics } from '../../src/core/types.ts';
import { evaluateRanking } from '../../src/core/metrics.ts';
import { defaultTrainConfig, type SasrecConfig, type TrainConfig } from './config.ts';
import { cloneWeights, startAverage, updateAverage } from '../tf-ops.ts';
import { sliceLoss, type SliceLossOptions } from './loss.ts';
import {
  bakedConfig,
  checkFeatureMatrix,
  withItemFeatures,
  type ItemFeatureMatrix,
} from './item-features.ts';
import { GradPool } from './parallel.ts';
import { initWeights, scoreAll, toVariables, type SasrecWeights } from './model.ts';

export interface TrainProgress {
  epoch: number;
  epochs: number;
  step: number;
  stepsPerEpoch: number;
  /** Mean loss over the epoch so far. */
  loss: number;
  /** Training positions (non-padding targets) per second over the epoch so far. */
  positionsPerSec: number;
  /** Seconds left in this epoch at the current rate. */
  epochEtaSec: number;
  elapsedSec: number;
}

export interface EpochReport {
  epoch: number;
  loss: number;
  seconds: number;
  positionsPerSec: number;
  valid?: SplitMetrics;
  best: boolean;
  /** Set when this epoch's evaluation lowered the learning rate (to this value). */
  learningRate?: number;
}

export interface TrainResult {
  /** The best weights, as a plain SASRec (`bakedConfig(c)`: item features folded into item_emb). */
  weights: SasrecWeights;
  bestEpoch: number;
  epochsRun: number;
  bestValid: SplitMetrics | null;
  trainSeconds: number;
  history: EpochReport[];
  stoppedBy: 'epochs' | 'patience' | 'time';
}

export interface TrainHooks {
  onProgress?: (p: TrainProgress) => void;
  onEpoch?: (r: EpochReport) => void;
  /** Called with the best weights so far whenever validation improves. */
  onCheckpoint?: (w: SasrecWeights, r: EpochReport) => void | Promise<void>;
}

export interface Example {
  input: Int32Array;
  target: Int32Array;
  /** The user (index into `split.users`) and where `input` starts in its training sequence. */
  user: number;
  start: number;
  /**
   * With a future window W > 1: for each input position, the items 2..W steps after it in the
   * training sequence (W-1 per position, 0 past its end).
   */
  future?: Int32Array;
}

/**
 * One example per user: input = train[:-1], target = train[1:], the last maxLen of each.
 * With `cropRate` > 0, that share of users (drawn afresh each epoch) instead trains on a
 * random prefix of its sequence, so no user's items sit at the same positions every epoch:
 * without it the model memorises each user's own context, which helps validation (whose
 * inputs were all trained on) but not test (whose last input never was).
 */
export function buildExamples(
  split: SplitData,
  maxLen: number,
  cropRate = 0,
  rng?: Rng,
  maskRate = 0,
  tieShuffle = 0,
  futureWindow = 1,
): Example[] {
  const out: Example[] = [];
  for (const [user, u] of split.users.entries()) {
    let s = u.train;
    if (s.length < 2) continue;
    if (tieShuffle > 0 && rng && u.trainTies && rng.next() < tieShuffle) {
      s = s.slice();
      const ties = u.trainTies;
      for (let i = 0; i < s.length; i++) {
        const run = ties[i]!;
        if (run > 1) rng.shuffle(s.subarray(i, i + run));
      }
    }
    // end in [2, length]: keep at least one input/target pair.
    const end = cropRate > 0 && rng && rng.next() < cropRate ? 2 + rng.int(s.length - 1) : s.length;
    const start = Math.max(0, end - 1 - maxLen);
    let input = s.subarray(start, end - 1);
    let target = s.subarray(start + 1, end);
    if (maskRate > 0 && rng) {
      // Item masking: drop inputs (as padding) and their targets; never the last input.
      input = input.slice();
      target = target.slice();
      for (let i = 0; i < input.length - 1; i++) {
        if (rng.next() < maskRate) input[i] = target[i] = 0;
      }
    }
    const ex: Example = { input, target, user, start };
    if (futureWindow > 1) {
      const k = futureWindow - 1;
      const future = new Int32Array(input.length * k);
      for (let i = 0; i < input.length; i++)
        for (let j = 0; j < k; j++) {
          const at = start + i + 2 + j;
          if (at < s.length) future[i * k + j] = s[at]!;
        }
      ex.future = future;
    }
    out.push(ex);
  }
  return out;
}

/**
 * Batches of similar length (to cut padding): shuffle, then sort inside pools of
 * 8 batches by length, then shuffle the batch order.
 */
function makeBatches(examples: Example[], batchSize: number, rng: Rng): Example[][] {
  const idx = rng.shuffle(Array.from(examples.keys())) as number[];
  const pool = batchSize * 8;
  const batches: Example[][] = [];
  for (let p = 0; p < idx.length; p += pool) {
    const chunk = idx
      .slice(p, p + pool)
      .sort((a, b) => examples[a]!.input.length - examples[b]!.input.length);
    for (let b = 0; b < chunk.length; b += batchSize)
      batches.push(chunk.slice(b, b + batchSize).map((i) => examples[i]!));
  }
  return rng.shuffle(batches) as Example[][];
}

/** The total loss weight of some examples: their real targets, or their sequences with per-user weighting. */
function lossWeight(examples: Example[], perUser: boolean): number {
  let w = 0;
  for (const e of examples) {
    const real = e.target.reduce((a, t) => a + (t !== 0 ? 1 : 0), 0);
    w += perUser ? (real > 0 ? 1 : 0) : real;
  }
  return w;
}

/** User indices in training-length order: evaluating in this order keeps each scoring batch's padding small. */
export function usersByTrainLength(split: SplitData): number[] {
  return Array.from(split.users.keys()).sort(
    (a, b) => split.users[a]!.train.length - split.users[b]!.train.length,
  );
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
 * Trains SASRec on the split's training sequences, evaluating validation NDCG@10 (full
 * ranking) every `evalEvery` epochs and keeping the best weights (never looking at test).
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
  const F = c.itemFeatures
    ? tf.tensor2d(itemFeatures!.data, [itemFeatures!.rows, itemFeatures!.cols])
    : null;
  /** What evaluation and checkpoints see: a plain SASRec (item features baked into item_emb). */
  const plain = bakedConfig(c);
  const bake = (w: SasrecWeights): SasrecWeights =>
    F ? tf.tidy(() => withItemFeatures(c, w, F)) : w;
  const rng = new Rng(tc.seed);
  const vars = toVariables(initWeights(c, rng.seed()));
  const varList = Object.values(vars);
  let learningRate = tc.learningRate;
  const optimizer = tf.train.adam(learningRate, 0.9, 0.98);
  if (!(Number.isInteger(tc.futureWindow) && tc.futureWindow >= 1))
    throw new LocalrecError(
      'bad-input',
      `futureWindow must be an integer ≥ 1, got ${tc.futureWindow}`,
    );
  if (!(tc.futureWeight >= 0 && tc.futureWeight < 1))
    throw new LocalrecError('bad-input', `futureWeight must be in [0, 1), got ${tc.futureWeight}`);
  if (tc.futureWindow > 1 && tc.loss.kind !== 'full')
    throw new LocalrecError('bad-input', 'a future window needs the full softmax loss');
  const window = tc.futureWeight > 0 ? tc.futureWindow : 1;
  const fixedExamples =
    tc.cropRate > 0 || tc.maskRate > 0 || tc.tieShuffle > 0
      ? null
      : buildExamples(split, c.maxLen, 0, undefined, 0, 0, window);
  const hasValid = split.users.some((u) => u.valid > 0);
  const usersByLength = usersByTrainLength(split);

  const names = Object.keys(vars);
  const shapes = varList.map((v) => [...v.shape]);
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
  /** One optimizer step on a batch; returns its loss. With a pool, slices go to the workers. */
  const trainStep = async (batch: Example[]): Promise<number> => {
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
    const weights = varList.map((v) => (v.dataSync() as Float32Array).slice());
    const remote = parts.slice(1).map((part, i) =>
      pool.compute(i, {
        config: c,
        names,
        shapes,
        weights,
        inputs: part.map((e) => e.input),
        targets: part.map((e) => e.target),
        loss: tc.loss,
        excludeSeen: tc.excludeSeen,
        perUser: tc.perUserLoss,
        idDropout: tc.idDropout,
        // The feature matrix goes to each worker once; it keeps it for the rest of training.
        ...(itemFeatures && !sentFeatures.has(i) && (sentFeatures.add(i), { itemFeatures })),
        ...(window > 1 && { future: futureOf(part) }),
        seed: rng.seed(),
      }),
    );
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
          acc = tf.add(acc, tf.mul(tf.tensor(r.grads![j]!, v.shape), n[i + 1]! / total));
        });
        return acc;
      }),
    }));
    optimizer.applyGradients(combined);
    tf.dispose([local.value, ...Object.values(local.grads), ...combined.map((g) => g.tensor)]);
    return (localLoss * n[0]! + results.reduce((a, r, i) => a + r.loss! * n[i + 1]!, 0)) / total;
  };

  if (!(tc.emaDecay >= 0 && tc.emaDecay < 1))
    throw new LocalrecError('bad-input', `emaDecay must be in [0, 1), got ${tc.emaDecay}`);
  // The averaged weights (same names as vars), updated after every step when emaDecay > 0.
  const ema = tc.emaDecay > 0 ? startAverage(vars) : null;
  const updateEma = () => {
    if (ema) updateAverage(ema, vars, tc.emaDecay);
  };
  /** What validation scores and checkpoints keep: the average when there is one. */
  const evalWeights = (): SasrecWeights => ema ?? vars;

  const t0 = performance.now();
  const history: EpochReport[] = [];
  let best: SasrecWeights | null = null;
  let bestScore = -Infinity;
  let bestEpoch = 0;
  let bestValid: SplitMetrics | null = null;
  let sinceBest = 0;
  let stoppedBy: TrainResult['stoppedBy'] = 'epochs';
  let epoch = 0;

  // Worker threads keep the process alive: close them however training ends.
  try {
    for (epoch = 1; epoch <= tc.epochs; epoch++) {
      const e0 = performance.now();
      const examples =
        fixedExamples ??
        buildExamples(split, c.maxLen, tc.cropRate, rng, tc.maskRate, tc.tieShuffle, window);
      const batches = makeBatches(examples, tc.batchSize, rng);
      let lossSum = 0;
      let positions = 0;
      for (let step = 0; step < batches.length; step++) {
        const batch = batches[step]!;
        lossSum += await trainStep(batch);
        updateEma();
        positions += lossWeight(batch, false);
        const secs = (performance.now() - e0) / 1000;
        hooks.onProgress?.({
          epoch,
          epochs: tc.epochs,
          step: step + 1,
          stepsPerEpoch: batches.length,
          loss: lossSum / (step + 1),
          positionsPerSec: positions / secs,
          epochEtaSec: (secs / (step + 1)) * (batches.length - step - 1),
          elapsedSec: (performance.now() - t0) / 1000,
        });
      }
      const seconds = (performance.now() - e0) / 1000;
      const report: EpochReport = {
        epoch,
        loss: lossSum / Math.max(1, batches.length),
        seconds,
        positionsPerSec: positions / seconds,
        best: false,
      };
      const lastEpoch = epoch === tc.epochs;
      if (hasValid && (epoch % tc.evalEvery === 0 || lastEpoch)) {
        const scored = bake(evalWeights());
        report.valid = await evaluateRanking(split, 'valid', makeScorer(plain, scored), {
          users: usersByLength,
        });
        if (report.valid.full.ndcg10 > bestScore) {
          bestScore = report.valid.full.ndcg10;
          bestEpoch = epoch;
          bestValid = report.valid;
          sinceBest = 0;
          report.best = true;
          if (best) tf.dispose(Object.values(best));
          best = cloneWeights(scored);
          await hooks.onCheckpoint?.(best, report);
        } else if (epoch >= tc.minEpochs) {
          sinceBest += 1;
          // Reduce on plateau: every `lrPatience` evaluations without a gain, scale the rate down.
          if (tc.lrPatience > 0 && sinceBest % tc.lrPatience === 0) {
            learningRate *= tc.lrDecay;
            (optimizer as unknown as { learningRate: number }).learningRate = learningRate;
            report.learningRate = learningRate;
          }
        }
        if (F) scored['item_emb']!.dispose(); // the baked table; the rest are the variables
      }
      history.push(report);
      hooks.onEpoch?.(report);
      if (hasValid && sinceBest >= tc.patience) {
        stoppedBy = 'patience';
        break;
      }
      if (tc.maxSeconds > 0 && (performance.now() - t0) / 1000 >= tc.maxSeconds) {
        stoppedBy = 'time';
        break;
      }
    }
  } finally {
    await pool?.close();
  }
  const epochsRun = Math.min(epoch, tc.epochs);
  if (!best) {
    // The baked table is an intermediate here: tidy keeps only the copies.
    best = tf.tidy(() => cloneWeights(bake(evalWeights())));
    bestEpoch = epochsRun;
  }
  F?.dispose();
  if (ema) tf.dispose(Object.values(ema));
  tf.dispose(varList);
  optimizer.dispose();
  return {
    weights: best,
    bestEpoch,
    epochsRun,
    bestValid,
    trainSeconds: (performance.now() - t0) / 1000,
    history,
    stoppedBy,
  };
}

import * as tf from '@tensorflow/tfjs';
import {
  fullRanks,
  retrievalMetrics,
  type BatchScorer,
  type FullRanks,
  type RetrievalMetrics,
} from '../../src/core/metrics.ts';
import { LocalrecError } from '../../src/core/errors.ts';
import { Rng } from '../../src/core/random.ts';
import type { SplitData } from '../../src/core/types.ts';
import { buildExamples, usersByTrainLength, type Example } from '../sasrec/train.ts';
import { cloneWeights, matMul, startAverage, updateAverage } from '../tf-ops.ts';
import {
  defaultTwoTowerTrainConfig,
  validateTwoTowerTrainConfig,
  type TwoTowerConfig,
  type TwoTowerTrainConfig,
} from './config.ts';
import { buildContextTable, stageContext, type ContextTable } from './context.ts';
import type { ItemFeatures } from './features.ts';
import { prepareBatch, targetDistribution, twoTowerLoss } from './loss.ts';
import { encodeUsers, initWeights, itemTable, type TwoTowerWeights } from './model.ts';

export interface TwoTowerProgress {
  epoch: number;
  epochs: number;
  step: number;
  stepsPerEpoch: number;
  /** Mean loss over the epoch so far. */
  loss: number;
  /** Training examples (positions with a target) per second over the epoch so far. */
  examplesPerSec: number;
  /** Seconds left in this epoch at the current rate. */
  epochEtaSec: number;
  elapsedSec: number;
}

export interface TwoTowerEpochReport {
  epoch: number;
  loss: number;
  seconds: number;
  examplesPerSec: number;
  valid?: RetrievalMetrics;
  best: boolean;
  /** Set when this epoch's evaluation lowered the learning rate (to this value). */
  learningRate?: number;
}

export interface TwoTowerTrainResult {
  weights: TwoTowerWeights;
  bestEpoch: number;
  epochsRun: number;
  bestValid: RetrievalMetrics | null;
  trainSeconds: number;
  history: TwoTowerEpochReport[];
  stoppedBy: 'epochs' | 'patience' | 'time';
}

export interface TwoTowerHooks {
  onProgress?: (p: TwoTowerProgress) => void;
  /** After every epoch, with the live weights (read them, do not keep or dispose them). */
  onEpoch?: (r: TwoTowerEpochReport, live: TwoTowerWeights) => void | Promise<void>;
  /** Called with the best weights so far whenever validation improves. */
  onCheckpoint?: (w: TwoTowerWeights, r: TwoTowerEpochReport) => void | Promise<void>;
}

export interface TwoTowerTrainOptions {
  /** Validation users to select the epoch on (default: all with a validation item). */
  validUsers?: number[];
}

/**
 * Batches of similar length (less padding): shuffle, sort inside pools of 8 batches by
 * length, shuffle the batch order.
 */
function lengthBatches(examples: Example[], batchSize: number, rng: Rng): Example[][] {
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

/** Where a scorer of a model with context features reads each user's context from. */
export interface ScorerContext {
  /** The split the scorer is called on (with timestamps: leaveOneOut `keepTimes`). */
  split: SplitData;
  /** Its context table, when already built (else built from `split`). */
  table?: ContextTable;
}

/**
 * A full-ranking scorer: the item table is computed once, then each batch of histories is
 * encoded and scored against every item. A model with context features needs `context`: each
 * user's validation/test context is its target event's (models/two-tower/context.ts). Call
 * `dispose()` when done.
 */
export function makeTwoTowerScorer(
  c: TwoTowerConfig,
  w: TwoTowerWeights,
  f: ItemFeatures,
  context?: ScorerContext,
): { score: BatchScorer; table: tf.Tensor2D; dispose: () => void } {
  const ctxTable = c.context
    ? (context?.table ?? buildContextTable(c.context, requireSplit(context)))
    : null;
  const table = itemTable(c, w, f);
  const tableT = tf.tidy(() => table.transpose()); // (dim, numItems+1): a plain matmul per batch
  const n = c.numItems + 1;
  return {
    table,
    score: async (inputs, at) => {
      const ctx = ctxTable
        ? stageContext(ctxTable, context!.split, at.users, at.stage) // (batch·C)
        : undefined;
      const s = tf.tidy(() => matMul(encodeUsers(c, w, table, inputs, ctx), tableT));
      const data = (await s.data()) as Float32Array;
      s.dispose();
      return inputs.map((_, i) => data.subarray(i * n, (i + 1) * n));
    },
    dispose: () => tf.dispose([table, tableT]),
  };
}

function requireSplit(context: ScorerContext | undefined): SplitData {
  if (!context)
    throw new LocalrecError(
      'bad-input',
      'this two-tower model takes context features: its scorer needs the split to read them from',
    );
  return context.split;
}

/** Full-ranking Recall@100 / HR@10 / NDCG@10 of one stage, with the per-user ranks. */
export async function evaluateTwoTower(
  c: TwoTowerConfig,
  w: TwoTowerWeights,
  f: ItemFeatures,
  split: SplitData,
  stage: 'valid' | 'test',
  users?: number[],
  contextTable?: ContextTable,
): Promise<{ metrics: RetrievalMetrics; ranks: FullRanks }> {
  const s = makeTwoTowerScorer(c, w, f, { split, table: contextTable });
  try {
    const ranks = await fullRanks(split, stage, s.score, {
      users: users ?? usersByTrainLength(split),
    });
    return { metrics: retrievalMetrics(ranks.ranks), ranks };
  } finally {
    s.dispose();
  }
}

/**
 * Trains the two towers on the split's training sequences (in-batch softmax with the logQ
 * correction, loss.ts), evaluating validation every `evalEvery` epochs with full ranking and
 * keeping the weights of the best validation Recall@100 — the retrieval stage's job is to get
 * the item into the candidate list, so that is the metric it is selected on. Test is never looked at.
 * With `emaDecay` > 0 the weights evaluated, checkpointed and returned are the moving average.
 */
export async function trainTwoTower(
  c: TwoTowerConfig,
  split: SplitData,
  f: ItemFeatures,
  config: Partial<TwoTowerTrainConfig> = {},
  hooks: TwoTowerHooks = {},
  opts: TwoTowerTrainOptions = {},
): Promise<TwoTowerTrainResult> {
  const tc: TwoTowerTrainConfig = { ...defaultTwoTowerTrainConfig, ...config };
  validateTwoTowerTrainConfig(tc);
  const rng = new Rng(tc.seed);
  const vars: Record<string, tf.Variable> = {};
  // Unnamed: tfjs registers variable names globally, so a named set could not be built twice.
  for (const [name, t] of Object.entries(initWeights(c, rng.seed())))
    vars[name] = tf.variable(t, true);
  const varList = Object.values(vars);
  // The averaged weights (or the live ones): what is evaluated, checkpointed and returned.
  const ema = tc.emaDecay > 0 ? startAverage(vars) : null;
  const evalWeights = ema ?? vars;
  let learningRate = tc.learningRate;
  const optimizer = tf.train.adam(learningRate, 0.9, 0.98);
  const full = buildExamples(split, c.maxLen);
  const targetProb = targetDistribution(
    full.map((e) => e.target),
    c.numItems,
  );
  const validUsers =
    opts.validUsers ?? usersByTrainLength(split).filter((u) => split.users[u]!.valid !== 0);
  const hasValid = validUsers.length > 0;
  // Per user, the context of predicting each of its events (null for a model without context).
  const ctxTable = c.context ? buildContextTable(c.context, split) : null;
  const contextOf = (batch: Example[]) => {
    if (!ctxTable) return undefined;
    const C = ctxTable.width;
    // Example targets are train[start+1 ...]: event start+1+j of the user's sequence.
    const rows = batch.map((e) =>
      ctxTable.users[e.user]!.subarray((e.start + 1) * C, (e.start + 1 + e.target.length) * C),
    );
    return { rows, width: C };
  };

  const t0 = performance.now();
  const history: TwoTowerEpochReport[] = [];
  let best: TwoTowerWeights | null = null;
  let bestScore = -Infinity;
  let bestEpoch = 0;
  let bestValid: RetrievalMetrics | null = null;
  let sinceBest = 0;
  let stoppedBy: TwoTowerTrainResult['stoppedBy'] = 'epochs';
  let epoch = 0;
  for (epoch = 1; epoch <= tc.epochs; epoch++) {
    const e0 = performance.now();
    const examples = tc.cropRate > 0 ? buildExamples(split, c.maxLen, tc.cropRate, rng) : full;
    const batches = lengthBatches(examples, tc.batchSize, rng);
    let lossSum = 0;
    let seen = 0;
    for (let step = 0; step < batches.length; step++) {
      const batch = batches[step]!;
      const p = prepareBatch(
        batch.map((e) => e.input),
        batch.map((e) => e.target),
        c.maxLen,
        targetProb,
        rng,
        { idDropout: tc.idDropout, excludeSeen: tc.excludeSeen, context: contextOf(batch) },
      );
      const l = optimizer.minimize(() => twoTowerLoss(c, vars, f, p), true, varList)!;
      lossSum += (await l.data())[0]!;
      l.dispose();
      if (ema) updateAverage(ema, vars, tc.emaDecay);
      seen += p.rows;
      const secs = (performance.now() - e0) / 1000;
      hooks.onProgress?.({
        epoch,
        epochs: tc.epochs,
        step: step + 1,
        stepsPerEpoch: batches.length,
        loss: lossSum / (step + 1),
        examplesPerSec: seen / secs,
        epochEtaSec: (secs / (step + 1)) * (batches.length - step - 1),
        elapsedSec: (performance.now() - t0) / 1000,
      });
    }
    const seconds = (performance.now() - e0) / 1000;
    const report: TwoTowerEpochReport = {
      epoch,
      loss: lossSum / Math.max(1, batches.length),
      seconds,
      examplesPerSec: seen / seconds,
      best: false,
    };
    if (hasValid && (epoch % tc.evalEvery === 0 || epoch === tc.epochs)) {
      report.valid = (
        await evaluateTwoTower(c, evalWeights, f, split, 'valid', validUsers, ctxTable ?? undefined)
      ).metrics;
      if (report.valid.recall100 > bestScore) {
        bestScore = report.valid.recall100;
        bestEpoch = epoch;
        bestValid = report.valid;
        sinceBest = 0;
        report.best = true;
        if (best) tf.dispose(Object.values(best));
        best = cloneWeights(evalWeights);
        await hooks.onCheckpoint?.(best, report);
      } else {
        sinceBest += 1;
        // Reduce on plateau: late, smaller steps also steady the features-only (new-item)
        // region of the space, whose scores otherwise jump together from epoch to epoch.
        if (tc.lrPatience > 0 && sinceBest % tc.lrPatience === 0) {
          learningRate *= tc.lrDecay;
          (optimizer as unknown as { learningRate: number }).learningRate = learningRate;
          report.learningRate = learningRate;
        }
      }
    }
    history.push(report);
    await hooks.onEpoch?.(report, evalWeights);
    if (hasValid && sinceBest >= tc.patience) {
      stoppedBy = 'patience';
      break;
    }
    if (tc.maxSeconds > 0 && (performance.now() - t0) / 1000 >= tc.maxSeconds) {
      stoppedBy = 'time';
      break;
    }
  }
  const epochsRun = Math.min(epoch, tc.epochs);
  if (!best) {
    best = cloneWeights(evalWeights);
    bestEpoch = epochsRun;
  }
  tf.dispose(varList);
  if (ema) tf.dispose(Object.values(ema));
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

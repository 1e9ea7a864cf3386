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
import { matMul, toVariables } from '../tf-ops.ts';
import { lengthBatches } from '../training/batches.ts';
import { buildExamples, usersByTrainLength, type Example } from '../training/examples.ts';
import {
  runTrainingLoop,
  type LoopEpochReport,
  type LoopProgress,
  type LoopResult,
} from '../training/loop.ts';
import {
  defaultTwoTowerTrainConfig,
  validateTwoTowerTrainConfig,
  type TwoTowerConfig,
  type TwoTowerTrainConfig,
} from './config.ts';
import { buildContextTable, stageContext, type ContextTable } from './context.ts';
import type { ItemFeatures } from '../training/item-features.ts';
import { prepareBatch, targetDistribution, twoTowerLoss } from './loss.ts';
import { encodeUsers, initWeights, itemTable, type TwoTowerWeights } from './model.ts';

/** Progress after every step. */
export interface TwoTowerProgress extends LoopProgress {
  /** Training examples (positions with a target) per second over the epoch so far. */
  examplesPerSec: number;
}

/** What every epoch reports. */
export interface TwoTowerEpochReport extends LoopEpochReport<RetrievalMetrics> {
  /** Training examples per second over the epoch. */
  examplesPerSec: number;
}

/** What {@link trainTwoTower} returns. */
export type TwoTowerTrainResult = LoopResult<RetrievalMetrics, TwoTowerEpochReport>;

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
 * keeping the weights of the best validation Recall@100 (the loop of models/training/loop.ts) — the retrieval stage's job is to get
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
  const vars = toVariables(initWeights(c, rng.seed()));
  const varList = Object.values(vars);
  const full = buildExamples(split, c.maxLen);
  const targetProb = targetDistribution(
    full.map((e) => e.target),
    c.numItems,
  );
  const validUsers =
    opts.validUsers ?? usersByTrainLength(split).filter((u) => split.users[u]!.valid !== 0);
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
  return runTrainingLoop(
    {
      schedule: tc,
      vars,
      hasValid: validUsers.length > 0,
      rate: 'examplesPerSec',
      batches: () =>
        lengthBatches(
          tc.cropRate > 0 ? buildExamples(split, c.maxLen, tc.cropRate, rng) : full,
          tc.batchSize,
          rng,
        ),
      step: async (batch, optimizer) => {
        const p = prepareBatch(
          batch.map((e) => e.input),
          batch.map((e) => e.target),
          c.maxLen,
          targetProb,
          rng,
          { idDropout: tc.idDropout, excludeSeen: tc.excludeSeen, context: contextOf(batch) },
        );
        const l = optimizer.minimize(() => twoTowerLoss(c, vars, f, p), true, varList)!;
        const loss = (await l.data())[0]!;
        l.dispose();
        return { loss, count: p.rows };
      },
      evaluate: async (w) =>
        (await evaluateTwoTower(c, w, f, split, 'valid', validUsers, ctxTable ?? undefined))
          .metrics,
      score: (m) => m.recall100,
    },
    hooks,
  );
}

import { parseContextSpec, type ContextSpec } from '../../src/core/context.ts';
import { LocalrecError } from '../../src/core/errors.ts';
import type { ItemFeatures } from '../training/item-features.ts';

/**
 * Two-tower hyper-parameters. The item-side sizes (numItems, numCategories, titleBuckets,
 * popBuckets, maxCategories, maxTitleTokens) follow the data's {@link ItemFeatures}.
 */
export interface TwoTowerConfig {
  /** Real items; internal indices are 1..numItems, 0 is padding. */
  numItems: number;
  /** Category vocabulary size (ids 1..numCategories; 0 = none). */
  numCategories: number;
  maxCategories: number;
  titleBuckets: number;
  maxTitleTokens: number;
  popBuckets: number;
  /** Longest history the user tower pools (the last maxLen items). */
  maxLen: number;
  /** Width of every embedding and of both towers' outputs. */
  dim: number;
  /** Hidden width of each tower's MLP. */
  hidden: number;
  /** Recency-weighted mean: the item k steps before the last weighs recencyDecay^k. */
  recencyDecay: number;
  /**
   * Softmax temperature: logits are cos(user, item) / temperature. Both towers' outputs are
   * L2-normalised (see model.ts), so this alone sets how peaked the softmax can get.
   */
  temperature: number;
  /**
   * Request-context features the user tower takes beside the history (src/core/context.ts),
   * concatenated to the pooled history before its MLP; absent = none (models made before
   * context existed read as such).
   */
  context?: ContextSpec;
}

export interface TwoTowerTrainConfig {
  epochs: number;
  /** Users per step; every position of their sequences is a training example. */
  batchSize: number;
  learningRate: number;
  /** Stop when validation Recall@100 has not improved for this many evaluations. */
  patience: number;
  evalEvery: number;
  /**
   * Multiply the learning rate by `lrDecay` after this many evaluations without a gain (0 = never).
   * Late, smaller steps also steady the features-only (new-item) region of the space, whose
   * scores otherwise jump together from epoch to epoch.
   */
  lrPatience: number;
  lrDecay: number;
  /**
   * Evaluate, select and ship an exponential moving average of the weights, updated after
   * every step with this decay (0 = the raw weights). It steadies the scores of items placed
   * by features alone, which otherwise move together from step to step.
   */
  emaDecay: number;
  /**
   * Share of a step's items shown to the item tower as new items: id embedding and popularity
   * bucket removed, so the tower learns to place items from content features alone.
   */
  idDropout: number;
  /** Share of users trained on a random prefix of their sequence each epoch (as SASRec). */
  cropRate: number;
  /** Leave items already in the sequence (up to each position) out of that position's softmax. */
  excludeSeen: boolean;
  seed: number;
  /** Stop after this many seconds (0 = no limit); the best epoch is kept. */
  maxSeconds: number;
}

/** The sizes chosen by hand; the rest of {@link TwoTowerConfig} follows the data. */
export type TwoTowerModelOptions = Pick<
  TwoTowerConfig,
  'maxLen' | 'dim' | 'hidden' | 'recencyDecay' | 'temperature'
>;

/**
 * Defaults from the ML-100K validation sweep of 2026-11-22 (docs/BENCHMARKS.md, "Two-tower
 * retrieval"): recency 0.6 beat 0.4/0.5/0.8/0.9, temperature 0.05 beat 0.03 and 0.1.
 */
export const defaultTwoTowerConfig: TwoTowerModelOptions = {
  maxLen: 50,
  dim: 64,
  hidden: 128,
  recencyDecay: 0.6,
  temperature: 0.05,
};

/** idDropout 0.1: on ML-100K validation, 0.1 and 0.2 tied on cold items, 0.3 and 0.5 lost on both. */
export const defaultTwoTowerTrainConfig: TwoTowerTrainConfig = {
  epochs: 100,
  batchSize: 64,
  learningRate: 2e-3,
  patience: 4,
  evalEvery: 2,
  lrPatience: 0,
  lrDecay: 0.5,
  emaDecay: 0.98,
  idDropout: 0.1,
  cropRate: 0.5,
  excludeSeen: true,
  seed: 42,
  maxSeconds: 0,
};

/** Throws a clear error for a config that cannot build a model. */
export function validateTwoTowerConfig(c: TwoTowerConfig): void {
  const bad = (m: string) => {
    throw new LocalrecError('bad-input', `invalid two-tower config: ${m}`);
  };
  for (const k of [
    'numItems',
    'maxCategories',
    'titleBuckets',
    'maxTitleTokens',
    'popBuckets',
    'maxLen',
    'dim',
    'hidden',
  ] as const) {
    if (!Number.isInteger(c[k]) || c[k] < 1) bad(`${k} must be a positive integer, got ${c[k]}`);
  }
  if (!Number.isInteger(c.numCategories) || c.numCategories < 0)
    bad(`numCategories must be a non-negative integer, got ${c.numCategories}`);
  if (!(c.recencyDecay > 0 && c.recencyDecay <= 1))
    bad(`recencyDecay must be in (0, 1], got ${c.recencyDecay}`);
  if (!(c.temperature > 0)) bad(`temperature must be > 0, got ${c.temperature}`);
  try {
    parseContextSpec(c.context, 'context');
  } catch (e) {
    bad((e as Error).message);
  }
}

/** Throws a clear error for training settings that cannot run. */
export function validateTwoTowerTrainConfig(t: TwoTowerTrainConfig): void {
  const bad = (m: string) => {
    throw new LocalrecError('bad-input', `invalid two-tower training config: ${m}`);
  };
  for (const k of ['epochs', 'batchSize', 'patience', 'evalEvery'] as const) {
    if (!Number.isInteger(t[k]) || t[k] < 1) bad(`${k} must be a positive integer, got ${t[k]}`);
  }
  if (!Number.isInteger(t.lrPatience) || t.lrPatience < 0)
    bad(`lrPatience must be a non-negative integer, got ${t.lrPatience}`);
  if (!(t.lrDecay > 0 && t.lrDecay <= 1)) bad(`lrDecay must be in (0, 1], got ${t.lrDecay}`);
  if (!(t.emaDecay >= 0 && t.emaDecay < 1)) bad(`emaDecay must be in [0, 1), got ${t.emaDecay}`);
  if (!(t.learningRate > 0)) bad(`learningRate must be > 0, got ${t.learningRate}`);
  if (!(t.idDropout >= 0 && t.idDropout < 1))
    bad(`idDropout must be in [0, 1), got ${t.idDropout}`);
  if (!(t.cropRate >= 0 && t.cropRate <= 1)) bad(`cropRate must be in [0, 1], got ${t.cropRate}`);
}

/**
 * The config a model over these features needs (item-side sizes from the data), with the
 * request-context features `context` (models/two-tower/context.ts: contextSpecFor), if any.
 */
export function configFor(
  f: ItemFeatures,
  rest: TwoTowerModelOptions,
  context?: ContextSpec | null,
): TwoTowerConfig {
  return {
    numItems: f.numItems,
    numCategories: f.categoryVocab.length,
    maxCategories: f.maxCategories,
    titleBuckets: f.titleBuckets,
    maxTitleTokens: f.maxTitleTokens,
    popBuckets: f.popBuckets,
    ...rest,
    ...(context ? { context } : {}),
  };
}

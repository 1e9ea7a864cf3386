import { LocalrecError } from '../../src/core/errors.ts';

/** SASRec hyper-parameters. Defaults are the ones `localrec train` uses. */
export interface SasrecConfig {
  /** Real items; internal indices are 1..numItems, 0 is padding. */
  numItems: number;
  /** Longest input sequence (positions). */
  maxLen: number;
  dim: number;
  blocks: number;
  heads: number;
  /** Inner width of the point-wise feed-forward layer. */
  ffnDim: number;
  dropout: number;
  /** LayerNorm epsilon (the ONNX export uses the same). */
  layerNormEps: number;
  /**
   * When > 0, scores are cosine similarities divided by this temperature (user state and item
   * embeddings L2-normalised at the output; inputs keep the raw embeddings) instead of raw
   * dot products. Absent or 0: dot products, as in SASRec.
   */
  cosineTemperature?: number;
  /**
   * A learned per-item bias added to every score (popularity the cosine cannot express: unit
   * vectors have no norm to carry it). Shipped as one extra dimension: item rows [e, b],
   * user vector [q, 1].
   */
  itemBias?: boolean;
  /**
   * Training only: width of the catalog-feature matrix whose learned mix (weight `item_feat`,
   * (itemFeatures, dim)) is added to every item embedding (models/sasrec/item-features.ts).
   * Checkpoints hold the baked table and never set it.
   */
  itemFeatures?: number;
  /**
   * An ensemble of this many SASRec models of this shape (absent = 1), trained apart (each its
   * own seed and best epoch) and scored together: the score is the mean of the members' scores.
   * Weights are the members' under `m{k}.` prefixes; the exported encoder outputs the members'
   * user vectors side by side and the item shard holds the members' rows side by side, so one
   * dot product gives the mean (models/sasrec/model.ts `memberWeights`).
   */
  members?: number;
}

export type SasrecLoss = { kind: 'full' } | { kind: 'sampled'; negatives: number };

export interface TrainConfig {
  epochs: number;
  batchSize: number;
  learningRate: number;
  /** Stop when validation NDCG@10 (full) has not improved for this many evaluations. */
  patience: number;
  /**
   * Neither stop early nor lower the learning rate before this epoch: validation NDCG@10 on a
   * few hundred users is noisy, and an early spike must not end a run that is still learning.
   */
  minEpochs: number;
  /** Evaluate on validation every this many epochs. */
  evalEvery: number;
  /** Multiply the learning rate by `lrDecay` after this many evaluations without a gain (0 = never). */
  lrPatience: number;
  lrDecay: number;
  loss: SasrecLoss;
  /** Share of users who train on a random prefix of their sequence each epoch (0 = none). */
  cropRate: number;
  /** Share of input items dropped (with their targets) each epoch; the last input is kept. */
  maskRate: number;
  /**
   * Share of users whose runs of equal-timestamp items are shuffled each epoch (0 = none): the
   * order inside one second is file order, not behaviour, so the model should not learn it.
   */
  tieShuffle: number;
  /**
   * Exponential moving average of the weights, per step (0 = off): validation, the best
   * checkpoint and the export use `ema ← d·ema + (1−d)·w` instead of the raw weights — a
   * cheap average over the last ~1/(1−d) steps that smooths out the noise of the last updates.
   */
  emaDecay: number;
  /**
   * Each position's target covers the next `futureWindow` items (1 = the next item only): the
   * items 2..futureWindow steps ahead share `futureWeight` of the target mass, the next item
   * keeps the rest. Full softmax loss only.
   */
  futureWindow: number;
  futureWeight: number;
  /** With item features: share of items whose id embedding is dropped for a step (0 = none). */
  idDropout: number;
  /** Weigh every training sequence equally in the loss (1 / its positions), as users are in the metric. */
  perUserLoss: boolean;
  /** Leave items already in the sequence out of each position's softmax (full loss only). */
  excludeSeen: boolean;
  seed: number;
  /** Stop after this many seconds of training (0 = no limit); the best epoch is kept. */
  maxSeconds: number;
  /**
   * Lazy (row-wise) Adam for the item tables, sampled loss only: a step updates only the rows
   * it read (models/sasrec/row-adam.ts). Changes the numbers; off by default.
   */
  sparseAdam: boolean;
  /**
   * Threads computing gradients (Node only): 1 = this thread alone; N > 1 adds N-1
   * worker_threads, each taking a slice of every batch.
   */
  workers: number;
}

/**
 * maxLen 50: on ML-100K a 200-item context let the model memorise each user's history
 * (validation up, test down); 50 generalised better and trains ~3x faster. Cosine scoring at
 * temperature 0.07 gave the best validation NDCG@10 of every run (docs/BENCHMARKS.md, run M).
 */
export const defaultModelConfig: Omit<SasrecConfig, 'numItems'> = {
  maxLen: 50,
  dim: 64,
  blocks: 2,
  heads: 1,
  ffnDim: 64,
  dropout: 0.2,
  layerNormEps: 1e-6,
  cosineTemperature: 0.07,
};

export const defaultTrainConfig: TrainConfig = {
  epochs: 200,
  batchSize: 64,
  learningRate: 2e-3,
  patience: 8,
  minEpochs: 45,
  evalEvery: 3,
  lrPatience: 3,
  lrDecay: 0.5,
  loss: { kind: 'full' },
  excludeSeen: true,
  cropRate: 0.5,
  maskRate: 0,
  tieShuffle: 1,
  emaDecay: 0,
  futureWindow: 1,
  futureWeight: 0,
  idDropout: 0,
  perUserLoss: false,
  seed: 42,
  maxSeconds: 0,
  sparseAdam: false,
  workers: 1,
};

/** Throws a clear error for a config that cannot build a model. */
export function validateModelConfig(c: SasrecConfig): void {
  const bad = (m: string) => {
    throw new LocalrecError('bad-input', `invalid SASRec config: ${m}`);
  };
  for (const k of ['numItems', 'maxLen', 'dim', 'blocks', 'heads', 'ffnDim'] as const) {
    if (!Number.isInteger(c[k]) || c[k] < 1) bad(`${k} must be a positive integer, got ${c[k]}`);
  }
  if (c.dim % c.heads !== 0) bad(`dim (${c.dim}) must be divisible by heads (${c.heads})`);
  if (!(c.dropout >= 0 && c.dropout < 1)) bad(`dropout must be in [0, 1), got ${c.dropout}`);
  if (!(c.layerNormEps > 0)) bad(`layerNormEps must be > 0, got ${c.layerNormEps}`);
  if (
    c.members !== undefined &&
    !(Number.isInteger(c.members) && c.members >= 1 && c.members <= 16)
  )
    bad(`members must be an integer from 1 to 16, got ${c.members}`);
  if ((c.members ?? 1) > 1 && (c.itemFeatures || c.itemBias))
    bad('an ensemble holds baked members: no itemFeatures or itemBias');
  if (c.itemFeatures !== undefined && !(Number.isInteger(c.itemFeatures) && c.itemFeatures >= 1))
    bad(`itemFeatures must be a positive integer, got ${c.itemFeatures}`);
  if (c.cosineTemperature !== undefined && !(c.cosineTemperature >= 0 && c.cosineTemperature < 10))
    bad(`cosineTemperature must be in [0, 10), got ${c.cosineTemperature}`);
}

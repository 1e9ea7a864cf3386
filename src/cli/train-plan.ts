/**
 * `localrec train`'s defaults sized by the data (issue #14 item 3): what the flags leave open —
 * loss, negatives, max length, dropout, ensemble size, the epochs before early stopping may
 * begin — is chosen from the data's shape (users, items, events, sequence lengths, sparsity) and
 * from the throughput measured on this machine against the time budget (`--max-minutes`). Every
 * choice comes with its reason; the CLI prints them and the checkpoint records them.
 *
 * The rules, and where each comes from:
 * - max length: the tuned 50 (ML-100K validation), shortened to the 90th percentile of the
 *   training sequences when they are shorter — padding positions cost as much as real ones.
 * - dropout: 0.2 for long sequences (the tuned ML-100K value, SASRec's ML-1M setting), 0.5 when
 *   the mean sequence is under 20 events (SASRec's setting for its sparse Amazon/Steam data).
 * - loss: the full softmax where its logits stay small (catalogs up to {@link FULL_SOFTMAX_MAX_ITEMS})
 *   and its measured epoch time lets {@link TARGET_EPOCHS} epochs fit; the sampled softmax over
 *   up to 1,024 shared negatives otherwise.
 * - ensemble: the tuned 3 members only where each can still train {@link TARGET_EPOCHS} epochs in
 *   its share of the budget and the catalog is small enough that the 3 × dim wide shipped item
 *   vectors keep recommend() fast (scoring cost grows with items × width); 1 otherwise.
 * - minimum epochs: the tuned 45, or 70% of the epochs that fit when that is fewer.
 * - sparse Adam: above {@link SPARSE_ADAM_MIN_ITEMS} items (sampled loss only), the row-wise lazy
 *   Adam that updates only the item rows a step read — dense Adam passes over every row of the
 *   table each step, and at 1M items it ran out of wasm memory (bench:train, 2026-12-04).
 * Anything given by a flag is kept as given (and said so).
 */
import {
  defaultModelConfig,
  type SasrecConfig,
  type SasrecLoss,
  type TrainConfig,
} from '../../models/sasrec/config.ts';
import type { SplitData } from '../core/types.ts';

/** The shape of a dataset, as the rules read it. */
export interface DataShape {
  users: number;
  items: number;
  events: number;
  /** Mean training sequence length (events per user, less the held-out ones). */
  meanLength: number;
  /** 90th percentile of the training sequence lengths. */
  p90Length: number;
  /** events / (users × items). */
  density: number;
}

/** Reads a split's shape. */
export function dataShape(split: SplitData, events: number): DataShape {
  const lengths = split.users.map((u) => u.train.length).sort((a, b) => a - b);
  const n = Math.max(1, lengths.length);
  const mean = lengths.reduce((a, b) => a + b, 0) / n;
  return {
    users: split.users.length,
    items: split.numItems,
    events,
    meanLength: mean,
    p90Length: lengths[Math.min(lengths.length - 1, Math.floor(0.9 * lengths.length))] ?? 0,
    density: events / Math.max(1, split.users.length * split.numItems),
  };
}

/** Above this many items the full softmax is never the default (its logits are positions × items). */
export const FULL_SOFTMAX_MAX_ITEMS = 20_000;
/** Above this many items the default is a single model (shipped vectors of width dim, not 3 × dim). */
export const ENSEMBLE_MAX_ITEMS = 20_000;
/** From this many items the sampled loss trains with row-wise (lazy) Adam. */
export const SPARSE_ADAM_MIN_ITEMS = 200_000;
/** Epochs each model should be able to train within its share of the budget. */
export const TARGET_EPOCHS = 30;
/** The tuned (ML-100K) values the rules start from. */
const TUNED = { maxLen: 50, dropout: 0.2, sparseDropout: 0.5, members: 3, minEpochs: 45 };
/** Mean training length under which the data counts as sparse (dropout 0.5). */
const SPARSE_MEAN_LENGTH = 20;
/** Share of the epochs that fit before early stopping (and lowering the rate) may begin. */
const MIN_EPOCHS_SHARE = 0.7;
/** Most shared negatives of the sampled loss. */
const MAX_NEGATIVES = 1024;

/** What the flags gave (undefined = choose). */
export interface GivenTraining {
  model: Partial<SasrecConfig>;
  train: Partial<TrainConfig>;
  members?: number;
}

/** One choice and why. */
export interface PlanChoice {
  name: string;
  value: string | number;
  why: string;
}

/** What {@link planTraining} returns: the configs to train with, and its reasons. */
export interface TrainPlan {
  model: Partial<SasrecConfig>;
  train: Partial<TrainConfig>;
  members: number;
  choices: PlanChoice[];
}

/** Measures training positions/s for a loss at a max length (the CLI times real steps). */
export type SpeedProbe = (loss: SasrecLoss, maxLen: number, sparseAdam: boolean) => Promise<number>;

/** Positions an epoch trains at `maxLen`: each user's last maxLen + 1 items give maxLen targets. */
export function positionsPerEpoch(split: SplitData, maxLen: number): number {
  let n = 0;
  for (const u of split.users) n += Math.max(0, Math.min(maxLen, u.train.length - 1));
  return n;
}

const fmtSec = (s: number) => (s < 120 ? `${s.toFixed(1)} s` : `${(s / 60).toFixed(1)} min`);

/**
 * Chooses what `given` leaves open (see the module header). `budgetSeconds` 0 means no budget:
 * no speed is measured and the tuned values are kept where the data's shape allows.
 */
export async function planTraining(
  split: SplitData,
  shape: DataShape,
  budgetSeconds: number,
  given: GivenTraining,
  speed: SpeedProbe,
): Promise<TrainPlan> {
  const choices: PlanChoice[] = [];
  const choose = (name: string, value: string | number, why: string) =>
    choices.push({ name, value, why });
  const model: Partial<SasrecConfig> = { ...given.model };
  const train: Partial<TrainConfig> = { ...given.train };

  // Max length.
  if (model.maxLen === undefined) {
    const p90 = Math.max(2, shape.p90Length);
    model.maxLen = Math.min(TUNED.maxLen, Math.max(10, Math.ceil(p90 / 10) * 10));
    choose(
      'maxLen',
      model.maxLen,
      model.maxLen < TUNED.maxLen
        ? `90% of training sequences have ≤ ${shape.p90Length} items: longer inputs would be mostly padding`
        : `the tuned ${TUNED.maxLen} (sequences' 90th percentile is ${shape.p90Length})`,
    );
  } else choose('maxLen', model.maxLen, 'given');

  // Dropout.
  if (model.dropout === undefined) {
    const sparse = shape.meanLength < SPARSE_MEAN_LENGTH;
    model.dropout = sparse ? TUNED.sparseDropout : TUNED.dropout;
    choose(
      'dropout',
      model.dropout,
      sparse
        ? `sparse data (mean ${shape.meanLength.toFixed(1)} training events a user < ${SPARSE_MEAN_LENGTH}): SASRec's setting for sparse data`
        : `dense data (mean ${shape.meanLength.toFixed(1)} events a user): the tuned value`,
    );
  } else choose('dropout', model.dropout, 'given');

  const positions = positionsPerEpoch(split, model.maxLen);
  const members0 = given.members;
  const epochSeconds = new Map<string, number>();
  const timeEpoch = async (loss: SasrecLoss) => {
    const key = JSON.stringify(loss);
    if (!epochSeconds.has(key))
      epochSeconds.set(
        key,
        positions /
          (await speed(loss, model.maxLen!, loss.kind === 'sampled' && !!train.sparseAdam)),
      );
    return epochSeconds.get(key)!;
  };
  const negatives = Math.max(1, Math.min(MAX_NEGATIVES, Math.floor(shape.items / 4)));
  const sampled = (): SasrecLoss => ({ kind: 'sampled', negatives });

  // Loss.
  if (train.loss === undefined) {
    if (shape.items > FULL_SOFTMAX_MAX_ITEMS) {
      train.loss = sampled();
      choose(
        'loss',
        `sampled(${negatives})`,
        `${shape.items} items > ${FULL_SOFTMAX_MAX_ITEMS}: the full softmax's logits grow with the catalog`,
      );
    } else if (budgetSeconds > 0) {
      const full = await timeEpoch({ kind: 'full' });
      const share = budgetSeconds / (members0 ?? 1);
      if (full * TARGET_EPOCHS <= share) {
        train.loss = { kind: 'full' };
        choose(
          'loss',
          'full',
          `${TARGET_EPOCHS} full-softmax epochs (${fmtSec(full)} each, measured) fit the budget`,
        );
      } else {
        train.loss = sampled();
        choose(
          'loss',
          `sampled(${negatives})`,
          `a full-softmax epoch takes ${fmtSec(full)} (measured): ${TARGET_EPOCHS} would not fit ${fmtSec(share)}`,
        );
      }
    } else {
      train.loss = { kind: 'full' };
      choose('loss', 'full', `${shape.items} items ≤ ${FULL_SOFTMAX_MAX_ITEMS} and no time budget`);
    }
  } else
    choose(
      'loss',
      train.loss.kind === 'full' ? 'full' : `sampled(${train.loss.negatives})`,
      'given',
    );

  // Row-wise Adam for huge catalogs.
  if (train.sparseAdam === undefined && train.loss.kind === 'sampled') {
    train.sparseAdam = shape.items >= SPARSE_ADAM_MIN_ITEMS;
    if (train.sparseAdam)
      choose(
        'sparseAdam',
        'on',
        `${shape.items} items ≥ ${SPARSE_ADAM_MIN_ITEMS}: dense Adam would pass over every row of the item table each step`,
      );
  }

  // Ensemble size.
  let members: number;
  const epoch = budgetSeconds > 0 ? await timeEpoch(train.loss) : 0;
  if (members0 !== undefined) {
    members = members0;
    choose('members', members, 'given');
  } else if (shape.items > ENSEMBLE_MAX_ITEMS) {
    members = 1;
    choose(
      'members',
      1,
      `${shape.items} items > ${ENSEMBLE_MAX_ITEMS}: one model keeps the shipped item vectors ${model.dim ?? defaultModelConfig.dim} wide (not ${TUNED.members} × that), so recommend() stays fast`,
    );
  } else if (budgetSeconds > 0 && epoch * TARGET_EPOCHS * TUNED.members > budgetSeconds) {
    members = 1;
    choose(
      'members',
      1,
      `an epoch takes ${fmtSec(epoch)} (measured): ${TUNED.members} models × ${TARGET_EPOCHS} epochs would not fit ${fmtSec(budgetSeconds)}`,
    );
  } else {
    members = TUNED.members;
    choose(
      'members',
      members,
      budgetSeconds > 0
        ? `the tuned ensemble: ${TUNED.members} × ${TARGET_EPOCHS} epochs of ${fmtSec(epoch)} (measured) fit the budget`
        : 'the tuned ensemble (no time budget)',
    );
  }

  // The epochs before early stopping may begin.
  if (train.minEpochs === undefined) {
    const fit = budgetSeconds > 0 ? Math.floor(budgetSeconds / members / epoch) : Infinity;
    train.minEpochs = Math.min(TUNED.minEpochs, Math.floor(MIN_EPOCHS_SHARE * fit));
    choose(
      'minEpochs',
      train.minEpochs,
      train.minEpochs < TUNED.minEpochs
        ? `about ${fit} epochs fit each model's share of the budget: early stopping may begin after ${Math.round(MIN_EPOCHS_SHARE * 100)}% of them`
        : `the tuned ${TUNED.minEpochs}`,
    );
  } else choose('minEpochs', train.minEpochs, 'given');

  return { model, train, members, choices };
}

/** The plan as lines for the terminal. */
export function planLines(p: TrainPlan): string[] {
  return p.choices.map((c) => `  ${c.name} ${c.value}: ${c.why}`);
}

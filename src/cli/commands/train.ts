import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { LocalrecError } from '../../core/errors.ts';
import type { SasrecConfig, SasrecLoss, TrainConfig } from '../../../models/sasrec/config.ts';
import { choice, num, requiredFlag, type CliOption, type Command } from '../command.ts';
import { DATA_FLAG_HINT, DATA_OPTION, loadDataset } from '../data.ts';
import { BACKEND_CHOICES, type BackendChoice } from '../tf-node.ts';
import { runTrain } from '../train.ts';
import { trainingLoopOptions } from '../training-options.ts';

/** Flags shared by every command that trains (train, demo, bench-accuracy). */
/** `localrec train`'s time budget when --max-minutes is not given. */
export const DEFAULT_MAX_MINUTES = 30;

export const trainOptions = {
  epochs: trainingLoopOptions.epochs,
  'batch-size': { type: 'string', description: 'sequences per step' },
  lr: trainingLoopOptions.lr,
  'max-len': { type: 'string', description: 'longest input sequence' },
  dim: { type: 'string', description: 'embedding / hidden size' },
  blocks: { type: 'string', description: 'transformer blocks' },
  heads: { type: 'string', description: 'attention heads' },
  'ffn-dim': { type: 'string', description: 'feed-forward inner size' },
  dropout: { type: 'string', description: 'dropout rate' },
  loss: { type: 'string', description: "'full' softmax cross-entropy or 'sampled'" },
  negatives: { type: 'string', description: 'negatives per batch for --loss sampled' },
  patience: trainingLoopOptions.patience,
  'min-epochs': {
    type: 'string',
    description: 'neither stop early nor lower the learning rate before this epoch',
  },
  'eval-every': trainingLoopOptions['eval-every'],
  'max-minutes': {
    type: 'string',
    description: `the whole run in minutes (default ${DEFAULT_MAX_MINUTES}; 0 = no limit), validation included: no step starts that would not leave time to validate after it (best epoch kept); what the flags leave open is chosen to fit it`,
  },
  'exclude-seen': {
    type: 'boolean',
    description: "leave each sequence's earlier items out of its softmax",
  },
  'no-exclude-seen': { type: 'boolean', description: 'keep seen items in the softmax' },
  seed: { type: 'string', description: 'random seed' },
  crop: {
    type: 'string',
    description: 'share of users trained on a random prefix each epoch (0-1)',
  },
  'lr-patience': trainingLoopOptions['lr-patience'],
  'per-user-loss': {
    type: 'boolean',
    description: 'weigh each training sequence equally in the loss',
  },
  'mask-items': { type: 'string', description: 'share of input items dropped each epoch (0-1)' },
  cosine: {
    type: 'string',
    description: 'score by cosine / this temperature instead of dot products (0 = off)',
  },
  'item-features': {
    type: 'boolean',
    description:
      "add a learned mix of the catalog's genres, title words and popularity to item embeddings (default)",
  },
  'no-item-features': { type: 'boolean', description: 'item embeddings from ids alone' },
  'id-dropout': {
    type: 'string',
    description: 'with item features: share of items trained on features alone each step (0-1)',
  },
  ensemble: {
    type: 'string',
    description: 'train this many models (seeds seed, seed+1, …) and ship them as one ensemble',
  },
  'item-bias': {
    type: 'boolean',
    description: 'learn a per-item score bias (popularity) beside the embeddings',
  },
  ema: {
    type: 'string',
    description: 'decay of the per-step weight average used for validation and export (0 = off)',
  },
  'tie-shuffle': {
    type: 'string',
    description: 'share of users whose equal-timestamp items are reordered each epoch (0-1)',
  },
  'future-window': {
    type: 'string',
    description: 'each position also targets the items up to this many steps ahead (1 = next only)',
  },
  'future-weight': {
    type: 'string',
    description: 'share of the target mass on the items after the next one (0-1)',
  },
  workers: {
    type: 'string',
    description: 'threads computing gradients (default: all cores, at most 4; 1 on a GPU backend)',
  },
  backend: {
    type: 'string',
    description:
      "tfjs backend: 'wasm' (default), 'webgpu' (needs: npm install webgpu), 'tensorflow' (tfjs-node-gpu or tfjs-node, when installed) or 'auto' (a GPU path that passes a self-check, else wasm)",
  },
  'sparse-adam': {
    type: 'boolean',
    description: 'with --loss sampled: lazy Adam, updating only the item rows a step read',
  },
} satisfies Record<string, CliOption>;

/** Reads the shared training flags into model and training configs (undefined = default). */
export function parseTrainFlags(v: Record<string, unknown>): {
  model: Partial<SasrecConfig>;
  train: Partial<TrainConfig>;
  itemFeatures?: boolean;
  members?: number;
  backend?: BackendChoice;
} {
  const model: Partial<SasrecConfig> = {};
  const train: Partial<TrainConfig> = {};
  const set = <T extends object, K extends keyof T>(o: T, k: K, x: T[K] | undefined) => {
    if (x !== undefined) o[k] = x;
  };
  set(model, 'maxLen', num(v, 'max-len', { int: true, min: 1 }));
  set(model, 'dim', num(v, 'dim', { int: true, min: 1 }));
  set(model, 'blocks', num(v, 'blocks', { int: true, min: 1 }));
  set(model, 'heads', num(v, 'heads', { int: true, min: 1 }));
  set(model, 'ffnDim', num(v, 'ffn-dim', { int: true, min: 1 }));
  set(model, 'dropout', num(v, 'dropout', { min: 0, max: 0.95 }));
  set(model, 'cosineTemperature', num(v, 'cosine', { min: 0, max: 9 }));
  if (v['item-bias']) model.itemBias = true;
  set(train, 'epochs', num(v, 'epochs', { int: true, min: 1 }));
  set(train, 'batchSize', num(v, 'batch-size', { int: true, min: 1 }));
  set(train, 'learningRate', num(v, 'lr', { min: 0 }));
  set(train, 'patience', num(v, 'patience', { int: true, min: 1 }));
  set(train, 'minEpochs', num(v, 'min-epochs', { int: true, min: 0 }));
  set(train, 'evalEvery', num(v, 'eval-every', { int: true, min: 1 }));
  set(train, 'seed', num(v, 'seed', { int: true, min: 0 }));
  set(train, 'cropRate', num(v, 'crop', { min: 0, max: 1 }));
  set(train, 'lrPatience', num(v, 'lr-patience', { int: true, min: 0 }));
  set(train, 'maskRate', num(v, 'mask-items', { min: 0, max: 0.9 }));
  set(train, 'tieShuffle', num(v, 'tie-shuffle', { min: 0, max: 1 }));
  set(train, 'emaDecay', num(v, 'ema', { min: 0, max: 0.9999 }));
  set(train, 'idDropout', num(v, 'id-dropout', { min: 0, max: 0.9 }));
  set(train, 'futureWindow', num(v, 'future-window', { int: true, min: 1, max: 100 }));
  set(train, 'futureWeight', num(v, 'future-weight', { min: 0, max: 0.99 }));
  const backend =
    v['backend'] === undefined ? undefined : choice(v, 'backend', BACKEND_CHOICES, 'wasm');
  const workers = num(v, 'workers', { int: true, min: 1, max: 64 });
  // The gradient worker threads compute on tfjs-backend-wasm from weights read back each step:
  // with a GPU backend the step runs whole on the main thread's device (`auto` is settled in
  // runTrain, once it is known what initialised).
  if ((backend === 'webgpu' || backend === 'tensorflow') && workers !== undefined && workers > 1)
    throw new LocalrecError(
      'bad-input',
      `--workers ${workers} needs --backend wasm: on --backend ${backend} a step runs on one thread (leave --workers out, or give 1)`,
    );
  train.workers =
    workers ??
    (backend === 'webgpu' || backend === 'tensorflow' ? 1 : Math.min(4, availableParallelism()));
  if (v['exclude-seen'] && v['no-exclude-seen']) {
    throw new LocalrecError(
      'bad-input',
      '--exclude-seen and --no-exclude-seen contradict each other',
    );
  }
  if (v['exclude-seen']) train.excludeSeen = true;
  if (v['no-exclude-seen']) train.excludeSeen = false;
  if (v['per-user-loss']) train.perUserLoss = true;
  if (v['sparse-adam']) train.sparseAdam = true;
  const minutes = num(v, 'max-minutes', { min: 0 });
  if (minutes !== undefined) train.maxSeconds = minutes * 60;
  const loss = v['loss'];
  if (loss !== undefined) {
    if (loss === 'full') train.loss = { kind: 'full' } satisfies SasrecLoss;
    else if (loss === 'sampled')
      train.loss = {
        kind: 'sampled',
        negatives: num(v, 'negatives', { int: true, min: 1 }) ?? 256,
      };
    else
      throw new LocalrecError(
        'bad-input',
        `--loss must be 'full' or 'sampled', got '${String(loss)}'`,
      );
  }
  if (v['item-features'] && v['no-item-features'])
    throw new LocalrecError(
      'bad-input',
      '--item-features and --no-item-features contradict each other',
    );
  const itemFeatures = v['item-features'] ? true : v['no-item-features'] ? false : undefined;
  const members = num(v, 'ensemble', { int: true, min: 1, max: 16 });
  return {
    model,
    train,
    ...(itemFeatures !== undefined && { itemFeatures }),
    ...(members !== undefined && { members }),
    ...(backend !== undefined && { backend }),
  };
}

export const trainCommand: Command = {
  summary: 'train SASRec on an event file (leave-one-out split, best epoch by validation NDCG@10)',
  usage: 'localrec train --data <path> [--out <dir>] [options]',
  options: {
    data: DATA_OPTION,
    out: { type: 'string', description: 'output folder (default .localrec/models/<dataset>)' },
    ...trainOptions,
  },
  async run(v) {
    // --max-minutes is the whole command's budget: reading the data counts.
    const startedAt = performance.now();
    const data = requiredFlag(v, 'data', DATA_FLAG_HINT);
    const ds = loadDataset(data);
    const out = typeof v['out'] === 'string' ? v['out'] : join('.localrec', 'models', ds.name);
    const flags = parseTrainFlags(v);
    flags.train.maxSeconds ??= DEFAULT_MAX_MINUTES * 60;
    const { summary } = await runTrain(ds, {
      ...flags,
      out,
      dataSource: data,
      startedAt,
      plan: true,
    });
    return summary;
  },
};

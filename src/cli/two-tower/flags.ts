import { CONTEXT_FEATURES, type ContextFeature } from '../../core/context.ts';
import { LocalrecError } from '../../core/errors.ts';
import type {
  TwoTowerModelOptions,
  TwoTowerTrainConfig,
} from '../../../models/two-tower/config.ts';
import type { TwoTowerQuantization } from '../../../models/two-tower/export-onnx.ts';
import { choice, num, type CliOption } from '../command.ts';
import { trainingLoopOptions } from '../training-options.ts';

/** The flags of `localrec two-tower` after `--data` and `--out`, in `--help` order. */
export const twoTowerOptions = {
  epochs: trainingLoopOptions.epochs,
  'batch-size': { type: 'string', description: 'users per step (every position is an example)' },
  lr: trainingLoopOptions.lr,
  'max-len': { type: 'string', description: 'history length the user tower pools' },
  dim: { type: 'string', description: 'embedding and output size' },
  hidden: { type: 'string', description: 'hidden width of each tower' },
  temperature: { type: 'string', description: 'softmax temperature over cosine scores' },
  'recency-decay': {
    type: 'string',
    description: 'weight ratio of consecutive history items (0-1]',
  },
  'id-dropout': { type: 'string', description: 'share of items shown as new each step (0-0.95)' },
  crop: { type: 'string', description: 'share of users trained on a random prefix each epoch' },
  'title-buckets': { type: 'string', description: 'hash buckets of title tokens' },
  'min-token-items': {
    type: 'string',
    description: 'keep a title word only if this many titles have it (default 2)',
  },
  patience: trainingLoopOptions.patience,
  'eval-every': trainingLoopOptions['eval-every'],
  'lr-patience': trainingLoopOptions['lr-patience'],
  'max-minutes': { type: 'string', description: 'stop each training after this long' },
  'no-exclude-seen': { type: 'boolean', description: 'keep seen items in the in-batch softmax' },
  'cold-share': {
    type: 'string',
    description: 'share of items held out for the cold-item test (0 = skip)',
  },
  context: {
    type: 'string',
    description:
      'request-context features of the user tower, comma-separated (default hour,weekday,gap,type; those the data lacks are dropped)',
  },
  'no-context': { type: 'boolean', description: 'no context features: the history alone' },
  'context-utc-offset': {
    type: 'string',
    description:
      "hours east of UTC that turn the data's timestamps into the visitors' local time (default 0; write --context-utc-offset=-5)",
  },
  seed: { type: 'string', description: 'random seed (training and cold-item draw)' },
  quantization: { type: 'string', default: 'int8', description: 'int8 or fp32 export' },
  'shard-items': {
    type: 'string',
    description: 'items per embedding shard (default: ~4 MB shards)',
  },
} satisfies Record<string, CliOption>;

/** What the flags ask for, read by {@link parseTwoTowerFlags}. */
export type TwoTowerFlags = ReturnType<typeof parseTwoTowerFlags>;

/** Reads the flags into model and training options (undefined = default). */
export function parseTwoTowerFlags(v: Record<string, unknown>) {
  const model: Partial<TwoTowerModelOptions> = {};
  const train: Partial<TwoTowerTrainConfig> = {};
  const set = <T extends object, K extends keyof T>(o: T, k: K, x: T[K] | undefined) => {
    if (x !== undefined) o[k] = x;
  };
  set(model, 'maxLen', num(v, 'max-len', { int: true, min: 1 }));
  set(model, 'dim', num(v, 'dim', { int: true, min: 1 }));
  set(model, 'hidden', num(v, 'hidden', { int: true, min: 1 }));
  set(model, 'temperature', num(v, 'temperature', { min: 1e-4, max: 10 }));
  set(model, 'recencyDecay', num(v, 'recency-decay', { min: 0.01, max: 1 }));
  set(train, 'epochs', num(v, 'epochs', { int: true, min: 1 }));
  set(train, 'batchSize', num(v, 'batch-size', { int: true, min: 1 }));
  set(train, 'learningRate', num(v, 'lr', { min: 1e-7 }));
  set(train, 'idDropout', num(v, 'id-dropout', { min: 0, max: 0.95 }));
  set(train, 'cropRate', num(v, 'crop', { min: 0, max: 1 }));
  set(train, 'patience', num(v, 'patience', { int: true, min: 1 }));
  set(train, 'evalEvery', num(v, 'eval-every', { int: true, min: 1 }));
  set(train, 'lrPatience', num(v, 'lr-patience', { int: true, min: 0 }));
  set(train, 'seed', num(v, 'seed', { int: true, min: 0 }));
  const minutes = num(v, 'max-minutes', { min: 0 });
  if (minutes !== undefined) train.maxSeconds = minutes * 60;
  if (v['no-exclude-seen']) train.excludeSeen = false;
  let contextFeatures: ContextFeature[] | null = null; // null = none
  if (!v['no-context']) {
    const list = String(v['context'] ?? CONTEXT_FEATURES.join(','));
    contextFeatures = list.split(',').map((x) => x.trim()) as ContextFeature[];
    const unknown = contextFeatures.filter((x) => !CONTEXT_FEATURES.includes(x));
    if (unknown.length > 0 || new Set(contextFeatures).size !== contextFeatures.length)
      throw new LocalrecError(
        'bad-input',
        `--context takes distinct features from ${CONTEXT_FEATURES.join(', ')} separated by commas, got '${list}'`,
      );
  }
  const offsetHours = num(v, 'context-utc-offset', { min: -14, max: 14 }) ?? 0;
  const quantization = choice<TwoTowerQuantization>(v, 'quantization', ['int8', 'fp32'], 'int8');
  return {
    model,
    train,
    features: {
      titleBuckets: num(v, 'title-buckets', { int: true, min: 1, max: 1 << 20 }),
      minTokenItems: num(v, 'min-token-items', { int: true, min: 1 }),
    },
    context:
      contextFeatures === null
        ? null
        : { features: contextFeatures, utcOffsetMinutes: Math.round(offsetHours * 60) },
    coldShare: num(v, 'cold-share', { min: 0, max: 0.5 }) ?? 0.1,
    quantization,
    shardItems: num(v, 'shard-items', { int: true, min: 1 }),
  };
}

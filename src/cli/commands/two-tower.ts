import { mkdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { CONTEXT_FEATURES, contextWidth, type ContextFeature } from '../../core/context.ts';
import { LocalrecError } from '../../core/errors.ts';
import { fullRanks, retrievalMetrics, type RetrievalMetrics } from '../../core/metrics.ts';
import type { Dataset, SplitData } from '../../core/types.ts';
import { weightsToArrays } from '../../../models/sasrec/model.ts';
import { usersByTrainLength } from '../../../models/training/examples.ts';
import { encodeTwoTowerCheckpoint } from '../../../models/two-tower/checkpoint.ts';
import {
  coldItemRecall,
  fixedScorer,
  pickColdItems,
  removeItems,
  type ColdStageResult,
} from '../../../models/two-tower/cold.ts';
import {
  configFor,
  defaultTwoTowerConfig,
  defaultTwoTowerTrainConfig,
  type TwoTowerConfig,
  type TwoTowerModelOptions,
  type TwoTowerTrainConfig,
} from '../../../models/two-tower/config.ts';
import {
  exportTwoTowerUserTower,
  type TwoTowerQuantization,
} from '../../../models/two-tower/export-onnx.ts';
import { contextSpecFor } from '../../../models/two-tower/context.ts';
import { buildItemFeatures, type ItemFeatures } from '../../../models/two-tower/features.ts';
import {
  countParameters,
  itemTable,
  type TwoTowerWeights,
} from '../../../models/two-tower/model.ts';
import {
  evaluateTwoTower,
  makeTwoTowerScorer,
  trainTwoTower,
  type TwoTowerTrainResult,
} from '../../../models/two-tower/train.ts';
import { loadDataset, splitDataset } from '../data.ts';
import { num, type Command } from '../command.ts';
import { bar, duration, ProgressLine } from '../progress.ts';
import { putBlob, writeShardSet } from '../shards.ts';
import { initTf } from '../tf-node.ts';
import { CATALOG_FILE, catalogFor } from '../train.ts';

export const TWO_TOWER_CHECKPOINT_FILE = 'two-tower.ckpt';

/** '+1', '-5:30', '' for 0. */
function offsetText(minutes: number): string {
  if (minutes === 0) return '';
  const a = Math.abs(minutes);
  return `${minutes < 0 ? '-' : '+'}${Math.floor(a / 60)}${a % 60 ? `:${String(a % 60).padStart(2, '0')}` : ''}`;
}

const r5 = (x: number) => Math.round(x * 1e5) / 1e5;
const round = (m: RetrievalMetrics) => ({
  recall100: r5(m.recall100),
  ndcg10: r5(m.ndcg10),
  hr10: r5(m.hr10),
  users: m.users,
});
const roundCold = (m: ColdStageResult) => ({
  users: m.users,
  model: r5(m.model),
  random: r5(m.random),
  popularity: r5(m.popularity),
  popularityOracle: r5(m.popularityOracle),
});

function itemVectors(c: TwoTowerConfig, w: TwoTowerWeights, f: ItemFeatures): Float32Array {
  const t = itemTable(c, w, f);
  const data = t.dataSync() as Float32Array;
  t.dispose();
  return data;
}

/** Reads the flags into model and training options (undefined = default). */
function parseFlags(v: Record<string, unknown>) {
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
  const q = String(v['quantization'] ?? 'int8');
  if (q !== 'int8' && q !== 'fp32')
    throw new LocalrecError('bad-input', `--quantization must be int8 or fp32, got '${q}'`);
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
    quantization: q as TwoTowerQuantization,
    shardItems: num(v, 'shard-items', { int: true, min: 1 }),
  };
}

/** Trains one model with progress lines on stderr (prefixed with `label`). */
async function trainWithProgress(
  label: string,
  c: TwoTowerConfig,
  split: SplitData,
  f: ItemFeatures,
  tc: TwoTowerTrainConfig,
  progress: ProgressLine,
  opts: { validUsers?: number[]; onCheckpoint?: (w: TwoTowerWeights, epoch: number) => void },
): Promise<TwoTowerTrainResult> {
  return trainTwoTower(
    c,
    split,
    f,
    tc,
    {
      onProgress: (p) =>
        progress.update(
          `${label}epoch ${p.epoch}/${p.epochs} ${bar(p.step / p.stepsPerEpoch)} loss ${p.loss.toFixed(4)} ` +
            `${Math.round(p.examplesPerSec)} examples/s  epoch ETA ${duration(p.epochEtaSec)}  elapsed ${duration(p.elapsedSec)}`,
        ),
      onEpoch: (r) =>
        progress.log(
          `${label}epoch ${r.epoch}: loss ${r.loss.toFixed(4)}, ${r.seconds.toFixed(1)} s, ${Math.round(r.examplesPerSec)} examples/s` +
            (r.valid
              ? `  valid Recall@100 ${r.valid.recall100.toFixed(4)} NDCG@10 ${r.valid.ndcg10.toFixed(4)}`
              : '') +
            (r.best ? '  (best)' : '') +
            (r.learningRate !== undefined
              ? `  (learning rate now ${r.learningRate.toExponential(1)})`
              : ''),
        ),
      onCheckpoint: (w, r) => opts.onCheckpoint?.(w, r.epoch),
    },
    { validUsers: opts.validUsers },
  );
}

/**
 * `localrec two-tower`: split, train (best epoch by validation Recall@100), evaluate valid and
 * test with full ranking (and the popularity baseline), run the cold-item test (a second model
 * trained without 10% of the items; models/two-tower/cold.ts), export. Writes into `out`:
 * two-tower.ckpt, catalog.json, export/blobs/* (ONNX user tower, item-vector shards, metadata
 * shards, all named by sha256) and export/manifest.json.
 */
export async function runTwoTower(
  ds: Dataset,
  v: Record<string, unknown>,
  out: string,
  dataSource: string,
) {
  const flags = parseFlags(v);
  const t0 = performance.now();
  await initTf();
  const split = splitDataset(ds, { keepTimes: true });
  const features = buildItemFeatures(split, ds.items, flags.features);
  const context = flags.context ? contextSpecFor(split, flags.context) : null;
  const c = configFor(features, { ...defaultTwoTowerConfig, ...flags.model }, context?.spec);
  const tc: TwoTowerTrainConfig = { ...defaultTwoTowerTrainConfig, ...flags.train };
  const progress = new ProgressLine();
  progress.log(
    `training two-tower on ${ds.name}: ${split.users.length} users, ${split.numItems} items, ${ds.events.length} events, ` +
      `${features.categoryVocab.length} categories, ${countParameters(c)} parameters` +
      (ds.items.length === 0
        ? ' (no item metadata: new items get only the popularity bucket)'
        : ''),
  );
  for (const note of context?.notes ?? []) progress.log(note);
  progress.log(
    c.context
      ? `context features: ${c.context.features.join(', ')} (${contextWidth(c.context)} values; training times read at UTC${offsetText(c.context.trainingUtcOffsetMinutes)})`
      : 'no context features',
  );
  mkdirSync(out, { recursive: true });
  const ckptPath = join(out, TWO_TOWER_CHECKPOINT_FILE);
  const writeCheckpoint = (w: TwoTowerWeights, bestEpoch: number) =>
    writeFileSync(
      ckptPath,
      encodeTwoTowerCheckpoint({
        config: c,
        weights: weightsToArrays(w),
        table: itemVectors(c, w, features),
        features,
        meta: {
          itemIds: split.itemIds,
          dataset: ds.name,
          dataSource,
          bestEpoch,
          train: tc,
          features: flags.features,
        },
      }),
    );
  const main = await trainWithProgress('', c, split, features, tc, progress, {
    onCheckpoint: writeCheckpoint,
  });
  if (!main.bestValid) writeCheckpoint(main.weights, main.bestEpoch);

  progress.log('evaluating on validation and test (full ranking)…');
  const users = usersByTrainLength(split);
  const valid = (await evaluateTwoTower(c, main.weights, features, split, 'valid', users)).metrics;
  const test = (await evaluateTwoTower(c, main.weights, features, split, 'test', users)).metrics;
  const pop = fixedScorer(features.counts);
  const popularity = {
    valid: round(retrievalMetrics((await fullRanks(split, 'valid', pop)).ranks)),
    test: round(retrievalMetrics((await fullRanks(split, 'test', pop)).ranks)),
  };

  let cold = null;
  if (flags.coldShare > 0) {
    const flagsCold = pickColdItems(split.numItems, flags.coldShare, tc.seed);
    const coldSplit = removeItems(split, flagsCold);
    const coldFeatures = buildItemFeatures(coldSplit, ds.items, flags.features);
    // The cold model picks its epoch on validation users whose target is not cold.
    const validUsers = usersByTrainLength(coldSplit).filter((u) => {
      const t = coldSplit.users[u]!.valid;
      return t !== 0 && flagsCold[t] !== 1;
    });
    const nCold = flagsCold.reduce((a, x) => a + x, 0);
    progress.log(
      `cold-item test: training a second model without ${nCold} items (${flags.coldShare * 100}%)…`,
    );
    const cm = await trainWithProgress('cold model: ', c, coldSplit, coldFeatures, tc, progress, {
      validUsers,
    });
    const s = makeTwoTowerScorer(c, cm.weights, coldFeatures, { split: coldSplit });
    try {
      cold = {
        share: flags.coldShare,
        items: nCold,
        bestEpoch: cm.bestEpoch,
        trainSeconds: r5(cm.trainSeconds),
        valid: roundCold(await coldItemRecall(split, coldSplit, flagsCold, 'valid', s.score)),
        test: roundCold(await coldItemRecall(split, coldSplit, flagsCold, 'test', s.score)),
      };
    } finally {
      s.dispose();
      tf.dispose(Object.values(cm.weights));
    }
  }

  progress.log('exporting the user tower (ONNX) and the item vectors (shards)…');
  const table = itemVectors(c, main.weights, features);
  const exportDir = join(out, 'export');
  const onnx = putBlob(
    exportDir,
    exportTwoTowerUserTower(c, weightsToArrays(main.weights), table, {
      quantization: flags.quantization,
    }),
  );
  const set = writeShardSet({
    out: exportDir,
    table,
    dim: c.dim,
    itemIds: split.itemIds,
    items: new Map(ds.items.map((i) => [i.id, i])),
    dtype: flags.quantization === 'int8' ? 'int8' : 'f32',
    shardItems: flags.shardItems,
  });
  const createdAt = new Date().toISOString();
  const manifest = {
    formatVersion: 1,
    modelVersion: `${createdAt.replace(/\.\d+Z$/, 'Z')}-${onnx.sha256.slice(0, 8)}`,
    createdAt,
    models: {
      twoTower: {
        userTower: { ...onnx, quantization: flags.quantization, format: 'onnx' },
        config: { ...c },
      },
    },
    shards: set.embedding,
    metadata: set.metadata,
    llm: null,
    federated: null,
    signature: null,
  };
  const tmp = join(exportDir, `manifest.json.tmp-${process.pid}`);
  writeFileSync(tmp, JSON.stringify(manifest, null, 2));
  renameSync(tmp, join(exportDir, 'manifest.json'));
  const catalog = JSON.stringify(catalogFor(ds, split));
  writeFileSync(join(out, CATALOG_FILE), catalog);
  tf.dispose(Object.values(main.weights));

  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1] ?? 0;
  return {
    dataset: ds.name,
    out,
    users: split.users.length,
    items: split.numItems,
    events: ds.events.length,
    parameters: countParameters(c),
    context: c.context ?? null,
    epochs: main.epochsRun,
    bestEpoch: main.bestEpoch,
    stoppedBy: main.stoppedBy,
    trainSeconds: r5(main.trainSeconds),
    examplesPerSec: Math.round(median(main.history.map((h) => h.examplesPerSec))),
    valid: round(valid),
    test: round(test),
    popularity,
    cold,
    seconds: Math.round((performance.now() - t0) / 100) / 10,
    bytes: {
      userTowerOnnx: onnx.bytes,
      itemShards: set.embedding.reduce((a, s) => a + s.bytes, 0),
      metadata: set.metadata.reduce((a, s) => a + s.bytes, 0),
      checkpoint: statSync(ckptPath).size,
      catalog: Buffer.byteLength(catalog),
    },
    config: c,
  };
}

export const twoTowerCommand: Command = {
  summary:
    'train, evaluate (valid/test Recall@100, NDCG@10, cold items) and export the two-tower retrieval model',
  usage: 'localrec two-tower --data <path> [--out <dir>] [options]',
  options: {
    data: { type: 'string', description: 'dataset path, or demo' },
    out: { type: 'string', description: 'output folder (default .localrec/two-tower/<dataset>)' },
    epochs: { type: 'string', description: 'most epochs to train' },
    'batch-size': { type: 'string', description: 'users per step (every position is an example)' },
    lr: { type: 'string', description: 'Adam learning rate' },
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
    patience: {
      type: 'string',
      description: 'evaluations without validation gain before stopping',
    },
    'eval-every': { type: 'string', description: 'epochs between validation runs' },
    'lr-patience': {
      type: 'string',
      description: 'halve the learning rate after this many evaluations without a gain (0 = never)',
    },
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
  },
  async run(v) {
    const data = v['data'];
    if (typeof data !== 'string')
      throw new LocalrecError('bad-input', '--data is required (a dataset path, or demo)');
    const ds = loadDataset(data);
    if (ds.events.length === 0)
      throw new LocalrecError('bad-input', `${data}: no events to train on`);
    const out = typeof v['out'] === 'string' ? v['out'] : join('.localrec', 'two-tower', ds.name);
    return runTwoTower(ds, v, out, data);
  },
};

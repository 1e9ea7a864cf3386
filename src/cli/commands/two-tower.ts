import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { contextWidth } from '../../core/context.ts';
import { LocalrecError } from '../../core/errors.ts';
import { fullRanks, retrievalMetrics } from '../../core/metrics.ts';
import type { Dataset } from '../../core/types.ts';
import { weightsToArrays } from '../../../models/tf-ops.ts';
import { usersByTrainLength } from '../../../models/training/examples.ts';
import { encodeTwoTowerCheckpoint } from '../../../models/two-tower/checkpoint.ts';
import { fixedScorer } from '../../../models/two-tower/cold.ts';
import {
  configFor,
  defaultTwoTowerConfig,
  defaultTwoTowerTrainConfig,
  type TwoTowerTrainConfig,
} from '../../../models/two-tower/config.ts';
import { contextSpecFor } from '../../../models/two-tower/context.ts';
import { buildItemFeatures } from '../../../models/training/item-features.ts';
import { countParameters, type TwoTowerWeights } from '../../../models/two-tower/model.ts';
import { evaluateTwoTower } from '../../../models/two-tower/train.ts';
import { requiredFlag, type Command } from '../command.ts';
import { DATA_FLAG_HINT, DATA_OPTION, loadDataset, splitDataset } from '../data.ts';
import { ProgressLine } from '../progress.ts';
import { initTf } from '../tf-node.ts';
import { CATALOG_FILE, catalogFor } from '../train.ts';
import { coldItemTest } from '../two-tower/cold.ts';
import { exportTwoTower, itemVectors } from '../two-tower/export.ts';
import { parseTwoTowerFlags, twoTowerOptions } from '../two-tower/flags.ts';
import { r5, roundRetrieval } from '../two-tower/rounding.ts';
import { trainWithProgress } from '../two-tower/train.ts';

export const TWO_TOWER_CHECKPOINT_FILE = 'two-tower.ckpt';

/** '+1', '-5:30', '' for 0. */
function offsetText(minutes: number): string {
  if (minutes === 0) return '';
  const a = Math.abs(minutes);
  return `${minutes < 0 ? '-' : '+'}${Math.floor(a / 60)}${a % 60 ? `:${String(a % 60).padStart(2, '0')}` : ''}`;
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
  const flags = parseTwoTowerFlags(v);
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
    valid: roundRetrieval(retrievalMetrics((await fullRanks(split, 'valid', pop)).ranks)),
    test: roundRetrieval(retrievalMetrics((await fullRanks(split, 'test', pop)).ranks)),
  };

  const cold = flags.coldShare > 0 ? await coldItemTest(ds, split, c, tc, flags, progress) : null;

  progress.log('exporting the user tower (ONNX) and the item vectors (shards)…');
  const { onnx, set } = exportTwoTower({
    dir: join(out, 'export'),
    config: c,
    weights: main.weights,
    table: itemVectors(c, main.weights, features),
    split,
    ds,
    quantization: flags.quantization,
    shardItems: flags.shardItems,
  });
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
    valid: roundRetrieval(valid),
    test: roundRetrieval(test),
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
    data: DATA_OPTION,
    out: { type: 'string', description: 'output folder (default .localrec/two-tower/<dataset>)' },
    ...twoTowerOptions,
  },
  async run(v) {
    const data = requiredFlag(v, 'data', DATA_FLAG_HINT);
    const ds = loadDataset(data);
    if (ds.events.length === 0)
      throw new LocalrecError('bad-input', `${data}: no events to train on`);
    const out = typeof v['out'] === 'string' ? v['out'] : join('.localrec', 'two-tower', ds.name);
    return runTwoTower(ds, v, out, data);
  },
};

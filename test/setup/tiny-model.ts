/**
 * The small SASRec the SDK and end-to-end fixtures serve: trained on a synthetic catalog with
 * genres (300 items, 700 users) for a fixed number of epochs — the same model on fast and slow
 * machines — and exported int8 in shards of 100 items, so loading is progressive.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runTwoTower } from '../../src/cli/commands/two-tower.ts';
import { exportModelDir } from '../../src/cli/export.ts';
import { runTrain, type TrainSummary } from '../../src/cli/train.ts';
import { generateSyntheticCatalog } from '../../src/core/synthetic.ts';
import type { ItemInfo } from '../../src/core/types.ts';

export interface TinyModel {
  modelDir: string;
  exportDir: string;
  /** The export's manifest.json (unsigned), as parsed. */
  manifest: ReturnType<typeof JSON.parse>;
  /** The catalog in index order (index 0 is padding). */
  items: ItemInfo[];
  summary: TrainSummary;
}

/** Trains and exports the fixture model under `root` (`model/` and `exportDir`). */
export async function trainTinyModel(
  root: string,
  opts: {
    catalogSeed: number;
    trainSeed: number;
    epochs: number;
    exportDir: string;
    /**
     * Also train a small two-tower retriever (`localrec two-tower`, with its request-context
     * features) on the same catalog and ship it beside SASRec as `models['two-tower']`.
     */
    twoTower?: boolean;
    /** Train an ensemble of this many SASRec models (default 1). */
    members?: number;
  },
): Promise<TinyModel> {
  const ds = generateSyntheticCatalog({
    items: 300,
    users: 700,
    seed: opts.catalogSeed,
    minEvents: 6,
    maxEvents: 40,
  });
  const modelDir = join(root, 'model');
  const { summary } = await runTrain(ds, {
    model: { maxLen: 20, dim: 32, blocks: 1, heads: 1, ffnDim: 32 },
    // A fixed epoch count (no time limit): the same model on fast and slow machines.
    train: {
      epochs: opts.epochs,
      evalEvery: 4,
      patience: 100,
      maxSeconds: 0,
      seed: opts.trainSeed,
      workers: 1,
    },
    members: opts.members ?? 1,
    out: modelDir,
    dataSource: 'synthetic',
    quiet: true,
  });
  let twoTowerDir: string | undefined;
  if (opts.twoTower) {
    twoTowerDir = join(root, 'two-tower');
    const flags = {
      epochs: '3',
      dim: '16',
      hidden: '16',
      'max-len': '20',
      seed: String(opts.trainSeed),
    };
    await runTwoTower(ds, flags, twoTowerDir, 'synthetic');
  }
  exportModelDir({
    modelDir,
    out: opts.exportDir,
    quantization: 'int8',
    shardItems: 100,
    ...(twoTowerDir ? { twoTowerDir } : {}),
  });
  return {
    modelDir,
    exportDir: opts.exportDir,
    manifest: JSON.parse(readFileSync(join(opts.exportDir, 'manifest.json'), 'utf8')),
    items: JSON.parse(readFileSync(join(modelDir, 'catalog.json'), 'utf8')) as ItemInfo[],
    summary,
  };
}

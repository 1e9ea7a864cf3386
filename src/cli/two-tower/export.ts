import type { Dataset, SplitData } from '../../core/types.ts';
import type { TwoTowerConfig } from '../../../models/two-tower/config.ts';
import {
  exportTwoTowerUserTower,
  type TwoTowerQuantization,
} from '../../../models/two-tower/export-onnx.ts';
import type { ItemFeatures } from '../../../models/training/item-features.ts';
import { itemTable, type TwoTowerWeights } from '../../../models/two-tower/model.ts';
import { weightsToArrays } from '../../../models/tf-ops.ts';
import { writeExportManifest } from '../export-manifest.ts';
import { putBlob, writeShardSet } from '../shards.ts';

/** The item tower's output for every item, (numItems+1, dim) row-major: what the shards ship. */
export function itemVectors(c: TwoTowerConfig, w: TwoTowerWeights, f: ItemFeatures): Float32Array {
  const t = itemTable(c, w, f);
  const data = t.dataSync() as Float32Array;
  t.dispose();
  return data;
}

/** What {@link exportTwoTower} writes. */
export interface TwoTowerExportOptions {
  /** The export folder: blobs/* and manifest.json go here. */
  dir: string;
  config: TwoTowerConfig;
  weights: TwoTowerWeights;
  /** {@link itemVectors} of these weights. */
  table: Float32Array;
  split: SplitData;
  ds: Dataset;
  quantization: TwoTowerQuantization;
  shardItems?: number;
}

/**
 * Writes the ONNX user tower, the item-vector and metadata shards (all named by sha256) and
 * an unsigned manifest.json naming them.
 */
export function exportTwoTower(o: TwoTowerExportOptions) {
  const c = o.config;
  const onnx = putBlob(
    o.dir,
    exportTwoTowerUserTower(c, weightsToArrays(o.weights), o.table, {
      quantization: o.quantization,
    }),
  );
  const set = writeShardSet({
    out: o.dir,
    table: o.table,
    dim: c.dim,
    itemIds: o.split.itemIds,
    items: new Map(o.ds.items.map((i) => [i.id, i])),
    dtype: o.quantization === 'int8' ? 'int8' : 'f32',
    shardItems: o.shardItems,
  });
  writeExportManifest(
    o.dir,
    onnx,
    {
      twoTower: {
        userTower: { ...onnx, quantization: o.quantization, format: 'onnx' },
        config: { ...c },
      },
    },
    set,
  );
  return { onnx, set };
}

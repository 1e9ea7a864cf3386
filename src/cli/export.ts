import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BlobRef } from '../core/blob.ts';
import { LocalrecError } from '../core/errors.ts';
import type { ItemInfo } from '../core/types.ts';
import {
  exportSasrecEncoder,
  quantizeSasrecWeights,
  shippedDim,
  shippedItemTable,
} from '../../models/sasrec/export-onnx.ts';
import { memberCount } from '../../models/sasrec/model.ts';
import { encodeCheckpoint } from '../../models/checkpoint.ts';
import {
  defineParameterSet,
  parameterCount,
  parameterSetToJson,
  type ParameterSet,
} from '../../models/federated/parameter-set.ts';
import { writeExportManifest } from './export-manifest.ts';
import { llmSectionFromConfig } from './llm-config.ts';
import { readCatalog, readSasrecCheckpoint } from './model-dir.ts';
import { putBlob, writeShardSet, type EmbeddingShardRef, type ShardSet } from './shards.ts';

export type Quantization = 'fp32' | 'int8' | 'int4';

export type { BlobRef };

/** The models `localrec export` ships (signing arrives with the sync-server issue). */
export interface ExportModels {
  sasrec: {
    encoder: BlobRef & { quantization: Quantization; format: 'onnx' };
    config: Record<string, unknown>;
    /**
     * The weights federated rounds fine-tune from: the checkpoint's float32 weights and, in its
     * meta, the federated parameter set (models/federated/parameter-set.ts) and the item ids.
     */
    trainable: BlobRef & { format: 'lrck'; dtype: 'f32'; parameters: number };
  };
  /** The two-tower retriever, when exported with one: its own encoder and item shards. */
  'two-tower'?: {
    encoder: BlobRef & { quantization: string; format: 'onnx' };
    config: Record<string, unknown>;
    shards: EmbeddingShardRef[];
  };
}

export interface ExportSummary {
  out: string;
  modelVersion: string;
  quantization: Quantization;
  bytes: {
    encoderOnnx: number;
    itemShards: number;
    metadata: number;
    trainable: number;
    /** The LLM's files, 0 without one. */
    llm: number;
  };
  shards: number;
  items: number;
  droppedLinks: ShardSet['droppedLinkCount'];
}

/** Copies a two-tower export's blobs into `out` (verifying each) and returns its manifest entry. */
function addTwoTower(dir: string, out: string): NonNullable<ExportModels['two-tower']> {
  const path = join(dir, 'export', 'manifest.json');
  if (!existsSync(path))
    throw new LocalrecError(
      'not-found',
      `no two-tower export at ${path}; run \`localrec two-tower --data … --out ${dir}\` first`,
    );
  const m = JSON.parse(readFileSync(path, 'utf8')) as {
    models?: { twoTower?: { userTower?: BlobRef & { quantization: string }; config?: object } };
    shards?: EmbeddingShardRef[];
  };
  const tt = m.models?.twoTower;
  if (!tt?.userTower || !tt.config || !Array.isArray(m.shards))
    throw new LocalrecError('bad-format', `${path} is not a two-tower export (models.twoTower)`);
  const copy = (ref: BlobRef) => {
    const bytes = readFileSync(join(dir, 'export', 'blobs', ref.sha256));
    const got = putBlob(out, bytes);
    if (got.sha256 !== ref.sha256 || got.bytes !== ref.bytes)
      throw new LocalrecError(
        'integrity',
        `two-tower blob ${ref.sha256.slice(0, 12)}… does not match its name; re-run localrec two-tower`,
      );
  };
  copy(tt.userTower);
  m.shards.forEach(copy);
  return {
    encoder: { ...tt.userTower, format: 'onnx' },
    config: { ...tt.config },
    shards: m.shards,
  };
}

/** Turns a trained model folder into a content-addressed export (blobs/ + manifest.json). */
export function exportModelDir(opts: {
  modelDir: string;
  out?: string;
  quantization: Quantization;
  /** Items per shard (default: shards of about 4 MB). */
  shardItems?: number;
  /** Item metadata to ship (default: the model folder's catalog.json). */
  items?: ItemInfo[];
  /**
   * Item rows in the federated parameter set (default: every item of catalogs up to 20,000,
   * models/federated/parameter-set.ts DEFAULT_MAX_ITEM_ROWS).
   */
  maxItemRows?: number;
  /** The parameter set to ship as is (a federated round's next version keeps its base's). */
  parameterSet?: ParameterSet;
  /**
   * A `localrec two-tower` output folder to ship beside SASRec: its user tower and item-vector
   * shards become `models['two-tower']` (blobs copied, each checked against its name).
   */
  twoTowerDir?: string;
  /** The owner's LLM config (./llm-config.ts): its files become the manifest's `llm` section. */
  llm?: string;
}): ExportSummary {
  const ck = readSasrecCheckpoint(opts.modelDir);
  const out = opts.out ?? join(opts.modelDir, 'export');
  mkdirSync(join(out, 'blobs'), { recursive: true });
  // First: a mistake in the owner's LLM config fails before minutes of export work.
  const llm = opts.llm ? llmSectionFromConfig(opts.llm, out) : null;
  const { config, weights } = ck;
  const catalog = opts.items ?? readCatalog(opts.modelDir);
  const encoder = putBlob(
    out,
    exportSasrecEncoder(config, weights, { quantization: opts.quantization }),
  );

  // The federated parameter set: every item's rows for catalogs up to its cap, else the most
  // popular items' (catalog.json's interaction counts, in internal index order).
  const popularity = catalog && [0, ...catalog.map((i) => i.popularity ?? 0)];
  const set =
    opts.parameterSet ?? defineParameterSet(config, popularity ?? undefined, opts.maxItemRows);
  const trainable = putBlob(
    out,
    encodeCheckpoint({
      model: 'sasrec',
      config,
      meta: { itemIds: ck.meta.itemIds, federated: parameterSetToJson(set) },
      weights,
    }),
  );

  // The shards carry the same item table the encoder reads its inputs from (row r = item baseIndex + r).
  const shardSet = writeShardSet({
    out,
    table: shippedItemTable(
      config,
      opts.quantization === 'fp32'
        ? weights
        : quantizeSasrecWeights(config, weights, opts.quantization).dequantized,
    ),
    dim: shippedDim(config),
    itemIds: ck.meta.itemIds,
    items: catalog ? new Map(catalog.map((i) => [i.id, i])) : undefined,
    dtype: opts.quantization === 'fp32' ? 'f32' : 'int8',
    // An ensemble's row is its members' vectors side by side: each member gets its own scale.
    segments: memberCount(config),
    shardItems: opts.shardItems,
  });
  const { embedding: shards, metadata } = shardSet;

  const twoTower = opts.twoTowerDir ? addTwoTower(opts.twoTowerDir, out) : undefined;

  const manifest = writeExportManifest<ExportModels>(
    out,
    encoder,
    {
      sasrec: {
        encoder: { ...encoder, quantization: opts.quantization, format: 'onnx' },
        config: { ...config },
        trainable: { ...trainable, format: 'lrck', dtype: 'f32', parameters: parameterCount(set) },
      },
      ...(twoTower ? { 'two-tower': twoTower } : {}),
    },
    shardSet,
    llm,
  );
  return {
    out,
    modelVersion: manifest.modelVersion,
    quantization: opts.quantization,
    bytes: {
      encoderOnnx: encoder.bytes,
      itemShards: shards.reduce((a, s) => a + s.bytes, 0),
      metadata: metadata.reduce((a, s) => a + s.bytes, 0),
      trainable: trainable.bytes,
      llm: llm ? llm.files.reduce((a, f) => a + f.bytes, 0) : 0,
    },
    shards: shards.length,
    items: config.numItems,
    droppedLinks: shardSet.droppedLinkCount,
  };
}

import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BlobRef } from '../core/blob.ts';
import type { ItemInfo } from '../core/types.ts';
import {
  exportSasrecEncoder,
  quantizeSasrecWeights,
  shippedItemTable,
} from '../../models/sasrec/export-onnx.ts';
import { readCatalog, readSasrecCheckpoint } from './model-dir.ts';
import {
  putBlob,
  writeShardSet,
  type EmbeddingShardRef,
  type MetadataShardRef,
  type ShardSet,
} from './shards.ts';

export type Quantization = 'fp32' | 'int8' | 'int4';

export type { BlobRef };

/** The manifest `localrec export` writes (signing arrives with the sync-server issue). */
export interface Manifest {
  formatVersion: 1;
  modelVersion: string;
  createdAt: string;
  models: {
    sasrec: {
      encoder: BlobRef & { quantization: Quantization; format: 'onnx' };
      config: Record<string, unknown>;
    };
  };
  /** Embedding shards, in internal index order. */
  shards: EmbeddingShardRef[];
  /** Metadata shards over the same ranges as `shards`. */
  metadata: MetadataShardRef[];
  llm: null;
  federated: null;
  signature: null;
}

export interface ExportSummary {
  out: string;
  modelVersion: string;
  quantization: Quantization;
  bytes: { encoderOnnx: number; itemShards: number; metadata: number };
  shards: number;
  items: number;
  droppedLinks: ShardSet['droppedLinkCount'];
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
}): ExportSummary {
  const ck = readSasrecCheckpoint(opts.modelDir);
  const out = opts.out ?? join(opts.modelDir, 'export');
  mkdirSync(join(out, 'blobs'), { recursive: true });
  const { config, weights } = ck;
  const encoder = putBlob(
    out,
    exportSasrecEncoder(config, weights, { quantization: opts.quantization }),
  );

  // The shards carry the same item table the encoder reads its inputs from (row r = item baseIndex + r).
  const catalog = opts.items ?? readCatalog(opts.modelDir);
  const set = writeShardSet({
    out,
    table: shippedItemTable(
      config,
      opts.quantization === 'fp32'
        ? weights
        : quantizeSasrecWeights(config, weights, opts.quantization).dequantized,
    ),
    dim: config.dim,
    itemIds: ck.meta.itemIds,
    items: catalog ? new Map(catalog.map((i) => [i.id, i])) : undefined,
    dtype: opts.quantization === 'fp32' ? 'f32' : 'int8',
    shardItems: opts.shardItems,
  });
  const { embedding: shards, metadata } = set;

  const createdAt = new Date().toISOString();
  const manifest: Manifest = {
    formatVersion: 1,
    modelVersion: `${createdAt.replace(/\.\d+Z$/, 'Z')}-${encoder.sha256.slice(0, 8)}`,
    createdAt,
    models: {
      sasrec: {
        encoder: { ...encoder, quantization: opts.quantization, format: 'onnx' },
        config: { ...config },
      },
    },
    shards,
    metadata,
    llm: null,
    federated: null,
    signature: null,
  };
  const tmp = join(out, `manifest.json.tmp-${process.pid}`);
  writeFileSync(tmp, JSON.stringify(manifest, null, 2));
  renameSync(tmp, join(out, 'manifest.json'));
  return {
    out,
    modelVersion: manifest.modelVersion,
    quantization: opts.quantization,
    bytes: {
      encoderOnnx: encoder.bytes,
      itemShards: shards.reduce((a, s) => a + s.bytes, 0),
      metadata: metadata.reduce((a, s) => a + s.bytes, 0),
    },
    shards: shards.length,
    items: config.numItems,
    droppedLinks: set.droppedLinkCount,
  };
}

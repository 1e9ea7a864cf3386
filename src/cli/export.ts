import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeShard } from '../core/shard.ts';
import { exportSasrecEncoder } from '../../models/sasrec/export-onnx.ts';
import { readCatalog, readSasrecCheckpoint } from './model-dir.ts';

export type Quantization = 'fp32' | 'int8' | 'int4';

export interface BlobRef {
  sha256: string;
  bytes: number;
}

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
  shards: (BlobRef & {
    dtype: 'int8' | 'f16' | 'f32';
    dim: number;
    count: number;
    baseIndex: number;
  })[];
  metadata: (BlobRef & { format: 'catalog-json-v1'; count: number }) | null;
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
}

function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

/** Writes a blob under its own hash (write to a temp name, then rename, so readers never see half a file). */
function putBlob(dir: string, bytes: Uint8Array): BlobRef {
  const hash = sha256(bytes);
  const path = join(dir, 'blobs', hash);
  if (!existsSync(path)) {
    const tmp = `${path}.tmp-${process.pid}`;
    writeFileSync(tmp, bytes);
    renameSync(tmp, path);
  }
  return { sha256: hash, bytes: bytes.length };
}

/** Turns a trained model folder into a content-addressed export (blobs/ + manifest.json). */
export function exportModelDir(opts: {
  modelDir: string;
  out?: string;
  quantization: Quantization;
  shardItems: number;
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
  const table = weights['item_emb']!;
  const dim = config.dim;
  const dtype = opts.quantization === 'fp32' ? 'f32' : 'int8';
  const shards: Manifest['shards'] = [];
  for (let start = 1; start <= config.numItems; start += opts.shardItems) {
    const end = Math.min(config.numItems + 1, start + opts.shardItems);
    const bytes = encodeShard({
      dtype,
      dim,
      baseIndex: start,
      ids: ck.meta.itemIds.slice(start, end),
      rows: table.data.subarray(start * dim, end * dim),
    });
    shards.push({ ...putBlob(out, bytes), dtype, dim, count: end - start, baseIndex: start });
  }
  const catalog = readCatalog(opts.modelDir);
  const metadata = catalog
    ? {
        ...putBlob(out, new TextEncoder().encode(JSON.stringify(catalog))),
        format: 'catalog-json-v1' as const,
        count: catalog.length,
      }
    : null;

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
      metadata: metadata?.bytes ?? 0,
    },
    shards: shards.length,
    items: config.numItems,
  };
}

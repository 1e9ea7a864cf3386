import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BlobRef } from '../core/blob.ts';
import type { LlmSection } from '../core/llm-manifest.ts';
import type { EmbeddingShardRef, MetadataShardRef } from './shards.ts';

/**
 * The unsigned format-1 manifest an export writes (src/core/manifest.ts), over the models `M`
 * it ships; `localrec publish` adds the version and the signature.
 */
export interface ExportManifest<M> {
  formatVersion: 1;
  modelVersion: string;
  createdAt: string;
  models: M;
  /** Embedding shards, in internal index order. */
  shards: EmbeddingShardRef[];
  /** Metadata shards over the same ranges as `shards`. */
  metadata: MetadataShardRef[];
  /** The owner's on-device LLM (./llm-config.ts), or null. */
  llm: LlmSection | null;
  federated: null;
  signature: null;
}

/**
 * Writes `<dir>/manifest.json` for an export, atomically (a reader sees the old file or the
 * new). modelVersion is the time plus the start of `versionBlob`'s sha256 (the model's main
 * file), so two exports made in the same second of different models differ.
 */
export function writeExportManifest<M>(
  dir: string,
  versionBlob: BlobRef,
  models: M,
  shards: { embedding: EmbeddingShardRef[]; metadata: MetadataShardRef[] },
  llm: LlmSection | null = null,
): ExportManifest<M> {
  const createdAt = new Date().toISOString();
  const manifest: ExportManifest<M> = {
    formatVersion: 1,
    modelVersion: `${createdAt.replace(/\.\d+Z$/, 'Z')}-${versionBlob.sha256.slice(0, 8)}`,
    createdAt,
    models,
    shards: shards.embedding,
    metadata: shards.metadata,
    llm,
    federated: null,
    signature: null,
  };
  const tmp = join(dir, `manifest.json.tmp-${process.pid}`);
  writeFileSync(tmp, JSON.stringify(manifest, null, 2));
  renameSync(tmp, join(dir, 'manifest.json'));
  return manifest;
}

/**
 * From a round's aggregate to the next published model: the current version's trainable
 * weights (the f32 checkpoint every client fine-tuned from) plus the server optimizer's step,
 * exported by `localrec export`'s own path (int8 encoder, item shards, trainable blob), then
 * signed and published by `localrec publish`'s. The export is written to a scratch folder and
 * the manifest goes in last, so a crash at any point publishes nothing half-written.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LocalrecError } from '../../core/errors.ts';
import { catalogItems, decodeMetadataShard } from '../../core/metadata.ts';
import { manifestBlobs, parseManifest, type Manifest } from '../../core/manifest.ts';
import type { ItemInfo } from '../../core/types.ts';
import type { SigningKey } from '../../server/keys.ts';
import { publishExport, type PublishSummary } from '../../server/publish.ts';
import type { PublicationStore } from '../../server/store/registry.ts';
import { decodeCheckpoint, encodeCheckpoint, type Checkpoint } from '../../../models/checkpoint.ts';
import {
  addToWeights,
  parameterSetFromJson,
  type ParameterSet,
} from '../../../models/federated/parameter-set.ts';
import type { SasrecConfig } from '../../../models/sasrec/config.ts';
import { exportModelDir, type Quantization } from '../export.ts';
import { CATALOG_FILE, CHECKPOINT_FILE } from '../train.ts';

/** The published version a round trains from, as the server reads it back from its store. */
export interface BaseVersion {
  manifest: Manifest;
  checkpoint: Checkpoint<SasrecConfig>;
  set: ParameterSet;
  quantization: Quantization;
}

interface SasrecEntry {
  encoder: { quantization: Quantization };
  trainable?: { sha256: string };
}

async function blob(store: PublicationStore, sha256: string, what: string): Promise<Uint8Array> {
  const b = await store.blobs.get(sha256);
  if (!b)
    throw new LocalrecError('not-found', `the store lacks the ${what} ${sha256.slice(0, 12)}…`);
  return b;
}

/**
 * Reads the store's current version: its manifest, trainable checkpoint and parameter set.
 *
 * @throws LocalrecError `not-found` when nothing is published or the version has no trainable
 *   blob (exported before federated learning: re-export it).
 */
export async function readBaseVersion(store: PublicationStore): Promise<BaseVersion> {
  const bytes = await store.manifests.current();
  if (!bytes)
    throw new LocalrecError('not-found', 'nothing is published yet: run `localrec publish` first');
  const manifest = parseManifest(bytes);
  const sasrec = (manifest.models as { sasrec?: SasrecEntry }).sasrec;
  if (!sasrec?.trainable)
    throw new LocalrecError(
      'not-found',
      `model ${manifest.modelVersion} has no trainable weights (models.sasrec.trainable); re-export it with this localrec and publish`,
    );
  const checkpoint = decodeCheckpoint<SasrecConfig>(
    await blob(store, sasrec.trainable.sha256, 'trainable blob'),
    'trainable blob',
  );
  const set = parameterSetFromJson(checkpoint.meta['federated'], checkpoint.config);
  return { manifest, checkpoint, set, quantization: sasrec.encoder.quantization };
}

/** The catalog a version ships (its metadata shards), to re-export with the new weights. */
async function shippedCatalog(
  store: PublicationStore,
  m: Manifest,
): Promise<ItemInfo[] | undefined> {
  if (!m.metadata) return undefined;
  const shards = [];
  for (const ref of m.metadata)
    shards.push(decodeMetadataShard(await blob(store, ref.sha256, 'metadata shard')));
  return catalogItems(shards);
}

/** Items per shard of a version, so the next one loads the same way (undefined: the default). */
function shardItemsOf(m: Manifest): number | undefined {
  const counts = m.shards.map((s) => Number(s['count']));
  if (counts.length === 0 || counts.some((c) => !Number.isInteger(c))) return undefined;
  return counts.length === 1 ? undefined : counts[0];
}

/** What the next version's manifest says about how it was made (its `federated` member). */
export type FederatedRecord = Record<string, unknown> & { round: number };

/**
 * Writes and publishes the version after `base`: its weights plus `step` (the server
 * optimizer's change over the parameter set). Other models of the manifest (the two-tower
 * retriever) are carried over unchanged. Returns the publication, or throws without having
 * published anything.
 */
export async function publishNextVersion(opts: {
  store: PublicationStore;
  key: SigningKey;
  base: BaseVersion;
  step: Float64Array | Float32Array;
  federated: FederatedRecord;
  /** Scratch folder (emptied first); the export is built here. */
  workDir: string;
  /**
   * Called once the export is written to the scratch folder, before its manifest is completed
   * and anything goes to the store (the coordinator's crash-test pause, coordinator.ts).
   */
  onExported?: () => Promise<void>;
}): Promise<PublishSummary & { manifest: Manifest }> {
  const { base, store } = opts;
  rmSync(opts.workDir, { recursive: true, force: true });
  const modelDir = join(opts.workDir, 'model');
  const out = join(opts.workDir, 'export');
  mkdirSync(modelDir, { recursive: true });
  const weights = addToWeights(base.set, base.checkpoint.weights, opts.step);
  for (const [name, w] of Object.entries(weights))
    for (const x of w.data)
      if (!Number.isFinite(x))
        throw new LocalrecError(
          'bad-input',
          `the aggregated step made ${name} non-finite; nothing published`,
        );
  writeFileSync(
    join(modelDir, CHECKPOINT_FILE),
    encodeCheckpoint({
      model: 'sasrec',
      config: base.checkpoint.config,
      meta: { ...base.checkpoint.meta, federatedRound: opts.federated.round },
      weights,
    }),
  );
  const items = await shippedCatalog(store, base.manifest);
  if (items) writeFileSync(join(modelDir, CATALOG_FILE), JSON.stringify(items));
  exportModelDir({
    modelDir,
    out,
    quantization: base.quantization,
    shardItems: shardItemsOf(base.manifest),
    parameterSet: base.set,
  });
  await opts.onExported?.();
  // The written manifest, completed: the other models carried over (their blobs copied in so
  // publishExport finds and checks them) and the round's record.
  const path = join(out, 'manifest.json');
  const next = parseManifest(readFileSync(path));
  const carried: Record<string, unknown> = {};
  for (const [name, entry] of Object.entries(base.manifest.models))
    if (name !== 'sasrec') carried[name] = entry;
  const blobsDir = join(out, 'blobs');
  const have = new Set(readdirSync(blobsDir));
  for (const ref of manifestBlobs({ models: carried }))
    if (!have.has(ref.sha256))
      writeFileSync(join(blobsDir, ref.sha256), await blob(store, ref.sha256, 'carried-over blob'));
  const manifest: Manifest = {
    ...next,
    models: { ...next.models, ...carried },
    llm: base.manifest.llm ?? null,
    federated: opts.federated,
  };
  writeFileSync(path, JSON.stringify(manifest, null, 2));
  const published = await publishExport(out, store, opts.key);
  return { ...published, manifest };
}

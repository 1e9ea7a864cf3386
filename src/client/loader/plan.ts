/**
 * What a verified manifest asks the browser to load, checked and in one shape: the SASRec
 * encoder and its item shards (required), an optional two-tower model with its own encoder and
 * shards, and the metadata shards. Pure: tested in Node.
 *
 * The manifest shape read here (format 1):
 *
 * ```json
 * { "models": {
 *     "sasrec":    { "encoder": { "sha256", "bytes", "format": "onnx", "quantization" },
 *                    "config": { "maxLen": 50, "dim": 64, … } },
 *     "two-tower": { "encoder": { "sha256", "bytes", "format": "onnx", "quantization" },
 *                    "config": { "maxLen": 50, "dim": 64, … },
 *                    "shards": [ { "sha256", "bytes", "dtype", "dim", "count", "baseIndex" } ] } },
 *   "shards":   [ … SASRec item shards, same fields … ],
 *   "metadata": [ { "sha256", "bytes", "format": "localrec-metadata-v1", "count", "baseIndex" } ] }
 * ```
 * `models.sasrec.trainable` (optional: `{ sha256, bytes, format: "lrck", dtype: "f32",
 * parameters }`) is the float32 checkpoint federated rounds fine-tune from; it is not in
 * `blobs` (only a visitor who consented to federated learning downloads it). The manifest's
 * `federated` (`{ localTrain, … }` or null) says how clients train; the trainer checks it.
 * `models["two-tower"]` is optional (`userTower` is accepted for `encoder`, as the two-tower
 * command names it); its shards index its own item table, matched to SASRec's by item id. Its
 * `config.context`, when present, lists the request-context features its encoder takes
 * (src/core/context.ts); a model without it (made before context existed) takes none.
 */
import { SHA256_HEX, type BlobRef } from '../../core/blob.ts';
import { parseContextSpec, type ContextSpec } from '../../core/context.ts';
import { LocalrecError } from '../../core/errors.ts';
import { parseLlmSection, type LlmSection } from '../../core/llm-manifest.ts';
import type { Manifest } from '../../core/manifest.ts';

/** A shard as the manifest lists it (the fields the loader uses). */
export interface ShardRef extends BlobRef {
  /** Rows in the shard (0 when the manifest does not say). */
  count: number;
}

/** One model to load into the ranker. */
export interface ModelPlan {
  /** Name in the ranker and in reasons: `sasrec` or `two-tower`. */
  name: 'sasrec' | 'two-tower';
  encoder: BlobRef;
  maxLen: number;
  /** In manifest order (internal index order for exports). */
  shards: ShardRef[];
  /** The request-context features the encoder takes (`config.context`), or null for none. */
  context: ContextSpec | null;
}

/** Everything one manifest version needs. */
export interface LoadPlan {
  modelVersion: string;
  /** The manifest's publication number, or null for an unpublished export. */
  manifestVersion: number | null;
  /**
   * What identifies this version: the signature (unique to the signed content), else the model
   * version. A refresh swaps models only when it changes.
   */
  identity: string;
  sasrec: ModelPlan;
  twoTower: ModelPlan | null;
  metadata: ShardRef[];
  /**
   * The trainable checkpoint of SASRec (models.sasrec.trainable), or null when the export has
   * none; downloaded only by the federated trainer, so it is not in {@link blobs}.
   */
  trainable: (BlobRef & { parameters: number }) | null;
  /** The manifest's `federated.localTrain` as published (checked by the trainer), or null. */
  localTrain: unknown;
  /**
   * The privacy the server accounted for the federated rounds this version learned from
   * (`federated.privacy`: ε at δ, over every round so far, `round` the last), or null.
   */
  privacy: { epsilon: number | null; delta: number; round: number | null } | null;
  /**
   * The owner's on-device LLM (`llm`, src/core/llm-manifest.ts), or null; its files are
   * downloaded only when the LLM is asked for (../loader/llm-files.ts), so they are not in
   * {@link blobs}.
   */
  llm: LlmSection | null;
  /** Every blob above but `trainable` and `llm`, deduplicated. */
  blobs: BlobRef[];
  /** Items in the SASRec shards (what recommendations can cover once complete). */
  totalItems: number;
}

function bad(what: string): LocalrecError {
  return new LocalrecError('bad-format', `manifest: ${what}`);
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function blobRef(v: unknown, where: string): BlobRef {
  if (!isObject(v)) throw bad(`${where} is missing`);
  const { sha256, bytes } = v;
  if (typeof sha256 !== 'string' || !SHA256_HEX.test(sha256))
    throw bad(`${where}.sha256 is not 64 lowercase hex characters`);
  if (typeof bytes !== 'number' || !Number.isSafeInteger(bytes) || bytes < 0)
    throw bad(`${where}.bytes is not a byte count`);
  return { sha256, bytes };
}

function shardRefs(v: unknown, where: string, required: boolean): ShardRef[] {
  if (v === null || v === undefined) {
    if (required) throw bad(`${where} is missing`);
    return [];
  }
  if (!Array.isArray(v)) throw bad(`${where} is not a list`);
  if (required && v.length === 0) throw bad(`${where} is empty: there are no items to recommend`);
  return v.map((s, i) => {
    const ref = blobRef(s, `${where}[${i}]`);
    const count = (s as Record<string, unknown>)['count'];
    return { ...ref, count: Number.isSafeInteger(count) && (count as number) >= 0 ? count : 0 };
  }) as ShardRef[];
}

function modelPlan(v: unknown, name: ModelPlan['name'], shards: ShardRef[] | null): ModelPlan {
  const where = `models.${name === 'sasrec' ? 'sasrec' : '["two-tower"]'}`;
  if (!isObject(v)) throw bad(`${where} is missing`);
  const encoder = blobRef(v['encoder'] ?? v['userTower'], `${where}.encoder`);
  const config = v['config'];
  const maxLen = isObject(config) ? config['maxLen'] : undefined;
  if (typeof maxLen !== 'number' || !Number.isInteger(maxLen) || maxLen < 1)
    throw bad(`${where}.config.maxLen is not a positive integer`);
  return {
    name,
    encoder,
    maxLen,
    shards: shards ?? shardRefs(v['shards'], `${where}.shards`, true),
    context: parseContextSpec(
      (config as Record<string, unknown>)['context'],
      `manifest: ${where}.config.context`,
    ),
  };
}

/**
 * Reads the load plan from a (verified) manifest.
 *
 * @throws LocalrecError `bad-format` naming the first missing or malformed field.
 */
export function planFromManifest(m: Manifest): LoadPlan {
  const models = m.models as Record<string, unknown>;
  const sasrec = modelPlan(models['sasrec'], 'sasrec', shardRefs(m.shards, 'shards', true));
  const tt = models['two-tower'];
  const twoTower = tt === undefined || tt === null ? null : modelPlan(tt, 'two-tower', null);
  const metadata = shardRefs(m.metadata, 'metadata', false);
  const t = isObject(models['sasrec']) ? models['sasrec']['trainable'] : undefined;
  // Lenient: a trainable entry this SDK cannot use (another format, a newer export) turns
  // federated training off; it never stops recommendations.
  let trainable: LoadPlan['trainable'] = null;
  if (isObject(t) && t['format'] === 'lrck' && t['dtype'] === 'f32') {
    const parameters = t['parameters'];
    try {
      if (Number.isSafeInteger(parameters) && (parameters as number) > 0)
        trainable = { ...blobRef(t, 'models.sasrec.trainable'), parameters: parameters as number };
    } catch {
      trainable = null;
    }
  }
  const fed = m.federated;
  const localTrain = isObject(fed) && fed['localTrain'] !== undefined ? fed['localTrain'] : null;
  const p = isObject(fed) ? fed['privacy'] : undefined;
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
  const privacy =
    isObject(p) && num(p['delta']) !== null
      ? {
          epsilon: num(p['epsilon']),
          delta: num(p['delta'])!,
          round: isObject(fed) ? num(fed['round']) : null,
        }
      : null;
  const seen = new Map<string, BlobRef>();
  for (const r of [
    sasrec.encoder,
    ...sasrec.shards,
    ...(twoTower ? [twoTower.encoder, ...twoTower.shards] : []),
    ...metadata,
  ])
    if (!seen.has(r.sha256)) seen.set(r.sha256, { sha256: r.sha256, bytes: r.bytes });
  return {
    modelVersion: m.modelVersion,
    manifestVersion: m.version ?? null,
    identity: m.signature?.value ?? m.modelVersion,
    sasrec,
    twoTower,
    metadata,
    trainable,
    localTrain,
    privacy,
    llm: parseLlmSection(m.llm),
    blobs: [...seen.values()],
    totalItems: sasrec.shards.reduce((a, s) => a + s.count, 0),
  };
}

/**
 * The blobs to keep cached beside `keep` (those a version loads) for the version in use: its
 * trainable weights (only a consenting visitor fetches them) and its LLM's files (fetched when
 * the LLM is asked for), which are in neither plan's `blobs`.
 */
export function keptWith(keep: ReadonlySet<string>, plan: LoadPlan | undefined): Set<string> {
  const out = new Set(keep);
  if (plan?.trainable) out.add(plan.trainable.sha256);
  for (const f of plan?.llm?.files ?? []) out.add(f.sha256);
  return out;
}

/**
 * `localrec/core`: the formats a localrec deployment exchanges, with their types — the signed
 * manifest, embedding and metadata shards, federated deltas, blob checks — and the shared
 * types. Pure TypeScript on web-platform APIs (typed arrays, Web Crypto), so the same code runs
 * in a browser, a worker and Node.
 *
 * ```ts
 * import { verifyManifest, readShardStream } from 'localrec/core';
 *
 * const publicKey = 'BASE64_PUBLIC_KEY'; // the line of your `localrec keygen` .pub file
 * const { manifest } = await verifyManifest(await (await fetch('/v1/manifest')).text(), publicKey);
 * for (const ref of manifest.shards) {
 *   const shard = await readShardStream((await fetch(`/v1/blobs/${ref.sha256}`)).body!, ref);
 *   console.log(`${shard.count} items of dim ${shard.dim}`);
 * }
 * ```
 *
 * @packageDocumentation
 */
export {
  canonicalJson,
  fromBase64,
  keyIdOf,
  manifestBlobs,
  manifestSigningBytes,
  MANIFEST_FORMAT_VERSION,
  parseManifest,
  parsePublicKey,
  toBase64,
  verifyManifest,
  verifyManifestBlob,
  type JsonValue,
  type Manifest,
  type ManifestSignature,
  type VerifiedManifest,
} from './manifest.ts';
export {
  LLM_FILE_ROLES,
  LLM_SECTION_ENGINES,
  llmBytes,
  llmFile,
  MAX_LLM_CONTEXT,
  parseLlmSection,
  type LlmFileRef,
  type LlmFileRole,
  type LlmSection,
  type LlmSectionEngine,
  type LlmSectionNeeds,
} from './llm-manifest.ts';
export {
  decodeShard,
  encodeShard,
  readShardHeader,
  shardRowsAsFloat32,
  SHARD_HEADER_BYTES,
  SHARD_MAGIC,
  SHARD_VERSION,
  type DecodedShard,
  type ShardDtype,
  type ShardHeader,
  type ShardInput,
} from './shard.ts';
export { readShardStream, type ReadShardOptions } from './shard-stream.ts';
export {
  decodeMetadataShard,
  encodeMetadataShard,
  isSafeLink,
  METADATA_FORMAT,
  METADATA_VERSION,
  type MetadataShard,
} from './metadata.ts';
export {
  decodeDelta,
  deltaByteLength,
  deltaLength,
  deltaNorm,
  DELTA_FORMAT_VERSION,
  DELTA_MEDIA_TYPE,
  encodeDelta,
  quantizeDelta,
  randomUpdateId,
  UPDATE_ID_BYTES,
  type Delta,
  type DeltaLimits,
  type DeltaSlice,
  type QuantizeDeltaInput,
} from './delta.ts';
export {
  sha256Hex,
  SHA256_HEX,
  shortHash,
  verifyBlob,
  type BlobRef,
  type ByteProgress,
} from './blob.ts';
export { isLocalrecError, LocalrecError, type LocalrecErrorCode } from './errors.ts';
export {
  composeRdp,
  DEFAULT_RDP_ORDERS,
  rdpSampledGaussian,
  type SampledGaussian,
} from './privacy/rdp.ts';
export {
  epsilonAfter,
  epsilonFromRdp,
  roundsWithinBudget,
  type AccountingOptions,
  type BudgetOptions,
  type PrivacySpend,
  type SpendOptions,
} from './privacy/accountant.ts';
export type { Dataset, Interaction, ItemInfo } from './types.ts';
export { parseGgufHeader, type GgufHeader } from './gguf/reader.ts';
export type { GgufTensorInfo, GgufValue } from './gguf/format.ts';

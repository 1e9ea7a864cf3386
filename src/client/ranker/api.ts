/**
 * The ranker contract, declared once. `createRanker()` (in-process, ranker.ts) satisfies it,
 * and so does a comlink proxy of a worker that exposes one (`wrap<Ranker>(worker)`; the ranker
 * tests run it that way), so callers never care where the work runs. Everything crossing it is structured-cloneable;
 * failures are `LocalrecError`s whose `code` survives the worker hop (../rpc/errors-transfer.ts).
 */
import type { ContextSpec } from '../../core/context.ts';
import type { Device, DeviceChoice } from './device.ts';

/** A binary artifact as fetched (`Response.arrayBuffer()`) or read from a cache. */
export type Bytes = ArrayBuffer | Uint8Array;

/** Name of a loaded model: `'sasrec'` (the default) or `'two-tower'`; any name works. */
export type ModelName = string;

/**
 * The retrieval kernel scoring a model's items (src/core/topk-engine.ts); all return the same
 * ids and scores. `'auto'` (default): WASM SIMD where the browser has WebAssembly SIMD, else
 * plain TypeScript. `'webgpu'` runs a WGSL compute shader: only worth it on a real GPU (on a
 * software adapter such as SwiftShader it is correct but slower than WASM), so `'auto'` never
 * picks it — GPU timings have not been measured on this project's machines yet.
 */
export type KernelChoice = 'auto' | 'ts' | 'wasm-simd' | 'webgpu';

/** What {@link Ranker.load} needs. */
export interface RankerLoadOptions {
  /**
   * Which model this is (default `'sasrec'`). Several models load side by side, each with its
   * own encoder and shards; loading a name again replaces that model only.
   */
  model?: ModelName;
  /**
   * The SASRec user encoder as ONNX: input `item_ids` int64 (batch, seq) left-padded with 0,
   * output `user_vec` float32 (batch, dim).
   */
  encoder: Bytes;
  /**
   * Embedding shards (src/core/shard.ts format), any dtype (int8, f16, f32), in any order.
   * Shard row r is internal item `baseIndex + r`; together they must not overlap. At least one:
   * the rest may follow through {@link Ranker.addShards} as they download.
   */
  shards: Bytes[];
  /** Where the encoder runs; default `'auto'` (see device.ts for the rule). */
  device?: DeviceChoice;
  /** The retrieval kernel for this model's items (default: the ranker's, else `'auto'`). */
  kernel?: KernelChoice;
  /** Longest history the encoder was trained for; longer histories keep their last `maxLen` items. */
  maxLen: number;
  /**
   * The request-context features the encoder takes (the manifest's `config.context`; a
   * two-tower user tower trained with context has a second input, `context`). Omit or null for
   * an encoder without one (SASRec, older two-tower models).
   */
  context?: ContextSpec | null;
}

/**
 * The moment a user is encoded for, as far as the visitor's device knows it; the ranker turns it
 * into the model's context vector (src/core/context.ts). Ignored by encoders without context.
 */
export interface EncodeContext {
  /** Now, ms since the epoch (default `Date.now()` in the ranker's context). */
  time?: number;
  /** Minutes east of UTC of the visitor's clock (default: this device's zone at `time`). */
  utcOffsetMinutes?: number;
  /** When the history's last event happened (ms since the epoch); unknown counts as no gap. */
  previousTime?: number | null;
  /** That event's type (`view`, `click`, …); unknown types and none share one slot. */
  previousType?: string | null;
}

/** What {@link Ranker.addShards} takes. */
export interface AddShardsOptions {
  /** The model the shards belong to (default `'sasrec'`). */
  model?: ModelName;
  /** More embedding shards of that model's catalog; none may overlap those already loaded. */
  shards: Bytes[];
}

/** What {@link Ranker.addShards} reports. */
export interface AddShardsResult {
  /** Items of this model searchable now. */
  items: number;
  /** Shards of this model loaded so far. */
  shards: number;
}

/** What {@link Ranker.load} reports. */
export interface RankerLoadResult {
  /** The model loaded. */
  model: ModelName;
  /** The retrieval kernel scoring this model's items (`ts`, `wasm-simd`, `webgpu`). */
  kernel: string;
  /** The device the encoder runs on. */
  device: Device;
  /** Why that device, in words (e.g. "auto: the WebGPU adapter google/swiftshader is software ..."). */
  reason: string;
  /** Items loaded from the shards. */
  items: number;
  /** Embedding width shared by the encoder output and the shards. */
  dim: number;
  /** Milliseconds spent decoding shards, creating the session and running one warm-up encode. */
  loadMs: number;
}

/** One recommendation request. */
export interface RecommendRequest {
  /** Which loaded model answers (default `'sasrec'`). */
  model?: ModelName;
  /** External item ids the visitor interacted with, oldest first. Unknown ids are skipped. */
  history: string[];
  /** How many items to return (a non-negative integer). */
  k: number;
  /** External ids never to return (blocked, out of stock, ...). Unknown ids are ignored. */
  exclude?: string[];
  /** Leave out items already in `history` (default true). */
  excludeHistory?: boolean;
  /** The moment of the request, for a model with context features (default: now, here). */
  context?: EncodeContext;
}

/** One recommended item. */
export interface ScoredItem {
  id: string;
  /** Dot product of the user vector and the item embedding (0 on a cold start). */
  score: number;
}

/** Milliseconds spent in each stage of a recommendation (`performance.now()` in the ranker's context). */
export interface RecommendTimings {
  /** Running the ONNX encoder (0 on a cold start). */
  encodeMs: number;
  /** Scoring every item and selecting the top k. */
  scoreMs: number;
  /** Everything, including id mapping. */
  totalMs: number;
}

/** The answer to {@link Ranker.recommend}. */
export interface RecommendResult {
  /** Best first; ties go to the item that comes first in shard order. */
  items: ScoredItem[];
  timings: RecommendTimings;
  /**
   * True when no history item was known, so there was nothing to encode (the encoder has no
   * meaning on an empty sequence). Items then come in shard order (internal index order) with
   * score 0 — a popularity list when the catalog was exported most-popular first.
   */
  coldStart: boolean;
  /** History entries skipped because the loaded shards do not contain them. */
  unknownHistory: number;
  /** Items the answer was chosen from: fewer than the catalog while shards are still arriving. */
  itemsSearched: number;
}

/** What {@link Ranker.loadItems} takes: a model's items without its encoder (yet). */
export interface LoadItemsOptions {
  /** Which model (default `'sasrec'`); loading a name again replaces that model only. */
  model?: ModelName;
  /** At least one embedding shard; the rest may follow through {@link Ranker.addShards}. */
  shards: Bytes[];
  /** The retrieval kernel (default: the ranker's, else `'auto'`). */
  kernel?: KernelChoice;
}

/** What {@link Ranker.loadItems} reports. */
export interface LoadItemsResult {
  model: ModelName;
  kernel: string;
  items: number;
  dim: number;
  loadMs: number;
}

/** What {@link Ranker.attachEncoder} takes. */
export interface AttachEncoderOptions {
  /** The loaded model to give an encoder (default `'sasrec'`). */
  model?: ModelName;
  /** The user encoder as ONNX (as in {@link RankerLoadOptions.encoder}). */
  encoder: Bytes;
  maxLen: number;
  device?: DeviceChoice;
  /** The request-context features the encoder takes (as in {@link RankerLoadOptions.context}). */
  context?: ContextSpec | null;
}

/** What {@link Ranker.itemVectors} takes. */
export interface ItemVectorsRequest {
  /** Which loaded model's item table (default `'sasrec'`). */
  model?: ModelName;
  /** External item ids; unknown ones are reported in `missing`. */
  ids: string[];
}

/** What {@link Ranker.itemVectors} returns. */
export interface ItemVectors {
  dim: number;
  /** The requested ids the loaded shards hold, in request order (duplicates kept). */
  ids: string[];
  /**
   * (ids.length, dim) row-major: each item's embedding as the retrieval kernel scores it
   * (int8 rows dequantized as q × scale, f16 widened, f32 as stored).
   */
  vectors: Float32Array;
  /** Requested ids the loaded shards do not hold (yet). */
  missing: string[];
}

/** One search with a caller-made query vector (a profile vector, an item's own embedding). */
export interface SearchVectorRequest {
  /** Which loaded model's items to search (default `'sasrec'`). */
  model?: ModelName;
  /** (dim) the query; every value finite. */
  vector: Float32Array;
  /** How many items to return (a non-negative integer). */
  k: number;
  /** External ids never to return. Unknown ids are ignored. */
  exclude?: string[];
}

/** The answer to {@link Ranker.searchVector}. */
export interface SearchResult {
  /** Best first by dot product with the query; ties to the item first in shard order. */
  items: ScoredItem[];
  /** Items the answer was chosen from. */
  itemsSearched: number;
  timings: { scoreMs: number; totalMs: number };
}

/**
 * The ranker: per model, an ONNX user encoder plus item-embedding shards, searched with the
 * top-k engine of src/core/topk-engine.ts (WASM SIMD where available, else plain TypeScript).
 */
export interface Ranker {
  /**
   * Loads (or replaces) the encoder and shards and picks the device.
   *
   * @throws LocalrecError `bad-format` for a corrupt encoder or shard, an encoder whose
   *   output width differs from the shards', or an encoder and `context` spec that do not
   *   belong together (a `context` input without a spec, a spec without the input, another
   *   width); `bad-input` for bad options;
   *   `device-unavailable` when the requested device cannot run here.
   */
  load(options: RankerLoadOptions): Promise<RankerLoadResult>;
  /**
   * Adds embedding shards to a loaded model: recommendations cover them from the next call on,
   * so a page can recommend from the first shard and improve as the rest arrive.
   *
   * @throws LocalrecError `not-loaded` when that model is not loaded; `bad-format` for a corrupt
   *   shard, another dim, or rows/ids that overlap loaded ones (nothing is added then).
   */
  addShards(options: AddShardsOptions): Promise<AddShardsResult>;
  /**
   * Top-k items for a history.
   *
   * @throws LocalrecError `not-loaded` before {@link Ranker.load}; `bad-input` for a bad `k`.
   */
  recommend(request: RecommendRequest): Promise<RecommendResult>;
  /**
   * The user vector (dim) for a history — exposed for tests and diagnostics. `context` as in
   * {@link RecommendRequest.context}.
   *
   * @throws LocalrecError `not-loaded` before load; `bad-input` when no history id is known.
   */
  encode(history: string[], model?: ModelName, context?: EncodeContext): Promise<Float32Array>;
  /**
   * Loads (or replaces) a model's items without an encoder: searchVector(), itemVectors(),
   * addShards() and cold-start recommend() work at once; recommend() with a history needs
   * {@link Ranker.attachEncoder} first (`not-loaded` until then). For pages that want results
   * before ONNX Runtime has compiled (the first session costs seconds on a slow machine).
   *
   * @throws LocalrecError `bad-format` for a corrupt shard; `bad-input` for bad options.
   */
  loadItems(options: LoadItemsOptions): Promise<LoadItemsResult>;
  /**
   * Gives a loaded model its encoder (or a new one). The session is created without holding up
   * other calls: searches of the model's items go on meanwhile.
   *
   * @throws LocalrecError `not-loaded` when the model is not loaded (or was replaced meanwhile);
   *   `bad-format` for a corrupt encoder or one whose output width differs from the items';
   *   `device-unavailable` as for {@link Ranker.load}.
   */
  attachEncoder(options: AttachEncoderOptions): Promise<RankerLoadResult>;
  /**
   * The stored embeddings of some items — for item-to-item similarity, MMR diversity and
   * profile vectors built from a visitor's history.
   *
   * @throws LocalrecError `not-loaded` when that model is not loaded; `bad-input` when `ids` is
   *   not an array of strings.
   */
  itemVectors(request: ItemVectorsRequest): Promise<ItemVectors>;
  /**
   * Top-k items for a query vector the caller made, through the same kernel as
   * {@link Ranker.recommend} (no encoder run).
   *
   * @throws LocalrecError `not-loaded` when that model is not loaded; `bad-input` for a bad `k`,
   *   or a vector of the wrong length or with a non-finite value.
   */
  searchVector(request: SearchVectorRequest): Promise<SearchResult>;
  /**
   * Releases one model's session and shards (e.g. the previous version after a newer one
   * loaded under another name). Resolves false when no model has that name.
   */
  unload(model: ModelName): Promise<boolean>;
  /** Releases every model's ONNX session and shards; the ranker can be loaded again afterwards. */
  dispose(): Promise<void>;
}

/**
 * The SDK's public contract, declared once. Two implementations satisfy it:
 *
 * - `createRecommender()` (recommender/page.ts): the default entry. Everything heavy — manifest and
 *   blob verification, IndexedDB, ONNX inference, retrieval, the funnel — runs in a Web Worker
 *   (workers/recommender.worker.ts); the page holds a thin proxy.
 * - `createLocalRecommender()` (recommender/local.ts): the same object in the calling thread.
 *   The worker runs exactly this; tests use it directly with an injected `fetch`.
 *
 * Everything crossing the interface is structured-cloneable, except the callbacks (which the
 * worker-backed version passes through comlink proxies) and {@link RecommendFilters.predicate}
 * (in-process only). Failures are `LocalrecError`s whose `code` survives the worker hop.
 */
import type { ItemInfo } from '../core/types.ts';
import type { DeviceChoice } from './ranker/device.ts';
import type { EventContext, StoredEvent, TrackEvent } from './memory/events.ts';
import type { Consent } from './memory/records.ts';
import type { MemorySnapshot } from './memory/snapshot.ts';
import type { KernelChoice } from './ranker/api.ts';

export type { Consent, EventContext, MemorySnapshot, StoredEvent, TrackEvent };

/** The consent flags a page sets (both default to false: nothing is personal until then). */
export type ConsentFlags = Pick<Consent, 'personalization' | 'federated'>;

/** Where a load is. */
export type LoadPhase =
  /** Fetching and verifying the signed manifest. */
  | 'manifest'
  /** Downloading (or reading from cache) and verifying blobs. */
  | 'download'
  /**
   * The first embedding and metadata shards are in: recommendations work from here on (the
   * encoders join as their ONNX sessions are ready, the other shards as they arrive).
   */
  | 'ready'
  /** Every shard of every model is loaded. */
  | 'complete'
  /** A newer model version is downloading in the background; the current one keeps serving. */
  | 'update';

/** What `onProgress` hears, on every phase change and as bytes arrive. */
export interface LoadProgress {
  phase: LoadPhase;
  /** The version being loaded (`manifest.modelVersion`), once known. */
  modelVersion: string | null;
  /** Bytes of this version's blobs verified so far (from the network or the cache). */
  loadedBytes: number;
  /** Bytes of every blob this version needs. */
  totalBytes: number;
  /** Of `loadedBytes`, how many came from the local cache. */
  cachedBytes: number;
  /** Items recommendations can come from now. */
  items: number;
  /** Items once every shard is in. */
  totalItems: number;
  /** 0..1 over bytes. */
  progress: number;
  /** One line a page can show, e.g. "downloading model 1.2/4.0 MB". */
  text: string;
}

/** A warning that did not fail a call (a cache that could not be written, a periodic check that failed). */
export interface RecommenderWarning {
  code:
    | 'integrity' // a cached or downloaded blob failed its sha256 and was discarded
    | 'cache' // Cache Storage or the IndexedDB fallback could not store or evict a blob
    | 'update' // a background check for a new model version failed; the current one keeps serving
    | 'memory' // the visitor's memory reported a problem (corrupt record, another tab, ...)
    | 'listener' // an onChange listener threw
    | 'outbox' // a queued federated update was dropped, or sending the outbox failed
    | 'consent'; // a consent request was not honoured as asked (Global Privacy Control)
  message: string;
}

/** What the factories take. */
export interface RecommenderOptions {
  /** Base URL of the localrec server (`GET {server}/v1/manifest`, `/v1/blobs/{sha256}`). */
  server: string;
  /** The site's Ed25519 public key, base64 of the raw 32 bytes (`localrec keygen`'s .pub). */
  publicKey: string;
  /** Where the encoders run (default `'auto'`: WebGPU on a hardware adapter, else WASM). */
  device?: DeviceChoice;
  /** The retrieval kernel (default `'auto'`: WASM SIMD, else TypeScript). */
  kernel?: KernelChoice;
  /**
   * The visitor's consent as the page knows it (its banner). Given flags are stored; omitted
   * ones keep what the visitor chose before (default false). Without `personalization`,
   * `track()` stores nothing and recommendations are the same for everyone.
   */
  consent?: Partial<ConsentFlags>;
  /**
   * The visitor's Global Privacy Control signal. While it is on, federated learning stays off
   * whatever consent says (no delta is queued or posted); on-device personalization, which
   * sends nothing, is unaffected. Default: `navigator.globalPrivacyControl` of the page (and of
   * the worker) — pass it to override what the browser reports.
   */
  globalPrivacyControl?: boolean;
  /** IndexedDB database and Cache Storage name (default `'localrec'`): one visitor memory per name. */
  name?: string;
  /**
   * How often to check the server for a new model version, in ms (default 1 hour; 0: only at
   * start and on {@link Recommender.refresh}).
   */
  refreshIntervalMs?: number;
  /** How the list is put together (see funnel weights in funnel/blend.ts). */
  rerank?: RerankOptions;
  /** Hears load progress. */
  onProgress?: (progress: LoadProgress) => void;
  /** Hears changes (the same events as {@link Recommender.onChange}). */
  onChange?: (change: RecommenderChange) => void;
  /** Hears what went wrong without failing a call (default: `console.warn`). */
  onWarning?: (warning: RecommenderWarning) => void;
}

/** Knobs of the blend and rerank. */
export interface RerankOptions {
  /** MMR trade-off in [0, 1]: 1 = pure relevance, lower = more diverse (default 0.7). */
  lambda?: number;
  /** Slots per 10 items filled by Thompson-sampled exploration (default 1; 0 turns it off). */
  explorationPer10?: number;
  /** Seed of the exploration draws (default: random per recommender). */
  seed?: number;
}

/** Declarative filters: plain data, so they cross the worker boundary. */
export interface RecommendFilters {
  /** Keep only items with at least one of these categories; leave out items with any of `exclude`. */
  categories?: { include?: string[]; exclude?: string[] };
  /** Leave out items the visitor already interacted with (default true). */
  excludeSeen?: boolean;
  /** Leave out items the visitor disliked (default true). */
  excludeDisliked?: boolean;
  /**
   * A custom predicate: return false to drop an item. In-process only — a function cannot
   * cross to the worker, so the worker-backed recommender rejects it with `bad-input`.
   */
  predicate?: (item: ItemSummary) => boolean;
}

/** Where a list will be shown. */
export interface RecommendContext {
  /**
   * The item the visitor is looking at: it joins the short-term sequence (with or without
   * consent: it is context, not memory, and is not stored) and is never returned.
   */
  itemId?: string;
  /**
   * Which list this is (default `'default'`). Skips are counted per slot: an item of the last
   * list of a slot that was shown (a tracked `view`) but not engaged with before the next
   * `recommend()` of that slot counts against its category.
   */
  slot?: string;
}

/** One recommendation request. */
export interface RecommendOptions {
  /** How many items (default 10). */
  k?: number;
  context?: RecommendContext;
  /** External ids never to return (out of stock, blocked on this page, ...). */
  exclude?: string[];
  filters?: RecommendFilters;
}

/**
 * What the page gets to render an item: its metadata as the export's metadata shards carry it
 * (id, title, categories, http(s) `url` and `image`, `popularity`, `addedAt`).
 */
export type ItemSummary = ItemInfo;

/** Why an item is in a list: the candidate source that contributed most, or exploration. */
export type ReasonCode =
  | 'sasrec' // next-item scores over the recent session (short-term interest)
  | 'two-tower' // the two-tower retriever over the whole history
  | 'long-term' // the visitor's long-term profile vector
  | 'categories' // categories the visitor keeps choosing (long-term category affinity)
  | 'popular'
  | 'fresh'
  | 'similar' // item-to-item (similar())
  | 'explore'; // an exploration slot (Thompson sampling over categories)

/** One recommended item. */
export interface RecommendedItem extends ItemSummary {
  /** Blended score (reciprocal-rank fusion, or cosine for similar()); higher is better. */
  score: number;
  reason: ReasonCode;
  /** Every source that proposed it, strongest first. */
  sources: string[];
}

/** Milliseconds per stage, measured where the work ran (the worker, for createRecommender). */
export interface RecommendTimings {
  /** Reading the visitor's state (the in-memory mirror of their IndexedDB memory). */
  stateMs: number;
  /** Candidate sources: encoders plus top-k retrieval over every item. */
  retrieveMs: number;
  /** Blend, filters, MMR and exploration. */
  rerankMs: number;
  totalMs: number;
}

/** The answer to recommend() and similar(). */
export interface Recommendation {
  items: RecommendedItem[];
  /** The model version that answered. */
  modelVersion: string;
  /** True when nothing personal was used (no consent, or no history yet). */
  coldStart: boolean;
  /** Items searched: fewer than {@link totalItems} while shards are still arriving. */
  itemsSearched: number;
  totalItems: number;
  timings: RecommendTimings;
}

/** The answer to explain(). */
export interface Explanation {
  itemId: string;
  /** One sentence for the page, e.g. "Because you viewed The Silent Harbor: also Drama." */
  text: string;
  reason: ReasonCode | 'unknown';
  /** Categories the item shares with the visitor's recent history. */
  sharedCategories: string[];
  /** Recent history items most like it (by embedding), with titles. */
  becauseOf: { id: string; title: string }[];
}

/** The answer to catalog(). */
export interface CatalogListing {
  /** The model version the items belong to. */
  modelVersion: string;
  /**
   * Every item, in the export's index order; an item without a title has its id as title. An
   * export without metadata shards lists its items' ids (from the embedding shards).
   */
  items: ItemSummary[];
}

/** What track() did. */
export interface TrackResult {
  /** False when nothing was stored because the visitor has not consented to personalization. */
  stored: boolean;
  event?: StoredEvent;
}

/** The state of the loaded model. */
export interface RecommenderStatus {
  modelVersion: string;
  /** Publication number of the manifest, when it has one. */
  manifestVersion: number | null;
  /** Where the manifest came from at the last check. */
  source: 'network' | 'cache';
  /** Loaded models (`sasrec`, and `two-tower` when the manifest has one). */
  models: string[];
  items: number;
  totalItems: number;
  /** Every shard of every model loaded. */
  complete: boolean;
  /** Where the encoders run (`webgpu`, `wasm`), or `loading` until the first one is ready. */
  device: string;
  kernel: string;
  /**
   * The consent in effect: as the visitor set it, except that `federated` reads false while
   * Global Privacy Control is on.
   */
  consent: Consent;
  /** Whether Global Privacy Control is on for this recommender. */
  globalPrivacyControl: boolean;
  /** Federated updates waiting in the outbox to be posted. */
  pendingUpdates: number;
}

/** What contribute() did. */
export interface ContributeResult {
  /** False when federated learning is off (no consent, or Global Privacy Control): nothing was kept. */
  queued: boolean;
  /** The delta's update id (the server's idempotency key), when queued. */
  updateId?: string;
  /** Updates waiting in the outbox after this call. */
  pending: number;
}

/** What flushOutbox() did. */
export interface OutboxFlush {
  /** Updates the server took. */
  posted: number;
  /** Updates given up (refused for good, too old, too many attempts, consent withdrawn). */
  dropped: number;
  /** Updates still waiting. */
  pending: number;
  /** Why it stopped before the outbox was empty: offline, no consent, or a retry is scheduled. */
  stopped: 'offline' | 'consent' | 'retry' | null;
}

/** What refresh() found. */
export interface RefreshResult {
  /** True when a newer version was verified, loaded and swapped in. */
  changed: boolean;
  modelVersion: string;
}

/** What onChange listeners hear (after the change took effect). */
export type RecommenderChange =
  | { kind: 'track'; event: StoredEvent }
  | { kind: 'profile' }
  | { kind: 'consent'; consent: Consent }
  | { kind: 'import' }
  | { kind: 'forget' }
  /** Another tab or worker changed the visitor's memory; this recommender's view was reloaded. */
  | { kind: 'sync' }
  | { kind: 'outbox'; posted: number; dropped: number; pending: number }
  | { kind: 'model'; modelVersion: string; previous: string | null };

/**
 * The recommender: the visitor's private memory plus the on-device funnel
 * (retrieve → blend → rerank) over a signed, verified model.
 */
export interface Recommender {
  /**
   * Records what the visitor did (with consent; otherwise nothing is stored).
   * @throws LocalrecError `bad-input` naming the wrong field; `quota` when the browser refuses
   *   to store more even after compaction.
   */
  track(event: TrackEvent): Promise<TrackResult>;
  /**
   * The best `k` items for the visitor now.
   * @throws LocalrecError `bad-input` for a bad k or filter.
   */
  recommend(options?: RecommendOptions): Promise<Recommendation>;
  /**
   * Items like `itemId` (its embedding as the query, ranked by cosine).
   * @throws LocalrecError `not-found` when the model does not know the item.
   */
  similar(itemId: string, k?: number): Promise<Recommendation>;
  /** A template-based reason for an item (why it was, or would be, recommended). */
  explain(itemId: string): Promise<Explanation>;
  /**
   * Every item the current model version ships, with its metadata (title, categories, links),
   * in the export's order (most popular first) — for a page that lists the catalog itself. Read
   * through the same verified loader as the model: each metadata shard is checked against its
   * sha256 (from the cache when it is there, so it costs no second download).
   * @throws LocalrecError `integrity` / `bad-format` when a metadata shard fails its check.
   */
  catalog(): Promise<CatalogListing>;
  /**
   * Checks the server for a new model version; a verified one is swapped in atomically, and
   * the old one serves until then.
   * @throws LocalrecError `integrity` when the new version's manifest or a blob fails its check
   *   (the current version keeps serving).
   */
  refresh(): Promise<RefreshResult>;
  /** Resolves when every shard of every model is loaded (recommend() works before that). */
  whenComplete(): Promise<RecommenderStatus>;
  status(): Promise<RecommenderStatus>;
  getConsent(): Promise<Consent>;
  setConsent(consent: Partial<ConsentFlags>): Promise<Consent>;
  /**
   * Queues a federated update — a delta in the format of src/core/delta.ts, already clipped
   * and noised by the local trainer — in the visitor's outbox (IndexedDB), and sends it when
   * online. Only with `federated` consent and without Global Privacy Control; otherwise nothing
   * is kept (`queued: false`). Withdrawing consent deletes whatever is still queued.
   * @throws LocalrecError `bad-format` / `unsupported-version` when the bytes are not a valid delta.
   */
  contribute(delta: Uint8Array | ArrayBuffer): Promise<ContributeResult>;
  /**
   * Posts the queued federated updates now (it also happens by itself: at start, after
   * contribute(), when the browser comes back online, and on a backoff timer after failures).
   */
  flushOutbox(): Promise<OutboxFlush>;
  /** A JSON snapshot of everything the visitor owns (events, sessions, profile, consent, settings). */
  exportMemory(): Promise<MemorySnapshot>;
  /** Replaces the visitor's memory with a snapshot. @throws LocalrecError `bad-format`. */
  importMemory(snapshot: MemorySnapshot): Promise<void>;
  /**
   * Deletes everything stored about the visitor on this device — the IndexedDB database, the
   * Cache Storage cache, and every in-memory copy — and goes on recommending as to a new visitor
   * without consent (the model stays in RAM; nothing is written until consent is given again).
   */
  forget(): Promise<void>;
  /** Calls `listener` after every change; returns the unsubscribe function. */
  onChange(listener: (change: RecommenderChange) => void): () => void;
  /** Stops background work and releases the model and the database connection. */
  close(): Promise<void>;
}

/**
 * The methods of {@link Recommender} that every face of the SDK forwards as they are: the page's
 * proxy of the worker (createRecommender), the in-process object's closed-check
 * (createLocalRecommender) and the embed's `window.localrec` are all built from this list. The
 * two left out, `onChange` and `close`, are each face's own (listeners stay where they were
 * added; closing releases that face's resources).
 */
export const RECOMMENDER_METHODS = [
  'track',
  'recommend',
  'similar',
  'explain',
  'catalog',
  'refresh',
  'whenComplete',
  'status',
  'getConsent',
  'setConsent',
  'contribute',
  'flushOutbox',
  'exportMemory',
  'importMemory',
  'forget',
] as const satisfies readonly (keyof Recommender)[];

/** A method of {@link RECOMMENDER_METHODS}. */
export type RecommenderMethod = (typeof RECOMMENDER_METHODS)[number];

/** The forwarded part of the interface: what {@link RECOMMENDER_METHODS} names. */
export type RecommenderCalls = Pick<Recommender, RecommenderMethod>;

type Unlisted = Exclude<keyof Recommender, RecommenderMethod | 'onChange' | 'close'>;
type MustBeTrue<T extends true> = T;
/**
 * A compile-time check that {@link RECOMMENDER_METHODS} names every method but the two each
 * face keeps: a method added to {@link Recommender} and not to the list fails to compile here,
 * instead of missing from a face at run time.
 */
export type EveryMethodListed = MustBeTrue<[Unlisted] extends [never] ? true : false>;

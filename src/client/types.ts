/**
 * The data that crosses the SDK's interface (api.ts): what the calls take and answer,
 * and what the callbacks hear. Everything here is structured-cloneable, except
 * {@link RecommendFilters.predicate} (in-process only).
 */
import type { ItemInfo } from '../core/types.ts';
import type { EventContext, StoredEvent, TrackEvent } from './memory/events.ts';
import type { Consent } from './memory/records.ts';
import type { MemorySnapshot } from './memory/snapshot.ts';
import type { AnswerSource, AskConstraints, LlmStatus } from './assistant/api.ts';

export type { Consent, EventContext, MemorySnapshot, StoredEvent, TrackEvent };
export type * from './assistant/api.ts';

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
    | 'consent' // a consent request was not honoured as asked (Global Privacy Control)
    | 'trainer'; // the federated trainer could not fine-tune or queue this round's update
  message: string;
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
  | 'query' // its title matches the words of an ask() request
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

/** Options of ask(). */
export interface AskOptions {
  /** How many items (default 10). */
  k?: number;
  context?: RecommendContext;
  /** External ids never to return. */
  exclude?: string[];
  /**
   * Start a new conversation: the previous request is forgotten before this one (the
   * conversation lives in memory only, never in IndexedDB).
   */
  newConversation?: boolean;
}

/** The answer to ask(). */
export interface AskResult {
  items: RecommendedItem[];
  /** One short sentence for the visitor. */
  reply: string;
  /** What the request was understood as (the filters and query applied). */
  constraints: AskConstraints;
  source: AnswerSource;
  /** Why the LLM's answer was not used, when the keyword parser answered though it ran. */
  fallback?: string;
  modelVersion: string;
}

/** The answer to explain(). */
export interface Explanation {
  itemId: string;
  /** One sentence for the page, e.g. "Because you viewed The Silent Harbor: also Drama." */
  text: string;
  reason: ReasonCode | 'unknown';
  /** Categories the item shares with the visitor's recent history. */
  sharedCategories: string[];
  /**
   * Recent history items most like it (by embedding), with titles; when an LLM wrote `text`,
   * the ones it cited as evidence (always among those it was given).
   */
  becauseOf: { id: string; title: string }[];
  /** Who wrote `text`: the template, or the on-device LLM (engine and model). */
  source: AnswerSource;
  /** Why the template answered although an LLM was loaded (its answer failed a check). */
  fallback?: string;
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
  /** What the on-device federated trainer is doing, and why. */
  federated: FederatedStatus;
  /** The on-device LLM: which engine is active, or why none (explanations use templates then). */
  llm: LlmStatus;
}

/** What the on-device federated trainer is doing ({@link RecommenderStatus.federated}). */
export interface FederatedStatus {
  /**
   * - `off`: it will not train (no `federated` or `personalization` consent, Global Privacy
   *   Control, no trainable weights in the model, turned off by the site) — see `reason`;
   * - `waiting`: allowed, but there is nothing to do now: no round open for the model this
   *   device runs, already contributed to it, or too little history;
   * - `scheduled`: a round is open and this device will fine-tune once the page is idle;
   * - `training`: fine-tuning now, in the trainer worker.
   */
  state: 'off' | 'waiting' | 'scheduled' | 'training';
  /** Why, in one sentence a page can show. */
  reason: string;
  /** The open round the trainer last saw (null when none, or not checked: it is off). */
  round: { id: number; baseModelVersion: string; deadline: string } | null;
  /** Deltas this device computed and queued so far (see `contributions()`). */
  contributions: number;
  /**
   * The differential privacy the server accounted for the rounds the model in use learned from
   * (its manifest's `federated.privacy`): ε at δ over every round so far, through round `round`
   * — the guarantee for everyone who took part, this visitor included. `epsilon` null: a round
   * ran without noise (no guarantee). null: the model states none (no federated round yet).
   */
  privacy: { epsilon: number | null; delta: number; round: number | null } | null;
}

/** One federated delta this device computed and queued (`contributions()`, "Your data"). */
export interface Contribution {
  /** The update id (the server counts an update once per id). */
  updateId: string;
  roundId: number;
  /** The model version it was fine-tuned from. */
  baseModelVersion: string;
  /** When it was computed and queued (ms since the epoch). */
  createdAt: number;
  /** When the server took it (ms), or null. */
  sentAt: number | null;
  /**
   * `sent` (the server took it), `waiting` (in the outbox, e.g. offline), or `not-sent` (it
   * left the outbox without being taken: consent withdrawn, refused by the server, too old).
   */
  status: 'sent' | 'waiting' | 'not-sent';
  /** Size of the encoded delta as posted, in bytes. */
  bytes: number;
  /** L2 norm of the fine-tuning change before clipping. */
  normBeforeClip: number;
  /** The round's clip bound: the delta's norm is at most this. */
  clipNorm: number;
  /** Whether clipping shrank it (normBeforeClip > clipNorm). */
  clipped: boolean;
  /** Where it was computed (`webgpu`, `wasm`). */
  device: string;
  /** Local optimizer steps. */
  steps: number;
  /** History items (known to the model) it learned from; they never leave the device. */
  items: number;
  /** Fine-tuning time in ms. */
  trainMs: number;
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
  /** The trainer computed a delta for a round and queued it in the outbox. */
  | { kind: 'contribution'; contribution: Contribution }
  | { kind: 'model'; modelVersion: string; previous: string | null }
  /** The on-device LLM's status changed (loading progress by whole percents, ready, failed). */
  | { kind: 'llm'; llm: LlmStatus };

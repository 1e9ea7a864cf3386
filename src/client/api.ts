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
import type { DeviceChoice } from './ranker/device.ts';
import type { KernelChoice } from './ranker/api.ts';
import type { LlmChoice } from './llm/api.ts';
import type {
  AskOptions,
  AskResult,
  CategoryInterests,
  ExplainOptions,
  LlmStatus,
  OnboardResult,
  Consent,
  ConsentFlags,
  ContributeResult,
  Contribution,
  CatalogListing,
  Explanation,
  LoadProgress,
  MemorySnapshot,
  OutboxFlush,
  Recommendation,
  RecommenderChange,
  RecommenderStatus,
  RecommenderWarning,
  RecommendOptions,
  RefreshResult,
  TrackEvent,
  TrackResult,
} from './types.ts';

export type * from './types.ts';

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
  /**
   * The on-device LLM for explain(), ask() and onboard() (default `'auto'`: WebGPU on a real
   * adapter that fits the model, else WASM; not on Save-Data — llm/capability.ts). It never
   * downloads by itself: the model is fetched only when the page calls {@link Recommender.loadLlm}.
   * With `'off'`, with no model in the manifest, or where none fits the device, every call still
   * answers — templates and a keyword parser — and `status().llm` says why.
   */
  llm?: LlmChoice;
  /**
   * The on-device federated trainer (default on: it trains only with `federated` and
   * `personalization` consent, without Global Privacy Control, while a round is open for the
   * model this device runs); `false` turns it off (contribute() still works).
   */
  trainer?: TrainerOptions | false;
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

/** Knobs of the on-device federated trainer (src/client/trainer/). */
export interface TrainerOptions {
  /** Where fine-tuning runs (default `'auto'`: WebGPU on a hardware adapter, else WASM). */
  device?: DeviceChoice;
  /**
   * How long the recommender must have had no call (recommend, track, …) before it trains, in
   * ms (default 5000). A call that arrives while it trains stops the training, which starts
   * again at the next idle moment.
   */
  idleMs?: number;
  /** How often to ask the server for the open round while allowed to train (default 10 min). */
  roundCheckMs?: number;
  /**
   * Local differential privacy (default 0, off): Gaussian noise of standard deviation
   * `localNoise × clipNorm` on every value before the delta is clipped again and rounded
   * (src/core/privacy/privatize.ts). It protects the visitor even from the server, at a steep
   * price: with P parameters the noise's norm is about √P · localNoise · C, so little of the
   * visitor's signal survives unless very many visitors contribute.
   */
  localNoise?: number;
  /**
   * The trainer worker's script (an absolute URL of the built `trainer.worker` chunk), for a
   * recommender whose own worker runs on another origin than its code (the one-tag embed);
   * default: the chunk next to this module (`new URL('…/trainer.worker.js', import.meta.url)`).
   */
  workerUrl?: string;
}

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
  /**
   * Why an item was (or would be) recommended: the on-device LLM's sentence when a model is
   * loaded and its answer passes the grounding check (it cites only history items it was given
   * and names no other title), else — at once when no model is loaded — the template.
   * `source` says who wrote it; `stream` hears the LLM's text as it is written.
   */
  explain(itemId: string, options?: ExplainOptions): Promise<Explanation>;
  /**
   * Recommendations for a request in plain words ("something lighter from the 90s, not
   * horror"): the LLM (or, without one, a keyword parser) turns it into categories to include or
   * exclude, a year or price range where the catalog has one, and title words; the funnel
   * applies them as filters, the title words as a lexical match. The previous request of the
   * conversation is kept in memory only (never in IndexedDB).
   * @throws LocalrecError `bad-input` for an empty or over-long request or a bad k.
   */
  ask(text: string, options?: AskOptions): Promise<AskResult>;
  /**
   * Starting category interests from a sentence of taste ("I love sci-fi, no horror"), stored
   * with personalization consent (in the visitor's memory, editable with setInterests()).
   */
  onboard(text: string): Promise<OnboardResult>;
  /** The stated category interests in effect ({} without personalization consent). */
  interests(): Promise<CategoryInterests>;
  /**
   * Replaces the stated interests ({} clears them); stored only with personalization consent.
   * @throws LocalrecError `bad-input` for a category the catalog lacks or a weight outside [-1, 1].
   */
  setInterests(interests: CategoryInterests): Promise<CategoryInterests>;
  /**
   * Downloads (when not cached) and loads the on-device LLM the device fits; resolves with its
   * status (`ready`, or why not). Nothing is fetched for the LLM before this call.
   */
  loadLlm(): Promise<LlmStatus>;
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
  /**
   * The federated deltas this device computed and queued, newest first: when, for which round,
   * their size, the norm of the change before clipping, and whether the server took them. Only
   * facts about each delta are kept, never its values or the history it came from.
   */
  contributions(): Promise<Contribution[]>;
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
  'ask',
  'onboard',
  'interests',
  'setInterests',
  'loadLlm',
  'catalog',
  'refresh',
  'whenComplete',
  'status',
  'getConsent',
  'setConsent',
  'contribute',
  'flushOutbox',
  'contributions',
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

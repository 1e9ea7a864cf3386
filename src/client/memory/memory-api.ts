/**
 * The visitor's private memory, declared once. `openMemory()` (memory.ts) implements it over
 * IndexedDB; the SDK (`createRecommender`) keeps one per page and the ranker reads history from
 * it. Nothing in it ever leaves the device: `exportMemory()` hands the visitor their own data.
 *
 * Every write is one IndexedDB transaction: it commits entirely or not at all, and change
 * listeners hear of it only after it committed. Failures are `LocalrecError`s: `bad-input` for
 * a bad argument (nothing is written), `quota` when the browser refuses to store more even
 * after compacting the oldest events (everything stored before is kept), `not-loaded` after
 * `close()`/`forget()`.
 */
import type { StoredEvent, TrackEvent } from './events.ts';
import type { Session } from './history.ts';
import type { CategoriesOf, Profile } from './profile.ts';
import type {
  CacheEntry,
  Consent,
  ContributionRecord,
  JsonValue,
  OutboxRecord,
} from './records.ts';
import type { MemoryStoreName } from './schema.ts';
import type { MemorySnapshot } from './snapshot.ts';

/** What {@link Memory.onChange} listeners hear, after the write committed. */
export type MemoryChange = { stores: readonly MemoryStoreName[] } & (
  | {
      kind: 'track';
      event: StoredEvent;
      session: Session;
      /** Oldest events folded into the profile in the same transaction (0 when within bounds). */
      compacted: number;
    }
  /** The oldest events were folded into the profile to make room after a quota error. */
  | { kind: 'compact'; compacted: number }
  | { kind: 'profile'; profile: Profile }
  /** `entry` null: the entry (and any fallback bytes) was deleted. */
  | { kind: 'cache'; sha256: string; entry: CacheEntry | null }
  /** Bytes stored in the IndexedDB fallback, with their cache entry. */
  | { kind: 'blob'; sha256: string; entry: CacheEntry }
  /** `record` null: the update was removed (posted, or given up). */
  | { kind: 'outbox'; id: string; record: OutboxRecord | null }
  /** `record` null: the record was deleted. */
  | { kind: 'contribution'; id: string; record: ContributionRecord | null }
  | { kind: 'consent'; consent: Consent }
  /** `value` undefined: the key was deleted. */
  | { kind: 'settings'; key: string; value: JsonValue | undefined }
  | { kind: 'import'; events: number }
  | { kind: 'forget' }
);

export type MemoryChangeKind = MemoryChange['kind'];

/** Something went wrong that did not fail the call (see {@link OpenMemoryOptions.onWarning}). */
export interface MemoryWarning {
  code:
    | 'corrupt-record' // a stored record failed its check; it was skipped
    | 'categories-failed' // categoriesOf threw; those events were compacted without categories
    | 'listener-failed' // an onChange listener threw (the write had committed)
    | 'compacted-for-quota' // a quota error made the memory fold its oldest events early
    | 'blocked' // another tab holds the database open and delays an upgrade or forget()
    | 'closed-elsewhere'; // another tab upgraded or deleted the database; this memory is closed
  message: string;
  store?: MemoryStoreName;
  key?: IDBValidKey;
}

/** What {@link openMemory} takes. */
export interface OpenMemoryOptions {
  /** IndexedDB database name (default `'localrec'`); one visitor memory per name. */
  name?: string;
  /**
   * Most events kept raw (default 5,000). Beyond it the oldest are folded into the profile and
   * deleted, down to 90 % of the bound.
   */
  maxEvents?: number;
  /** Inactivity after which the next event starts a new session (default 30 minutes). */
  sessionGapMs?: number;
  /** Clock in ms since the epoch (default `Date.now`); tests inject one. */
  now?: () => number;
  /** An item's categories, used when events are compacted into per-category statistics. */
  categoriesOf?: CategoriesOf;
  /** Hears what went wrong without failing a call (default: `console.warn`). */
  onWarning?: (warning: MemoryWarning) => void;
  /**
   * For tests: called inside every write transaction just before it commits; throwing aborts
   * the transaction as a failing write would (e.g. a `QuotaExceededError` DOMException).
   */
  beforeCommit?: (kind: MemoryChangeKind) => void;
}

/** A cache entry to write; the times default to now. */
export type CacheEntryInput = Omit<CacheEntry, 'storedAt' | 'lastUsed'> & {
  storedAt?: number;
  lastUsed?: number;
};

/** Counts for diagnostics and tests. */
export interface MemoryStats {
  /** Raw events stored (including unreadable ones). */
  events: number;
  sessions: number;
  cacheEntries: number;
  outbox: number;
  /** Events folded into the profile so far (`profile.counts.compactedEvents`). */
  compactedEvents: number;
  /** Distinct corrupt records this connection met and skipped (each reported once). */
  corruptRecords: number;
}

/** The sessions of {@link Memory}. */
export interface MemorySessions {
  /** The latest session if it is still open (last event within the gap of now), else undefined. */
  current(): Promise<Session | undefined>;
  /** Sessions, most recent activity first. */
  list(options?: { limit?: number }): Promise<Session[]>;
  /** One session's events, oldest first. */
  events(sessionId: string): Promise<StoredEvent[]>;
}

/** The model/shard cache index (sha256 → where and when) of {@link Memory}. */
export interface MemoryCacheIndex {
  get(sha256: string): Promise<CacheEntry | undefined>;
  /** Adds or replaces an entry. @throws LocalrecError `bad-input` for a malformed entry. */
  put(entry: CacheEntryInput): Promise<CacheEntry>;
  /** Marks an entry used (default: now); undefined when there is none. */
  touch(sha256: string, at?: number): Promise<CacheEntry | undefined>;
  /** Deletes the entry and its fallback bytes, if any; true when there was an entry. */
  delete(sha256: string): Promise<boolean>;
  /** Every entry, least recently used first (the eviction order). */
  list(): Promise<CacheEntry[]>;
}

/** Blob bytes in IndexedDB, for when Cache Storage is unavailable. */
export interface MemoryBlobs {
  /** The bytes, or undefined. The caller checks the sha256 before use, as for any blob. */
  get(sha256: string): Promise<Uint8Array | undefined>;
  /**
   * Stores bytes (copied) together with their cache entry (`where: 'idb'`), in one transaction.
   * @throws LocalrecError `quota` when there is no room even after compacting events.
   */
  put(
    sha256: string,
    bytes: ArrayBuffer | Uint8Array,
    options: { kind: string },
  ): Promise<CacheEntry>;
}

/** Pending federated delta posts. */
export interface MemoryOutbox {
  /**
   * Queues a delta (bytes copied); `id` (default: random) is the update id the server
   * deduplicates by. @throws LocalrecError `bad-input` when that id is already queued.
   */
  add(update: {
    id?: string;
    roundId: string;
    bytes: ArrayBuffer | Uint8Array;
  }): Promise<OutboxRecord>;
  /** Every pending update, oldest first. */
  list(): Promise<OutboxRecord[]>;
  /** Removes an update (posted or given up); true when it was there. */
  remove(id: string): Promise<boolean>;
  /** Counts a post attempt (at `at`, default now); undefined when there is no such update. */
  markAttempt(id: string, at?: number): Promise<OutboxRecord | undefined>;
  /**
   * Keeps the round ticket an update is posted with (null: forget it, to fetch another);
   * undefined when there is no such update.
   */
  setTicket(id: string, ticket: string | null): Promise<OutboxRecord | undefined>;
}

/**
 * The federated deltas this device computed and queued, for the visitor to see: facts about
 * each (round, size, norm before clipping, when queued and sent), never its values. At most
 * {@link MAX_CONTRIBUTIONS} are kept; the oldest go first.
 */
export interface MemoryContributions {
  /**
   * Records a contribution (`sentAt` null). @throws LocalrecError `bad-input` for a malformed
   * record or an id already recorded.
   */
  add(record: Omit<ContributionRecord, 'sentAt'>): Promise<ContributionRecord>;
  /** Every record, oldest first. */
  list(): Promise<ContributionRecord[]>;
  /** Notes that the server took it (at `at`, default now); undefined when there is no such record. */
  markSent(id: string, at?: number): Promise<ContributionRecord | undefined>;
  /** Deletes a record; true when it was there. */
  remove(id: string): Promise<boolean>;
}

/** Contribution records kept (the oldest are deleted beyond it). */
export const MAX_CONTRIBUTIONS = 200;

/** Consent and other settings. */
export interface MemorySettings {
  /** Both flags default to false until set. */
  getConsent(): Promise<Consent>;
  /** Changes the given flags only. @throws LocalrecError `bad-input` for a non-boolean. */
  setConsent(consent: Partial<Pick<Consent, 'personalization' | 'federated'>>): Promise<Consent>;
  get(key: string): Promise<JsonValue | undefined>;
  /** @throws LocalrecError `bad-input` for a value JSON cannot carry, or the key 'consent'. */
  set(key: string, value: JsonValue): Promise<void>;
  /** True when the key was set. */
  delete(key: string): Promise<boolean>;
}

/** The visitor's private memory. */
export interface Memory {
  /** The IndexedDB database name. */
  readonly name: string;
  /**
   * Validates and stores an event in the current session (a new one after the inactivity gap);
   * compacts the oldest events into the profile when over `maxEvents`.
   * @throws LocalrecError `bad-input` for an unknown type, a missing itemId, a non-finite number
   *   or a rating out of range; `quota` as described on the module.
   */
  track(event: TrackEvent): Promise<StoredEvent>;
  /** The latest `n` events by timestamp, oldest first. */
  recentEvents(n: number): Promise<StoredEvent[]>;
  /** Every stored event of one item, oldest first (e.g. for explanations). */
  eventsForItem(itemId: string): Promise<StoredEvent[]>;
  /**
   * Item ids for the sequence model, oldest → newest: the latest `limit` (default 200) after
   * leaving out dislikes and collapsing repeats in a row.
   */
  history(options?: { limit?: number }): Promise<string[]>;
  /** The profile (corrupt parts dropped and reported). */
  getProfile(): Promise<Profile>;
  /**
   * Read-modify-write of the profile in one transaction. `update` gets a copy, must be
   * synchronous, and returns the new profile (or changes the copy and returns nothing).
   * @throws LocalrecError `bad-input` when the result is not a valid profile (nothing written).
   */
  updateProfile(update: (profile: Profile) => Profile | void): Promise<Profile>;
  readonly sessions: MemorySessions;
  readonly cache: MemoryCacheIndex;
  readonly blobs: MemoryBlobs;
  readonly outbox: MemoryOutbox;
  readonly contributions: MemoryContributions;
  readonly settings: MemorySettings;
  stats(): Promise<MemoryStats>;
  /** A JSON-serialisable snapshot of everything the visitor owns (not caches, blobs, outbox). */
  exportMemory(): Promise<MemorySnapshot>;
  /**
   * Replaces events, sessions, profile, consent and settings with a snapshot's, in one
   * transaction; events beyond `maxEvents` are folded into the profile first.
   * @throws LocalrecError `bad-format`/`unsupported-version` for a bad snapshot (nothing changed).
   */
  importMemory(snapshot: MemorySnapshot): Promise<void>;
  /**
   * Deletes the whole database — events, profile, caches index, blobs, outbox, settings — after
   * closing this connection (other tabs' memories close themselves). This memory is closed after.
   */
  forget(): Promise<void>;
  /** Calls `listener` after every committed write; returns the unsubscribe function. */
  onChange(listener: (change: MemoryChange) => void): () => void;
  /** Closes the connection; later calls fail with `not-loaded`. */
  close(): Promise<void>;
}

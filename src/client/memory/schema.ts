/**
 * The IndexedDB schema of the visitor's memory, typed with idb's `DBSchema` so a wrong store,
 * key or index name is a compile error, and its migrations.
 *
 * Versions (each step runs once, in order, inside the upgrade transaction, so an upgrade either
 * completes or leaves the old database untouched):
 * - 1: every store; events indexed by timestamp and by item, sessions by last activity,
 *   outbox by creation time.
 * - 2: events indexed by session (the funnel's short-term interest reads the current session)
 *   and the cache index by last use (the loader evicts least recently used blobs first).
 *   Both indexes are built over the records already stored.
 * - 3: `contributions`, the federated deltas this device computed and queued (what "Your data"
 *   lists), indexed by creation time. Nothing stored before is touched.
 *
 * Value types below are what this code writes; what comes back is checked before use
 * (events.ts, profile.ts, records.ts), since a record may have been written by a buggy older
 * version or edited by hand.
 */
import type { DBSchema, IDBPDatabase, IDBPTransaction, StoreNames } from 'idb';
import type { StoredEvent } from './events.ts';
import type { Session } from './history.ts';
import type { Profile } from './profile.ts';
import type { CacheEntry, ContributionRecord, OutboxRecord, SettingRecord } from './records.ts';

/** The schema version this code opens (and migrates older databases to). */
export const MEMORY_DB_VERSION = 3;

/** The key of the single profile record. */
export const PROFILE_KEY = 'me';

export interface MemoryDB extends DBSchema {
  /** Bounded by `maxEvents`; key `seq` is assigned by IndexedDB in insertion order. */
  events: {
    key: number;
    value: StoredEvent;
    indexes: { 'by-timestamp': number; 'by-item': string; 'by-session': string };
  };
  sessions: { key: string; value: Session; indexes: { 'by-last': number } };
  /** One record under {@link PROFILE_KEY}. */
  profile: { key: typeof PROFILE_KEY; value: Profile };
  /** Model/shard cache index: sha256 → where and when. */
  cache: { key: string; value: CacheEntry; indexes: { 'by-last-used': number } };
  /** Blob bytes, sha256 → bytes, where Cache Storage is unavailable. */
  blobs: { key: string; value: ArrayBuffer };
  /** Pending federated delta posts, by update id. */
  outbox: { key: string; value: OutboxRecord; indexes: { 'by-created': number } };
  /** Consent (under 'consent') and other key/values. */
  settings: { key: string; value: SettingRecord };
  /** Federated deltas this device computed and queued, by update id (what "Your data" lists). */
  contributions: { key: string; value: ContributionRecord; indexes: { 'by-created': number } };
}

export type MemoryStoreName = StoreNames<MemoryDB>;

/** Every store, for transactions that span the whole memory. */
export const ALL_STORES: readonly MemoryStoreName[] = [
  'events',
  'sessions',
  'profile',
  'cache',
  'blobs',
  'outbox',
  'settings',
  'contributions',
];

/**
 * The `upgrade` callback of `openDB`: migrates a database at `oldVersion` (0 when new) to
 * `newVersion`, one step at a time. Tests call it with `newVersion` 1 to build a version-1
 * database exactly as version-1 code did.
 */
export function upgradeMemory(
  db: IDBPDatabase<MemoryDB>,
  oldVersion: number,
  newVersion: number | null,
  tx: IDBPTransaction<MemoryDB, MemoryStoreName[], 'versionchange'>,
): void {
  const target = newVersion ?? MEMORY_DB_VERSION;
  if (oldVersion < 1 && target >= 1) {
    const events = db.createObjectStore('events', { keyPath: 'seq', autoIncrement: true });
    events.createIndex('by-timestamp', 'timestamp');
    events.createIndex('by-item', 'itemId');
    db.createObjectStore('sessions', { keyPath: 'id' }).createIndex('by-last', 'lastEventAt');
    db.createObjectStore('profile');
    db.createObjectStore('cache', { keyPath: 'sha256' });
    db.createObjectStore('blobs');
    db.createObjectStore('outbox', { keyPath: 'id' }).createIndex('by-created', 'createdAt');
    db.createObjectStore('settings', { keyPath: 'key' });
  }
  if (oldVersion < 2 && target >= 2) {
    tx.objectStore('events').createIndex('by-session', 'sessionId');
    tx.objectStore('cache').createIndex('by-last-used', 'lastUsed');
  }
  if (oldVersion < 3 && target >= 3) {
    db.createObjectStore('contributions', { keyPath: 'id' }).createIndex('by-created', 'createdAt');
  }
}

/**
 * `openMemory()`: the visitor's private memory in IndexedDB (see memory-api.ts for the
 * contract, schema.ts for the stores and migrations, connection.ts for transactions, quota and
 * compaction). Events, history, profile, sessions, export/import and forget live here; the
 * cache index, blob fallback, outbox and settings in side-stores.ts.
 */
import { deleteDB, openDB } from 'idb';
import { LocalrecError } from '../../core/errors.ts';
import { readEventRecord, validateTrackEvent, type StoredEvent } from './events.ts';
import {
  DEFAULT_SESSION_GAP_MS,
  HistoryCollector,
  checkLimit,
  nextSession,
  type Session,
} from './history.ts';
import {
  COMPACT_STORES,
  MemoryConnection,
  wrapIdbError,
  type ReadTx,
  type WriteTx,
} from './connection.ts';
import type { Memory, MemorySessions, MemoryStats, OpenMemoryOptions } from './memory-api.ts';
import { foldEvents, overflowCompaction, profileProblem, profileToJson } from './profile.ts';
import { CONSENT_KEY, DEFAULT_CONSENT, sessionProblem, settingProblem } from './records.ts';
import {
  ALL_STORES,
  MEMORY_DB_VERSION,
  PROFILE_KEY,
  upgradeMemory,
  type MemoryDB,
  type MemoryStoreName,
} from './schema.ts';
import { createSideStores, randomId } from './side-stores.ts';
import {
  SNAPSHOT_FORMAT,
  SNAPSHOT_VERSION,
  parseSnapshot,
  type MemorySnapshot,
} from './snapshot.ts';

/** The database name when none is given. */
export const DEFAULT_MEMORY_NAME = 'localrec';
/** Raw events kept before the oldest are compacted into the profile. */
export const DEFAULT_MAX_EVENTS = 5_000;
/** How many items `history()` returns when no limit is given. */
export const DEFAULT_HISTORY_LIMIT = 200;

const TRACK_STORES: MemoryStoreName[] = COMPACT_STORES;
const OWNED_STORES: MemoryStoreName[] = ['events', 'sessions', 'profile', 'settings'];

/**
 * Opens (creating or migrating as needed) the visitor's memory.
 *
 * @throws LocalrecError `bad-input` for bad options; `unsupported-version` when the stored
 *   database is newer than this code; `device-unavailable` when IndexedDB cannot be used here
 *   (the SDK then runs without memory).
 */
export async function openMemory(options: OpenMemoryOptions = {}): Promise<Memory> {
  const name = options.name ?? DEFAULT_MEMORY_NAME;
  const maxEvents = options.maxEvents ?? DEFAULT_MAX_EVENTS;
  const gapMs = options.sessionGapMs ?? DEFAULT_SESSION_GAP_MS;
  const now = options.now ?? Date.now;
  if (typeof name !== 'string' || name.length === 0)
    throw new LocalrecError('bad-input', 'openMemory(): name must be a non-empty string');
  if (!Number.isSafeInteger(maxEvents) || maxEvents < 1)
    throw new LocalrecError(
      'bad-input',
      `openMemory(): maxEvents must be an integer ≥ 1, got ${maxEvents}`,
    );
  if (!(typeof gapMs === 'number' && gapMs > 0 && Number.isFinite(gapMs)))
    throw new LocalrecError(
      'bad-input',
      `openMemory(): sessionGapMs must be a finite number > 0, got ${gapMs}`,
    );
  if (typeof indexedDB === 'undefined')
    throw new LocalrecError('device-unavailable', 'IndexedDB is not available in this context');

  const onWarning = options.onWarning ?? ((w) => console.warn(`[localrec memory] ${w.message}`));
  // Set once the database is open; the callbacks below may only fire after that.
  const opened: { conn?: MemoryConnection } = {};
  let db;
  try {
    db = await openDB<MemoryDB>(name, MEMORY_DB_VERSION, {
      upgrade: upgradeMemory,
      blocked: () =>
        onWarning({
          code: 'blocked',
          message: `another tab keeps an older version of '${name}' open; waiting for it to close`,
        }),
      // Another connection wants to upgrade or delete the database: step aside rather than stall it.
      blocking: (_current, _blocked, event) => {
        const reason = `another connection is upgrading or deleting '${name}'; this memory closed`;
        if (opened.conn) opened.conn.close(reason);
        else (event.target as IDBDatabase).close();
      },
      terminated: () => opened.conn?.close(`the browser closed '${name}' unexpectedly`),
    });
  } catch (e) {
    if (e instanceof DOMException && e.name === 'VersionError')
      throw new LocalrecError(
        'unsupported-version',
        `memory '${name}' was written by a newer localrec (schema above version ${MEMORY_DB_VERSION}); update the SDK, or forget() it`,
        { cause: e },
      );
    throw new LocalrecError(
      'device-unavailable',
      `IndexedDB cannot be opened here (${e instanceof Error ? `${e.name}: ${e.message}` : String(e)})`,
      { cause: e },
    );
  }
  const conn = (opened.conn = new MemoryConnection(db, {
    name,
    now,
    categoriesOf: options.categoriesOf,
    onWarning,
    beforeCommit: options.beforeCommit,
  }));
  return createMemory(conn, { name, maxEvents, gapMs, now });
}

function createMemory(
  conn: MemoryConnection,
  cfg: { name: string; maxEvents: number; gapMs: number; now: () => number },
): Memory {
  const { now } = cfg;

  /** Checked events from parallel key/value lists, corrupt ones reported and left out. */
  const checkedEvents = (keys: IDBValidKey[], values: unknown[]): StoredEvent[] => {
    const out: StoredEvent[] = [];
    values.forEach((raw, i) => {
      const r = readEventRecord(raw);
      if (typeof r === 'string') conn.reportCorrupt('events', keys[i]!, r);
      else out.push(r);
    });
    return out;
  };
  const byTime = (a: StoredEvent, b: StoredEvent) =>
    a.timestamp - b.timestamp || (a.seq ?? 0) - (b.seq ?? 0);

  /** Sessions by last activity, newest first, up to `limit` valid ones. */
  const latestSessions = async (tx: ReadTx | WriteTx, limit: number): Promise<Session[]> => {
    const out: Session[] = [];
    let c = await tx.objectStore('sessions').index('by-last').openCursor(null, 'prev');
    while (c && out.length < limit) {
      const p = sessionProblem(c.value);
      if (p) conn.reportCorrupt('sessions', c.primaryKey, p);
      else out.push(c.value);
      c = await c.continue();
    }
    return out;
  };

  const sessions: MemorySessions = {
    current: () =>
      conn.read(['sessions'], async (tx) => {
        const [latest] = await latestSessions(tx, 1);
        return latest && now() - latest.lastEventAt <= cfg.gapMs ? latest : undefined;
      }),
    list: async ({ limit = Infinity } = {}) => {
      checkLimit('sessions.list({ limit })', limit);
      return conn.read(['sessions'], (tx) => latestSessions(tx, limit));
    },
    events: (sessionId) =>
      conn.read(['events'], async (tx) => {
        const index = tx.objectStore('events').index('by-session');
        const [keys, values] = await Promise.all([
          index.getAllKeys(sessionId),
          index.getAll(sessionId),
        ]);
        return checkedEvents(keys, values).sort(byTime);
      }),
  };

  const memory: Memory = {
    name: cfg.name,

    async track(input) {
      const event = validateTrackEvent(input, now());
      return conn.write('track', TRACK_STORES, async (tx) => {
        const [latest] = await latestSessions(tx, 1);
        const session = nextSession(latest, event.timestamp, cfg.gapMs, randomId);
        await tx.objectStore('sessions').put(session);
        const stored: StoredEvent = { ...event, sessionId: session.id };
        const events = tx.objectStore('events');
        stored.seq = await events.add(stored);
        const n = overflowCompaction(await events.count(), cfg.maxEvents);
        const compacted = await conn.compactOldest(tx, n);
        return [stored, { kind: 'track', stores: TRACK_STORES, event: stored, session, compacted }];
      });
    },

    async recentEvents(n) {
      checkLimit('recentEvents(n)', n);
      return conn.read(['events'], async (tx) => {
        const out: StoredEvent[] = [];
        let c = await tx.objectStore('events').index('by-timestamp').openCursor(null, 'prev');
        while (c && out.length < n) {
          const r = readEventRecord(c.value);
          if (typeof r === 'string') conn.reportCorrupt('events', c.primaryKey, r);
          else out.push(r);
          c = await c.continue();
        }
        return out.reverse();
      });
    },

    eventsForItem(itemId) {
      return conn.read(['events'], async (tx) => {
        const index = tx.objectStore('events').index('by-item');
        const [keys, values] = await Promise.all([index.getAllKeys(itemId), index.getAll(itemId)]);
        return checkedEvents(keys, values).sort(byTime);
      });
    },

    async history({ limit = DEFAULT_HISTORY_LIMIT } = {}) {
      const collector = new HistoryCollector(checkLimit('history({ limit })', limit));
      return conn.read(['events'], async (tx) => {
        let c = await tx.objectStore('events').index('by-timestamp').openCursor(null, 'prev');
        while (c) {
          const r = readEventRecord(c.value);
          if (typeof r === 'string') conn.reportCorrupt('events', c.primaryKey, r);
          else if (!collector.add(r)) break;
          c = await c.continue();
        }
        return collector.result();
      });
    },

    getProfile() {
      return conn.read(['profile'], async (tx) =>
        conn.profileFrom(await tx.objectStore('profile').get(PROFILE_KEY)),
      );
    },

    updateProfile(update) {
      return conn.write('profile', ['profile'], async (tx) => {
        const store = tx.objectStore('profile');
        const draft = structuredClone(conn.profileFrom(await store.get(PROFILE_KEY)));
        const next = update(draft) ?? draft;
        if (typeof (next as { then?: unknown }).then === 'function')
          throw new LocalrecError(
            'bad-input',
            'updateProfile(): the update must be synchronous (it runs inside a transaction)',
          );
        const problem = profileProblem(next);
        if (problem)
          throw new LocalrecError(
            'bad-input',
            `updateProfile(): the updated profile is invalid (${problem}); nothing was written`,
          );
        next.updatedAt = now();
        await store.put(next, PROFILE_KEY);
        return [next, { kind: 'profile', stores: ['profile'], profile: next }];
      });
    },

    sessions,
    ...createSideStores(conn),

    stats() {
      const stores: MemoryStoreName[] = ['events', 'sessions', 'cache', 'outbox', 'profile'];
      return conn.read(stores, async (tx): Promise<MemoryStats> => {
        const [events, sessionCount, cacheEntries, outbox, rawProfile] = await Promise.all([
          tx.objectStore('events').count(),
          tx.objectStore('sessions').count(),
          tx.objectStore('cache').count(),
          tx.objectStore('outbox').count(),
          tx.objectStore('profile').get(PROFILE_KEY),
        ]);
        const compactedEvents = conn.profileFrom(rawProfile).counts.compactedEvents;
        return {
          events,
          sessions: sessionCount,
          cacheEntries,
          outbox,
          compactedEvents,
          corruptRecords: conn.corruptRecords,
        };
      });
    },

    exportMemory() {
      return conn.read(OWNED_STORES, async (tx): Promise<MemorySnapshot> => {
        const events = tx.objectStore('events');
        const [eventKeys, eventValues, sessionList, rawProfile, settingRecords] = await Promise.all(
          [
            events.getAllKeys(),
            events.getAll(),
            latestSessions(tx, Infinity),
            tx.objectStore('profile').get(PROFILE_KEY),
            tx.objectStore('settings').getAll(),
          ],
        );
        const snapshot: MemorySnapshot = {
          format: SNAPSHOT_FORMAT,
          version: SNAPSHOT_VERSION,
          exportedAt: now(),
          events: checkedEvents(eventKeys, eventValues).map(({ seq: _seq, ...e }) => e),
          sessions: sessionList.reverse(),
          profile: profileToJson(conn.profileFrom(rawProfile)),
          consent: { ...DEFAULT_CONSENT },
          settings: [],
        };
        for (const r of settingRecords) {
          const p = settingProblem(r);
          if (p) conn.reportCorrupt('settings', (r as { key?: string }).key ?? '?', p);
          else if (r.key === CONSENT_KEY) {
            const c = r.value as { personalization: boolean; federated: boolean };
            snapshot.consent = {
              personalization: c.personalization,
              federated: c.federated,
              updatedAt: r.updatedAt,
            };
          } else snapshot.settings.push({ key: r.key, value: r.value });
        }
        return snapshot;
      });
    },

    async importMemory(input) {
      const parsed = parseSnapshot(input);
      let { events, profile } = parsed;
      const excess = events.length - cfg.maxEvents;
      if (excess > 0) {
        profile = foldEvents(profile, events.slice(0, excess), {
          categoriesOf: conn.options.categoriesOf,
        });
        events = events.slice(excess);
      }
      profile.updatedAt = now();
      await conn.write(
        'import',
        OWNED_STORES,
        async (tx) => {
          await Promise.all(OWNED_STORES.map((s) => tx.objectStore(s).clear()));
          const settings = tx.objectStore('settings');
          const writes: Promise<unknown>[] = [
            ...events.map((e) => tx.objectStore('events').add({ ...e })),
            ...parsed.sessions.map((s) => tx.objectStore('sessions').put(s)),
            tx.objectStore('profile').put(profile, PROFILE_KEY),
            ...parsed.settings.map((s) => settings.put({ ...s, updatedAt: now() })),
          ];
          const { personalization, federated, updatedAt } = parsed.consent;
          if (updatedAt !== null)
            writes.push(
              settings.put({ key: CONSENT_KEY, value: { personalization, federated }, updatedAt }),
            );
          await Promise.all(writes);
          return [undefined, { kind: 'import', stores: OWNED_STORES, events: events.length }];
        },
        // The import replaces the events, so compacting them cannot make room for it.
        { compactOnQuota: false },
      );
    },

    async forget() {
      conn.close();
      try {
        await deleteDB(cfg.name, {
          blocked: () =>
            conn.warn({
              code: 'blocked',
              message: `forget(): another tab keeps '${cfg.name}' open; it is deleted once that tab closes it`,
            }),
        });
      } catch (e) {
        throw wrapIdbError(e, 'forget');
      }
      conn.emit({ kind: 'forget', stores: ALL_STORES });
      conn.clearListeners();
    },

    onChange: (listener) => conn.onChange(listener),

    async close() {
      conn.close();
      conn.clearListeners();
    },
  };
  return memory;
}

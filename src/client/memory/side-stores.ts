/**
 * The memory's smaller stores: the model/shard cache index, the IndexedDB blob fallback, the
 * federated outbox and the record of contributions, and settings with consent. Each call is one transaction through the
 * connection (so quota handling and change events are the same as for events), and every
 * record read back is checked; a failing one is reported and treated as absent.
 */
import { toHex } from '../../core/blob.ts';
import { LocalrecError } from '../../core/errors.ts';
import type { MemoryConnection } from './connection.ts';
import {
  MAX_CONTRIBUTIONS,
  type MemoryBlobs,
  type MemoryCacheIndex,
  type MemoryContributions,
  type MemoryOutbox,
  type MemorySettings,
} from './memory-api.ts';
import {
  CONSENT_KEY,
  DEFAULT_CONSENT,
  cacheEntryProblem,
  consentProblem,
  contributionProblem,
  isSha256,
  jsonProblem,
  outboxProblem,
  settingProblem,
  type CacheEntry,
  type Consent,
  type ContributionRecord,
  type JsonValue,
  type OutboxRecord,
  type SettingRecord,
} from './records.ts';

/** A random 128-bit id in hex; `getRandomValues` works outside secure contexts too. */
export function randomId(): string {
  const b = crypto.getRandomValues(new Uint8Array(16));
  return toHex(b);
}

const badInput = (msg: string) => new LocalrecError('bad-input', msg);

function checkSha(where: string, sha256: unknown): string {
  if (!isSha256(sha256))
    throw badInput(`${where}: sha256 must be 64 lowercase hex characters, got ${String(sha256)}`);
  return sha256;
}

/** A private copy of the caller's bytes, so a later change or transfer of theirs cannot reach the store. */
function copyBytes(where: string, bytes: unknown): Uint8Array {
  if (bytes instanceof ArrayBuffer) return new Uint8Array(bytes.slice(0));
  if (bytes instanceof Uint8Array) return bytes.slice();
  throw badInput(`${where}: bytes must be an ArrayBuffer or a Uint8Array`);
}

function checkTime(where: string, t: unknown): number {
  if (!(typeof t === 'number' && Number.isFinite(t) && t >= 0))
    throw badInput(`${where}: a time must be a finite number of ms ≥ 0, got ${String(t)}`);
  return t;
}

export function createSideStores(conn: MemoryConnection): {
  cache: MemoryCacheIndex;
  blobs: MemoryBlobs;
  outbox: MemoryOutbox;
  contributions: MemoryContributions;
  settings: MemorySettings;
} {
  const now = () => conn.options.now();

  /** `raw` if it passes `problemOf`, else undefined (reported as corrupt). */
  function checked<T>(
    store: 'cache' | 'outbox' | 'contributions' | 'settings',
    key: IDBValidKey,
    raw: unknown,
    problemOf: (v: unknown) => string | null,
  ): T | undefined {
    if (raw === undefined) return undefined;
    const p = problemOf(raw);
    if (!p) return raw as T;
    conn.reportCorrupt(store, key, p);
    return undefined;
  }

  const cache: MemoryCacheIndex = {
    get: (sha256) =>
      conn.read(['cache'], async (tx) =>
        checked<CacheEntry>(
          'cache',
          sha256,
          await tx.objectStore('cache').get(sha256),
          cacheEntryProblem,
        ),
      ),

    async put(input) {
      const t = now();
      const entry: CacheEntry = {
        sha256: input.sha256,
        kind: input.kind,
        bytes: input.bytes,
        storedAt: input.storedAt ?? t,
        lastUsed: input.lastUsed ?? t,
        where: input.where,
      };
      const p = cacheEntryProblem(entry);
      if (p) throw badInput(`cache.put(): ${p}`);
      return conn.write('cache', ['cache'], async (tx) => {
        await tx.objectStore('cache').put(entry);
        return [entry, { kind: 'cache', stores: ['cache'], sha256: entry.sha256, entry }];
      });
    },

    async touch(sha256, at = now()) {
      checkTime('cache.touch()', at);
      return conn.write('cache', ['cache'], async (tx) => {
        const store = tx.objectStore('cache');
        const entry = checked<CacheEntry>(
          'cache',
          sha256,
          await store.get(sha256),
          cacheEntryProblem,
        );
        if (!entry) return [undefined, null];
        const next = { ...entry, lastUsed: at };
        await store.put(next);
        return [next, { kind: 'cache', stores: ['cache'], sha256, entry: next }];
      });
    },

    delete(sha256) {
      return conn.write('cache', ['cache', 'blobs'], async (tx) => {
        const had = (await tx.objectStore('cache').count(sha256)) > 0;
        await Promise.all([
          tx.objectStore('cache').delete(sha256),
          tx.objectStore('blobs').delete(sha256),
        ]);
        return [
          had,
          had ? { kind: 'cache', stores: ['cache', 'blobs'], sha256, entry: null } : null,
        ];
      });
    },

    list: () =>
      conn.read(['cache'], async (tx) => {
        const store = tx.objectStore('cache');
        const [keys, values] = await Promise.all([
          store.index('by-last-used').getAllKeys(),
          store.index('by-last-used').getAll(),
        ]);
        return values.flatMap(
          (v, i) => checked<CacheEntry>('cache', keys[i]!, v, cacheEntryProblem) ?? [],
        );
      }),
  };

  const blobs: MemoryBlobs = {
    get: (sha256) =>
      conn.read(['blobs'], async (tx) => {
        const raw: unknown = await tx.objectStore('blobs').get(sha256);
        if (raw === undefined) return undefined;
        if (raw instanceof ArrayBuffer) return new Uint8Array(raw);
        conn.reportCorrupt('blobs', sha256, 'the bytes are not an ArrayBuffer');
        return undefined;
      }),

    async put(sha256, bytes, { kind }) {
      checkSha('blobs.put()', sha256);
      const copy = copyBytes('blobs.put()', bytes);
      const t = now();
      const entry: CacheEntry = {
        sha256,
        kind,
        bytes: copy.byteLength,
        storedAt: t,
        lastUsed: t,
        where: 'idb',
      };
      const p = cacheEntryProblem(entry);
      if (p) throw badInput(`blobs.put(): ${p}`);
      return conn.write('blob', ['blobs', 'cache'], async (tx) => {
        await Promise.all([
          tx.objectStore('blobs').put(copy.buffer as ArrayBuffer, sha256),
          tx.objectStore('cache').put(entry),
        ]);
        return [entry, { kind: 'blob', stores: ['blobs', 'cache'], sha256, entry }];
      });
    },
  };

  const outbox: MemoryOutbox = {
    async add({ id = randomId(), roundId, bytes }) {
      const record: OutboxRecord = {
        id,
        roundId,
        bytes: copyBytes('outbox.add()', bytes),
        createdAt: now(),
        attempts: 0,
        lastAttemptAt: null,
      };
      const p = outboxProblem(record);
      if (p) throw badInput(`outbox.add(): ${p}`);
      return conn.write('outbox', ['outbox'], async (tx) => {
        const store = tx.objectStore('outbox');
        if ((await store.count(id)) > 0)
          throw badInput(`outbox.add(): update ${id} is already queued (update ids are unique)`);
        await store.add(record);
        return [record, { kind: 'outbox', stores: ['outbox'], id, record }];
      });
    },

    list: () =>
      conn.read(['outbox'], async (tx) => {
        const index = tx.objectStore('outbox').index('by-created');
        const [keys, values] = await Promise.all([index.getAllKeys(), index.getAll()]);
        return values.flatMap(
          (v, i) => checked<OutboxRecord>('outbox', keys[i]!, v, outboxProblem) ?? [],
        );
      }),

    remove: (id) =>
      conn.write('outbox', ['outbox'], async (tx) => {
        const store = tx.objectStore('outbox');
        const had = (await store.count(id)) > 0;
        if (had) await store.delete(id);
        return [had, had ? { kind: 'outbox', stores: ['outbox'], id, record: null } : null];
      }),

    async markAttempt(id, at = now()) {
      checkTime('outbox.markAttempt()', at);
      return conn.write('outbox', ['outbox'], async (tx) => {
        const store = tx.objectStore('outbox');
        const record = checked<OutboxRecord>('outbox', id, await store.get(id), outboxProblem);
        if (!record) return [undefined, null];
        const next = { ...record, attempts: record.attempts + 1, lastAttemptAt: at };
        await store.put(next);
        return [next, { kind: 'outbox', stores: ['outbox'], id, record: next }];
      });
    },

    async setTicket(id, ticket) {
      return conn.write('outbox', ['outbox'], async (tx) => {
        const store = tx.objectStore('outbox');
        const record = checked<OutboxRecord>('outbox', id, await store.get(id), outboxProblem);
        if (!record) return [undefined, null];
        const next = { ...record, ticket };
        const p = outboxProblem(next);
        if (p) throw badInput(`outbox.setTicket(): ${p}`);
        await store.put(next);
        return [next, { kind: 'outbox', stores: ['outbox'], id, record: next }];
      });
    },
  };

  const contributions: MemoryContributions = {
    async add(input) {
      const record: ContributionRecord = { ...input, sentAt: null };
      const p = contributionProblem(record);
      if (p) throw badInput(`contributions.add(): ${p}`);
      return conn.write('contribution', ['contributions'], async (tx) => {
        const store = tx.objectStore('contributions');
        if ((await store.count(record.id)) > 0)
          throw badInput(`contributions.add(): update ${record.id} is already recorded`);
        await store.add(record);
        // Bounded: the oldest records beyond the cap go (by creation time).
        const excess = (await store.count()) - MAX_CONTRIBUTIONS;
        if (excess > 0) {
          const old = await store.index('by-created').getAllKeys(null, excess);
          await Promise.all(old.map((k) => store.delete(k)));
        }
        return [record, { kind: 'contribution', stores: ['contributions'], id: record.id, record }];
      });
    },

    list: () =>
      conn.read(['contributions'], async (tx) => {
        const index = tx.objectStore('contributions').index('by-created');
        const [keys, values] = await Promise.all([index.getAllKeys(), index.getAll()]);
        return values.flatMap(
          (v, i) =>
            checked<ContributionRecord>('contributions', keys[i]!, v, contributionProblem) ?? [],
        );
      }),

    async markSent(id, at = now()) {
      checkTime('contributions.markSent()', at);
      return conn.write('contribution', ['contributions'], async (tx) => {
        const store = tx.objectStore('contributions');
        const record = checked<ContributionRecord>(
          'contributions',
          id,
          await store.get(id),
          contributionProblem,
        );
        if (!record) return [undefined, null];
        const next = { ...record, sentAt: at };
        await store.put(next);
        return [next, { kind: 'contribution', stores: ['contributions'], id, record: next }];
      });
    },

    remove: (id) =>
      conn.write('contribution', ['contributions'], async (tx) => {
        const store = tx.objectStore('contributions');
        const had = (await store.count(id)) > 0;
        if (had) await store.delete(id);
        return [
          had,
          had ? { kind: 'contribution', stores: ['contributions'], id, record: null } : null,
        ];
      }),
  };

  const notConsent = (where: string, key: unknown) => {
    if (typeof key !== 'string' || key.length === 0)
      throw badInput(`${where}: key must be a non-empty string`);
    if (key === CONSENT_KEY)
      throw badInput(`${where}: '${CONSENT_KEY}' is reserved; use getConsent()/setConsent()`);
    return key;
  };

  const readSetting = (key: string, raw: unknown) =>
    checked<SettingRecord>('settings', key, raw, settingProblem);

  const settings: MemorySettings = {
    getConsent: () =>
      conn.read(['settings'], async (tx) => {
        const r = readSetting(CONSENT_KEY, await tx.objectStore('settings').get(CONSENT_KEY));
        if (!r) return { ...DEFAULT_CONSENT };
        const c = r.value as { personalization: boolean; federated: boolean };
        return {
          personalization: c.personalization,
          federated: c.federated,
          updatedAt: r.updatedAt,
        };
      }),

    async setConsent(change) {
      const p = consentProblem({ ...DEFAULT_CONSENT, ...change });
      if (p) throw badInput(`setConsent(): ${p}`);
      return conn.write('consent', ['settings'], async (tx) => {
        const store = tx.objectStore('settings');
        const old = readSetting(CONSENT_KEY, await store.get(CONSENT_KEY));
        const prev = (old?.value ?? DEFAULT_CONSENT) as Omit<Consent, 'updatedAt'>;
        const personalization = change.personalization ?? prev.personalization;
        const federated = change.federated ?? prev.federated;
        const updatedAt = now();
        await store.put({ key: CONSENT_KEY, value: { personalization, federated }, updatedAt });
        const consent: Consent = { personalization, federated, updatedAt };
        return [consent, { kind: 'consent', stores: ['settings'], consent }];
      });
    },

    async get(key) {
      notConsent('settings.get()', key);
      return conn.read(
        ['settings'],
        async (tx) => readSetting(key, await tx.objectStore('settings').get(key))?.value,
      );
    },

    async set(key, value) {
      notConsent('settings.set()', key);
      const p = jsonProblem(value);
      if (p) throw badInput(`settings.set(${JSON.stringify(key)}): the value ${p}`);
      const copy = structuredClone(value) as JsonValue;
      return conn.write('settings', ['settings'], async (tx) => {
        await tx.objectStore('settings').put({ key, value: copy, updatedAt: now() });
        return [undefined, { kind: 'settings', stores: ['settings'], key, value: copy }];
      });
    },

    async delete(key) {
      notConsent('settings.delete()', key);
      return conn.write('settings', ['settings'], async (tx) => {
        const store = tx.objectStore('settings');
        const had = (await store.count(key)) > 0;
        if (had) await store.delete(key);
        return [
          had,
          had ? { kind: 'settings', stores: ['settings'], key, value: undefined } : null,
        ];
      });
    },
  };

  return { cache, blobs, outbox, contributions, settings };
}

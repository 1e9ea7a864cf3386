/**
 * The machinery under every memory call: one IndexedDB connection, reads and writes as single
 * transactions, the quota rule (compact the oldest events, retry once, else a `quota` error),
 * compaction itself, corrupt-record reporting and change events.
 *
 * A write's body must only await IndexedDB requests of its own transaction (anything else lets
 * the transaction commit early), and must be safe to run twice: after a quota error it runs
 * again from scratch in a fresh transaction.
 */
import type { IDBPDatabase, IDBPTransaction } from 'idb';
import { LocalrecError, isLocalrecError } from '../../core/errors.ts';
import { readEventRecord, type StoredEvent } from './events.ts';
import type { MemoryChange, MemoryChangeKind, MemoryWarning } from './memory-api.ts';
import {
  foldEvents,
  quotaCompaction,
  readProfile,
  type CategoriesOf,
  type Profile,
} from './profile.ts';
import { PROFILE_KEY, type MemoryDB, type MemoryStoreName } from './schema.ts';

export type ReadTx = IDBPTransaction<MemoryDB, MemoryStoreName[], 'readonly'>;
export type WriteTx = IDBPTransaction<MemoryDB, MemoryStoreName[], 'readwrite'>;

/** What a write body returns: its result, and the change to announce (null: nothing changed). */
export type WriteOutcome<T> = [T, MemoryChange | null];

/** The stores a compaction touches; writes that may compact must include them. */
export const COMPACT_STORES: MemoryStoreName[] = ['events', 'sessions', 'profile'];

export const isQuotaError = (e: unknown): boolean =>
  typeof e === 'object' && e !== null && (e as { name?: unknown }).name === 'QuotaExceededError';

export interface ConnectionOptions {
  name: string;
  now: () => number;
  categoriesOf: CategoriesOf | undefined;
  onWarning: (w: MemoryWarning) => void;
  beforeCommit: ((kind: MemoryChangeKind) => void) | undefined;
}

export class MemoryConnection {
  private closed = false;
  private readonly listeners = new Set<(change: MemoryChange) => void>();
  /** `store:key` of the corrupt records met, counted once each however often they are read. */
  private readonly corrupt = new Set<string>();
  /** `store:key:problem` already reported, so repeated reads do not repeat a warning. */
  private readonly reported = new Set<string>();

  constructor(
    private readonly db: IDBPDatabase<MemoryDB>,
    readonly options: ConnectionOptions,
  ) {}

  get corruptRecords(): number {
    return this.corrupt.size;
  }

  warn(w: MemoryWarning): void {
    try {
      this.options.onWarning(w);
    } catch {
      // A failing warning handler must not turn a warning into a failure.
    }
  }

  /** Reports a record that failed its check (each problem once per connection). */
  reportCorrupt(store: MemoryStoreName, key: IDBValidKey, problem: string): void {
    const id = `${store}:${JSON.stringify(key)}`;
    this.corrupt.add(id);
    if (this.reported.has(`${id}:${problem}`)) return;
    this.reported.add(`${id}:${problem}`);
    this.warn({
      code: 'corrupt-record',
      store,
      key,
      message: `skipped a corrupt ${store} record (key ${JSON.stringify(key)}): ${problem}`,
    });
  }

  /** The stored profile, salvaged: bad parts are dropped and reported. */
  profileFrom(raw: unknown): Profile {
    const { profile, problems } = readProfile(raw);
    for (const p of problems) this.reportCorrupt('profile', PROFILE_KEY, p);
    return profile;
  }

  /** Marks the memory closed; `reason` set means it was not this memory's own doing. */
  close(reason?: string): void {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
    if (reason) {
      this.warn({ code: 'closed-elsewhere', message: reason });
      this.clearListeners();
    }
  }

  clearListeners(): void {
    this.listeners.clear();
  }

  private ensureOpen(): void {
    if (this.closed)
      throw new LocalrecError(
        'not-loaded',
        `memory '${this.options.name}' is closed (close() or forget() was called, or another tab upgraded or deleted it); open it again with openMemory()`,
      );
  }

  onChange(listener: (change: MemoryChange) => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  emit(change: MemoryChange): void {
    for (const l of [...this.listeners]) {
      try {
        l(change);
      } catch (e) {
        this.warn({
          code: 'listener-failed',
          message: `an onChange listener threw on '${change.kind}': ${e instanceof Error ? e.message : String(e)}`,
        });
      }
    }
  }

  /** One readonly transaction over `stores`. */
  async read<T>(stores: MemoryStoreName[], body: (tx: ReadTx) => Promise<T>): Promise<T> {
    this.ensureOpen();
    try {
      const tx = this.db.transaction(stores, 'readonly');
      tx.done.catch(() => {}); // a failed request rejects `done` too; the error comes through body
      const out = await body(tx);
      await tx.done;
      return out;
    } catch (e) {
      throw wrapIdbError(e, 'read');
    }
  }

  /**
   * One write transaction. On a quota error (unless `compactOnQuota` is false) the oldest
   * events are folded into the profile in a transaction of their own, and the write is tried
   * once more; if that fails too, or nothing could be compacted, a `quota` error says so.
   * Listeners hear of each committed write once, and of no failed one.
   */
  async write<T>(
    kind: MemoryChangeKind,
    stores: MemoryStoreName[],
    body: (tx: WriteTx) => Promise<WriteOutcome<T>>,
    { compactOnQuota = true }: { compactOnQuota?: boolean } = {},
  ): Promise<T> {
    let compacted = 0;
    let failure: unknown;
    try {
      return await this.attempt(kind, stores, body);
    } catch (e) {
      if (!isQuotaError(e)) throw wrapIdbError(e, kind);
      failure = e;
    }
    if (compactOnQuota) {
      compacted = await this.compactForQuota(failure);
      if (compacted > 0) {
        try {
          return await this.attempt(kind, stores, body);
        } catch (e) {
          if (!isQuotaError(e)) throw wrapIdbError(e, kind);
          failure = e;
        }
      }
    }
    throw new LocalrecError(
      'quota',
      `the browser's storage quota is exhausted: '${kind}' could not be stored` +
        (compacted > 0
          ? ` even after folding the ${compacted} oldest events into the profile`
          : '') +
        '; everything stored before is kept. Free space (e.g. delete cached models) and retry.',
      { cause: failure },
    );
  }

  private async attempt<T>(
    kind: MemoryChangeKind,
    stores: MemoryStoreName[],
    body: (tx: WriteTx) => Promise<WriteOutcome<T>>,
  ): Promise<T> {
    this.ensureOpen();
    const tx = this.db.transaction(stores, 'readwrite');
    // Rejections of `done` are handled below; this keeps an aborted one from going unhandled.
    tx.done.catch(() => {});
    let outcome: WriteOutcome<T>;
    try {
      outcome = await body(tx);
      this.options.beforeCommit?.(kind);
      await tx.done;
    } catch (e) {
      try {
        tx.abort();
      } catch {
        // Already finished (it failed on commit): nothing left to undo.
      }
      throw e;
    }
    if (outcome[1]) this.emit(outcome[1]);
    return outcome[0];
  }

  /** Folds the oldest quarter of the events into the profile; returns how many were folded. */
  private async compactForQuota(cause: unknown): Promise<number> {
    let n = 0;
    try {
      n = await this.attempt('compact', COMPACT_STORES, async (tx) => {
        const count = await tx.objectStore('events').count();
        const done = await this.compactOldest(tx, quotaCompaction(count));
        return [
          done,
          done > 0 ? { kind: 'compact', stores: COMPACT_STORES, compacted: done } : null,
        ];
      });
    } catch (e) {
      if (!isQuotaError(e)) throw wrapIdbError(e, 'compact');
      throw new LocalrecError(
        'quota',
        "the browser's storage quota is exhausted, and even folding the oldest events into the profile failed; everything stored before is kept",
        { cause },
      );
    }
    if (n > 0)
      this.warn({
        code: 'compacted-for-quota',
        message: `storage quota exceeded: folded the ${n} oldest events into the profile to make room`,
      });
    return n;
  }

  /**
   * Inside a write over {@link COMPACT_STORES}: folds the `n` oldest recorded events into the
   * profile and deletes them, and deletes the sessions none of whose events remain. Unreadable
   * records among them are deleted too, reported and counted. Returns the records deleted.
   */
  async compactOldest(tx: WriteTx, n: number): Promise<number> {
    if (n <= 0) return 0;
    const events = tx.objectStore('events');
    const [keys, values] = await Promise.all([events.getAllKeys(null, n), events.getAll(null, n)]);
    const first = keys[0];
    const last = keys[keys.length - 1];
    if (first === undefined || last === undefined) return 0;
    const good: StoredEvent[] = [];
    let corrupt = 0;
    values.forEach((raw, i) => {
      const r = readEventRecord(raw);
      if (typeof r !== 'string') return void good.push(r);
      corrupt++;
      this.reportCorrupt('events', keys[i]!, r);
    });
    // The n smallest keys are contiguous in key order, so one range delete removes exactly them.
    await events.delete(IDBKeyRange.bound(first, last));
    const problems: string[] = [];
    const profileStore = tx.objectStore('profile');
    const profile = foldEvents(this.profileFrom(await profileStore.get(PROFILE_KEY)), good, {
      categoriesOf: this.options.categoriesOf,
      corrupt,
      onProblem: (p) => problems.push(p),
    });
    if (problems.length > 0)
      this.warn({
        code: 'categories-failed',
        message: `${problems.length} events were compacted without categories; first: ${problems[0]}`,
      });
    const oldest = await events.openCursor();
    const since = (oldest?.value as { timestamp?: unknown } | undefined)?.timestamp;
    if (typeof since === 'number' && Number.isFinite(since)) {
      const sessions = tx.objectStore('sessions');
      const gone = await sessions.index('by-last').getAllKeys(IDBKeyRange.upperBound(since, true));
      await Promise.all(gone.map((k) => sessions.delete(k)));
      profile.counts.compactedSessions += gone.length;
    }
    profile.updatedAt = this.options.now();
    await profileStore.put(profile, PROFILE_KEY);
    return keys.length;
  }
}

/** IndexedDB's own failures become `internal` LocalrecErrors; ours and callers' pass through. */
export function wrapIdbError(e: unknown, what: string): unknown {
  if (isLocalrecError(e) || !(e instanceof DOMException)) return e;
  return new LocalrecError('internal', `IndexedDB ${what} failed: ${e.name}: ${e.message}`, {
    cause: e,
  });
}

/**
 * The SQLite round store on a worker thread. better-sqlite3 is synchronous: a commit waits for
 * its fsync, and writing a batch of trainer-sized deltas (480 kB each) or a 3.9 MB checkpoint
 * of the sum takes 5–30 ms on an ordinary disk, all of it on the thread that made the call. On
 * the server's event loop that would stall manifest and blob requests for as long, so the
 * server keeps its round store here: same store, same contract (test/unit/store-round.test.ts
 * runs it too), and the event loop only posts messages. Calls run one at a time, in order.
 *
 * It also checks posted deltas where it counts them ({@link ThreadedRoundStore.checkAndApply}):
 * decoding, the checksum, the norm and the digests of a 480 kB delta take ~5 ms of CPU, which
 * the event loop then never spends.
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { isLocalrecError, LocalrecError, type LocalrecErrorCode } from '../../core/errors.ts';
import { ApiError, type ApiErrorCode } from '../errors.ts';
import type {
  CloseReason,
  CountedUpdate,
  Round,
  RoundSpec,
  RoundStore,
  TicketInput,
  TicketOutcome,
  UpdateInput,
  UpdateOutcome,
} from './round-store.ts';
import type { SqliteSynchronous } from './sqlite-round-store.ts';

/** A call to the worker. */
export interface StoreCall {
  id: number;
  method: Exclude<keyof RoundStore, 'url'> | 'checkAndApply';
  args: unknown[];
}

/** An error as it crosses threads: what kind it was, its code and message. */
export interface WireError {
  kind: 'api' | 'localrec' | 'other';
  code: string;
  message: string;
}

/** The worker's answer (id 0: the store opened, or why not). */
export interface StoreReply {
  id: number;
  result?: unknown;
  error?: WireError;
}

/** An error for the other thread. */
export function toWireError(e: unknown): WireError {
  const message = e instanceof Error ? e.message : String(e);
  if (e instanceof ApiError) return { kind: 'api', code: e.code, message };
  if (isLocalrecError(e)) return { kind: 'localrec', code: e.code, message };
  return { kind: 'other', code: 'internal', message };
}

/** The error a {@link WireError} stood for. */
export function fromWireError(e: WireError): Error {
  if (e.kind === 'api') return new ApiError(e.code as ApiErrorCode, e.message);
  if (e.kind === 'localrec') return new LocalrecError(e.code as LocalrecErrorCode, e.message);
  return new Error(e.message);
}

/** A delta as posted, to be checked and counted where the store is. */
export interface PostedUpdate {
  roundId: number;
  body: Uint8Array;
  /** sha256 of the ticket it came with (delta-check.ts `ticketHash`). */
  ticket?: string;
}

/** What became of a posted delta: counted or not (`outcome`), or refused by its check. */
export type PostedOutcome = { updateId: string; outcome: UpdateOutcome } | { error: Error };

/** {@link PostedOutcome} as it crosses threads. */
export type WirePostedOutcome = { updateId: string; outcome: UpdateOutcome } | { error: WireError };

/** An update as it crosses to the worker: the posted bytes when there are some, else the values. */
export type WireUpdate = Omit<UpdateInput, 'encoded' | 'values'> & {
  body?: Uint8Array;
  values?: Float64Array;
};

function toWire(u: UpdateInput): WireUpdate {
  const { roundId, updateId, digest, valuesDigest, ticket, encoded } = u;
  const base = { roundId, updateId, digest, valuesDigest, ticket };
  // Never read `values` of an encoded update: it would dequantize the whole delta.
  return encoded ? { ...base, body: encoded.body } : { ...base, values: u.values };
}

/**
 * The worker entry: the TypeScript file through tsx in a checkout (as bin/localrec.js does for
 * the CLI), the compiled one in the installed package.
 */
function bootCode(): string {
  const self = import.meta.url;
  const ts = self.endsWith('.ts');
  const entry = JSON.stringify(new URL(`./sqlite-thread-worker.${ts ? 'ts' : 'js'}`, self).href);
  if (!ts) return `import(${entry});`;
  // tsx's ES module API (its CommonJS one registers from the wrong folder), resolved here: the
  // eval'd code resolves bare names from the working directory.
  const api = createRequire(self)
    .resolve('tsx/esm/api')
    .replace(/\.cjs$/, '.mjs');
  const tsx = JSON.stringify(pathToFileURL(api).href);
  return `import(${tsx}).then((m) => { m.register(); return import(${entry}); });`;
}

/** A {@link RoundStore} whose SQLite database lives on its own worker thread. */
export class ThreadedRoundStore implements RoundStore {
  readonly url: string;
  private readonly worker: Worker;
  private readonly pending = new Map<
    number,
    { ok: (v: unknown) => void; fail: (e: Error) => void }
  >();
  private nextId = 1;
  private readonly opened: Promise<void>;
  private closed = false;

  constructor(path: string, options: { synchronous?: SqliteSynchronous } = {}) {
    this.url = `sqlite:${path}`;
    this.worker = new Worker(bootCode(), {
      eval: true,
      workerData: { path, synchronous: options.synchronous ?? 'full' },
    });
    let opened!: { ok: (v: unknown) => void; fail: (e: Error) => void };
    this.opened = new Promise<void>((ok, fail) => (opened = { ok: () => ok(), fail }));
    this.pending.set(0, opened);
    this.worker.on('message', (r: StoreReply) => {
      const p = this.pending.get(r.id);
      if (!p) return;
      this.pending.delete(r.id);
      this.idle();
      if (r.error) p.fail(fromWireError(r.error));
      else p.ok(r.result);
    });
    const die = (e: Error) => {
      for (const p of this.pending.values())
        p.fail(new LocalrecError('internal', `the round store's thread stopped: ${e.message}`));
      this.pending.clear();
    };
    this.worker.on('error', die);
    this.worker.on('exit', (code) => {
      if (!this.closed) die(new Error(`exit code ${code}`));
    });
    // Swallow here: a failure to open is reported by ready() and by every call.
    this.opened.catch(() => undefined);
  }

  /** Resolves once the database is open (migrated if need be); rejects with why it is not. */
  ready(): Promise<void> {
    return this.opened;
  }

  /** The thread keeps the process alive only while calls wait for it. */
  private idle(): void {
    if (this.pending.size === 0) this.worker.unref();
    else this.worker.ref();
  }

  private async call<T>(
    method: StoreCall['method'],
    args: unknown[],
    transfer: ArrayBuffer[] = [],
  ): Promise<T> {
    if (this.closed) throw new LocalrecError('internal', `round store ${this.url} is closed`);
    await this.opened;
    const id = this.nextId++;
    return new Promise<T>((ok, fail) => {
      this.pending.set(id, { ok: ok as (v: unknown) => void, fail });
      this.idle();
      this.worker.postMessage({ id, method, args } satisfies StoreCall, transfer);
    });
  }

  openRound(spec: RoundSpec, now: number): Promise<Round> {
    return this.call('openRound', [spec, now]);
  }
  getRound(id: number): Promise<Round | undefined> {
    return this.call('getRound', [id]);
  }
  currentRound(): Promise<Round | undefined> {
    return this.call('currentRound', []);
  }
  listRounds(): Promise<Round[]> {
    return this.call('listRounds', []);
  }
  applyUpdates(batch: readonly UpdateInput[], now: number): Promise<UpdateOutcome[]> {
    return this.call('applyUpdates', [batch.map(toWire), now]);
  }
  /**
   * Checks each posted delta against its round (delta-check.ts) and counts those that pass in
   * ONE transaction, as {@link applyUpdates} does; a delta its check refuses gets the error.
   * A body that has its memory to itself moves to the worker (it is unusable here afterwards)
   * rather than being copied.
   */
  async checkAndApply(batch: readonly PostedUpdate[], now: number): Promise<PostedOutcome[]> {
    const owned = batch
      .map((p) => p.body)
      .filter((b) => b.byteOffset === 0 && b.byteLength === b.buffer.byteLength)
      .map((b) => b.buffer as ArrayBuffer);
    const out = await this.call<WirePostedOutcome[]>(
      'checkAndApply',
      [batch, now],
      [...new Set(owned)],
    );
    return out.map((o) => ('error' in o ? { error: fromWireError(o.error) } : o));
  }
  issueTickets(batch: readonly TicketInput[], now: number): Promise<TicketOutcome[]> {
    return this.call('issueTickets', [batch, now]);
  }
  beginClosing(
    id: number,
    reason: Exclude<CloseReason, 'min-reports'>,
    now: number,
  ): Promise<Round> {
    return this.call('beginClosing', [id, reason, now]);
  }
  finishClosing(id: number, now: number): Promise<Round> {
    return this.call('finishClosing', [id, now]);
  }
  expire(now: number): Promise<Round[]> {
    return this.call('expire', [now]);
  }
  sums(id: number): Promise<{ reports: number; sums: Float64Array } | undefined> {
    return this.call('sums', [id]);
  }
  updates(id: number): Promise<CountedUpdate[]> {
    return this.call('updates', [id]);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    try {
      await this.call('close', []);
    } catch {
      // Never opened, or already gone: nothing to close.
    }
    this.closed = true;
    await this.worker.terminate();
  }
}

import { createHash, randomBytes } from 'node:crypto';
import type { Delta } from '../core/delta.ts';
import { LocalrecError } from '../core/errors.ts';
import { checkDelta, roundLayout, ticketHash, type RoundLayout } from './delta-check.ts';
import { ApiError } from './errors.ts';
import type { ServerMetrics } from './metrics.ts';
import type {
  Round,
  RoundStore,
  TicketInput,
  TicketOutcome,
  UpdateInput,
  UpdateOutcome,
} from './store/round-store.ts';
import {
  ThreadedRoundStore,
  type PostedOutcome,
  type PostedUpdate,
} from './store/sqlite-thread.ts';

/** Called when a round reaches `closing`, before it is marked `closed` (the aggregator's hook). */
export type OnRoundClosing = (round: Round, store: RoundStore) => Promise<void>;

/** Options of {@link RoundService}. */
export interface RoundServiceOptions {
  store: RoundStore;
  metrics?: ServerMetrics;
  /** Most updates (or tickets) per transaction. Default 512. */
  maxBatch?: number;
  /**
   * Most update posts and ticket requests the intake holds at once (being checked, or checked
   * and waiting for their commit); beyond it they are answered 503 with Retry-After. Each
   * waiting update holds its body: 256 trainer-sized deltas are about 125 MB. Default 256.
   */
  maxQueue?: number;
  /** Round tickets one client network may take per round. Default 4. */
  ticketsPerNetwork?: number;
  /** A ticket's lifetime in seconds (never past its round's deadline). Default 3600. */
  ticketSeconds?: number;
  /** How often deadlines are checked. Default 1000 ms. */
  tickMs?: number;
  onClosing?: OnRoundClosing;
  log?: (msg: string, err?: unknown) => void;
}

type Pending =
  | {
      kind: 'update';
      input: UpdateInput;
      resolve: (o: UpdateOutcome) => void;
      reject: (e: unknown) => void;
    }
  | {
      kind: 'ticket';
      input: TicketInput;
      resolve: (o: TicketOutcome) => void;
      reject: (e: unknown) => void;
    }
  | {
      kind: 'posted';
      input: PostedUpdate;
      resolve: (o: PostedOutcome) => void;
      reject: (e: unknown) => void;
    };

/** A round ticket as the client holds it: 32 random bytes, base64url (43 characters). */
export const TICKET_PATTERN = /^[A-Za-z0-9_-]{43}$/;

const sha256 = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex');

/**
 * The federated intake: checks deltas against their round, counts them with group commit (the
 * updates that arrive while one transaction is being written go together into the next, so a
 * disk flush per commit still allows thousands of updates per second), issues round tickets
 * the same way, and drives the round state machine (deadlines; closing → closed or failed).
 * Nothing is acknowledged before its transaction has committed, and the queue is bounded.
 */
export class RoundService {
  readonly store: RoundStore;
  private readonly opts: RoundServiceOptions;
  private readonly specs = new Map<number, RoundLayout>();
  private queue: Pending[] = [];
  /** Requests admitted and not yet answered (see {@link admit}); those queued are among them. */
  private admitted = 0;
  /** Moving average of commit time per queued item, ms: what Retry-After is estimated from. */
  private msPerItem = 1;
  private scheduled = false;
  private flushing: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;

  constructor(opts: RoundServiceOptions) {
    this.opts = opts;
    this.store = opts.store;
  }

  /** Starts the deadline ticker and finishes what a previous run left half done. */
  start(): void {
    void this.tick();
    this.timer = setInterval(() => void this.tick(), this.opts.tickMs ?? 1000);
    this.timer.unref();
  }

  /** Stops the ticker and waits for queued updates to be committed. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.drain();
    await this.ticking;
  }

  /** A round's parameters (cached: they never change) with its state as last read. */
  async round(id: number): Promise<RoundLayout | undefined> {
    const hit = this.specs.get(id);
    if (hit) return hit;
    const round = await this.store.getRound(id);
    if (!round) return undefined;
    const entry = roundLayout(round);
    this.specs.set(id, entry);
    return entry;
  }

  /** The most requests held at once ({@link RoundServiceOptions.maxQueue}). */
  get maxQueue(): number {
    return this.opts.maxQueue ?? 256;
  }

  /**
   * Takes one place in the bounded intake for a request about to be read and checked; call the
   * returned function once it is answered.
   *
   * @throws ApiError `overloaded` (503, with Retry-After) when every place is taken.
   */
  admit(): () => void {
    if (this.admitted >= this.maxQueue) {
      const wait = Math.min(60, Math.max(1, Math.ceil((this.admitted * this.msPerItem) / 1000)));
      this.opts.metrics?.updates.inc({ outcome: 'overloaded' });
      throw new ApiError(
        'overloaded',
        `the intake holds ${this.maxQueue} requests already; retry in ${wait} s`,
        { 'Retry-After': String(wait) },
      );
    }
    this.admitted++;
    let done = false;
    return () => {
      if (!done) this.admitted--;
      done = true;
    };
  }

  /**
   * Decodes a posted body and checks it against round `id` ({@link checkDelta}); returns what
   * to count. Runs on the caller's thread (the server posts through {@link post} instead).
   *
   * @param options.ticket - the round ticket the post came with (checked when it is counted).
   */
  async check(
    id: number,
    body: Uint8Array,
    options: { ticket?: string } = {},
  ): Promise<{ input: UpdateInput; delta: Delta }> {
    const r = await this.round(id);
    if (!r) throw new LocalrecError('not-found', `no round ${id}`);
    return checkDelta(
      r,
      body,
      options.ticket === undefined ? undefined : ticketHash(options.ticket),
    );
  }

  /**
   * Checks and counts a posted delta (group commit); resolves once its transaction has
   * committed. With the round store on a worker thread the check runs there, beside the
   * count: the event loop only passes the bytes on.
   *
   * @throws what {@link checkDelta} throws.
   */
  async post(
    id: number,
    body: Uint8Array,
    options: { ticket?: string } = {},
  ): Promise<{ updateId: string; outcome: UpdateOutcome }> {
    const ticket = options.ticket === undefined ? undefined : ticketHash(options.ticket);
    if (this.store instanceof ThreadedRoundStore) {
      const out = await new Promise<PostedOutcome>((resolve, reject) =>
        this.enqueue({ kind: 'posted', input: { roundId: id, body, ticket }, resolve, reject }),
      );
      if ('error' in out) throw out.error;
      return out;
    }
    const { input } = await this.check(id, body, options);
    return { updateId: input.updateId, outcome: await this.submit(input) };
  }

  /** Counts one checked update (group commit); resolves once its transaction has committed. */
  submit(input: UpdateInput): Promise<UpdateOutcome> {
    return new Promise((resolve, reject) =>
      this.enqueue({ kind: 'update', input, resolve, reject }),
    );
  }

  /**
   * Issues a round ticket to a client network: one report in round `id`. Resolves once the
   * ticket is durable.
   *
   * @param network - the client's network (client-network.ts); only its hash is stored, and
   *   only while the round is open.
   * @throws LocalrecError `not-found`; ApiError `conflict` for a round that is not open,
   *   `forbidden` when the network already holds its tickets of the round.
   */
  async issueTicket(id: number, network: string): Promise<{ ticket: string; expiresAt: number }> {
    const r = await this.round(id);
    if (!r) throw new LocalrecError('not-found', `no round ${id}`);
    const ticket = randomBytes(32).toString('base64url');
    const now = Date.now();
    const perNetwork = this.opts.ticketsPerNetwork ?? 4;
    const expiresAt = Math.min(r.round.deadline, now + (this.opts.ticketSeconds ?? 3600) * 1000);
    const out = await new Promise<TicketOutcome>((resolve, reject) =>
      this.enqueue({
        kind: 'ticket',
        input: {
          roundId: id,
          hash: ticketHash(ticket),
          network: sha256(network),
          perNetwork,
          expiresAt,
        },
        resolve,
        reject,
      }),
    );
    switch (out.status) {
      case 'issued':
        return { ticket, expiresAt };
      case 'limit':
        throw new ApiError(
          'forbidden',
          `your network has taken its ${perNetwork} ticket${perNetwork === 1 ? '' : 's'} for round ${id} (one report per ticket); wait for the next round`,
        );
      case 'not-open':
        throw new ApiError(
          'conflict',
          `round ${id} is ${out.state} and takes no more updates; see /v1/rounds/current`,
        );
      case 'not-found':
        throw new LocalrecError('not-found', `no round ${id}`);
    }
  }

  private enqueue(p: Pending): void {
    this.queue.push(p);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => void this.flush());
    }
  }

  private async flush(): Promise<void> {
    this.scheduled = false;
    if (this.flushing) return;
    const run = async () => {
      const max = this.opts.maxBatch ?? 512;
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, max);
        const t0 = performance.now();
        const tickets = batch.filter((p) => p.kind === 'ticket');
        const updates = batch.filter((p) => p.kind === 'update');
        const posted = batch.filter((p) => p.kind === 'posted');
        if (tickets.length > 0) {
          try {
            const out = await this.store.issueTickets(
              tickets.map((p) => p.input),
              Date.now(),
            );
            tickets.forEach((p, i) => p.resolve(out[i]!));
          } catch (e) {
            tickets.forEach((p) => p.reject(e));
          }
        }
        if (updates.length > 0) {
          try {
            const out = await this.store.applyUpdates(
              updates.map((p) => p.input),
              Date.now(),
            );
            this.opts.metrics?.batches.inc();
            updates.forEach((p, i) => p.resolve(out[i]!));
          } catch (e) {
            updates.forEach((p) => p.reject(e));
          }
        }
        if (posted.length > 0 && this.store instanceof ThreadedRoundStore) {
          try {
            const out = await this.store.checkAndApply(
              posted.map((p) => p.input),
              Date.now(),
            );
            this.opts.metrics?.batches.inc();
            posted.forEach((p, i) => p.resolve(out[i]!));
          } catch (e) {
            posted.forEach((p) => p.reject(e));
          }
        }
        this.msPerItem = 0.8 * this.msPerItem + (0.2 * (performance.now() - t0)) / batch.length;
      }
    };
    this.flushing = run().finally(() => (this.flushing = undefined));
    await this.flushing;
  }

  /** Waits until every queued update has been committed (or failed). */
  async drain(): Promise<void> {
    while (this.queue.length > 0 || this.flushing || this.scheduled) {
      if (this.flushing) await this.flushing;
      else await new Promise((r) => setImmediate(r));
    }
  }

  /**
   * Takes rounds past their deadline out of open (to closing, or to failed under their
   * minimum), and gives closing rounds to the aggregator, then marks them closed.
   */
  tick(): Promise<void> {
    if (this.ticking) return this.ticking;
    this.ticking = (async () => {
      try {
        const now = Date.now();
        for (const r of await this.store.expire(now)) this.specs.delete(r.id);
        for (const r of await this.store.listRounds()) {
          if (r.state !== 'closing') continue;
          // The aggregator never runs on fewer than minReports updates (a store leaves such a
          // round failed; this guards against one that did not).
          if (r.reports >= r.minReports) await this.opts.onClosing?.(r, this.store);
          else
            this.opts.log?.(
              `round ${r.id} is closing with ${r.reports} of its minimum ${r.minReports} reports: not aggregated`,
            );
          await this.store.finishClosing(r.id, Date.now());
          this.specs.delete(r.id);
        }
      } catch (e) {
        this.opts.log?.('round ticker failed', e);
      }
    })().finally(() => (this.ticking = undefined));
    return this.ticking;
  }

  /**
   * Closes a round by the owner's request: open → closing → closed, or failed (no aggregation)
   * when it has fewer than minReports updates.
   */
  async closeRound(id: number): Promise<Round> {
    const r = await this.store.getRound(id);
    if (!r) throw new LocalrecError('not-found', `no round ${id}`);
    await this.drain();
    await this.store.beginClosing(id, 'admin', Date.now());
    this.specs.delete(id);
    // A tick already under way may have listed the rounds before this one was closing.
    await this.tick();
    if ((await this.store.getRound(id))!.state === 'closing') await this.tick();
    return (await this.store.getRound(id))!;
  }
}

/** What `GET /v1/rounds/current` shows clients: the parameters, no counts. */
export function publicRound(round: Round, maxBytes: number) {
  return {
    id: round.id,
    state: round.state,
    baseModelVersion: round.baseModelVersion,
    slices: round.slices,
    clipNorm: round.clipNorm,
    minReports: round.minReports,
    deadline: new Date(round.deadline).toISOString(),
    deltaFormatVersion: 1,
    deltaBytes: maxBytes,
    /** The server's privacy accounting for this round, or null when it keeps none (a hand-opened round). */
    privacy: round.privacy ?? null,
    ticketsUrl: `/v1/rounds/${round.id}/tickets`,
    updatesUrl: `/v1/rounds/${round.id}/updates`,
  };
}

/** What the admin API shows: everything but the sums. */
export function adminRound(round: Round) {
  return {
    ...round,
    deadline: new Date(round.deadline).toISOString(),
    openedAt: new Date(round.openedAt).toISOString(),
    closingAt: round.closingAt === null ? null : new Date(round.closingAt).toISOString(),
    closedAt: round.closedAt === null ? null : new Date(round.closedAt).toISOString(),
  };
}

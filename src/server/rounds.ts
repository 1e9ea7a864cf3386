import { createHash } from 'node:crypto';
import { LocalrecError } from '../core/errors.ts';
import {
  addDequantized,
  decodeDelta,
  deltaByteLength,
  deltaNorm,
  type Delta,
} from '../core/delta.ts';
import { ApiError } from './errors.ts';
import type { ServerMetrics } from './metrics.ts';
import {
  sliceLength,
  sliceOffsets,
  type Round,
  type RoundStore,
  type UpdateInput,
  type UpdateOutcome,
} from './store/round-store.ts';

/** Called when a round reaches `closing`, before it is marked `closed` (the aggregator's hook). */
export type OnRoundClosing = (round: Round, store: RoundStore) => Promise<void>;

/** Options of {@link RoundService}. */
export interface RoundServiceOptions {
  store: RoundStore;
  metrics?: ServerMetrics;
  /** Most updates per transaction. Default 512. */
  maxBatch?: number;
  /** How often deadlines are checked. Default 1000 ms. */
  tickMs?: number;
  onClosing?: OnRoundClosing;
  log?: (msg: string, err?: unknown) => void;
}

interface Pending {
  input: UpdateInput;
  resolve: (o: UpdateOutcome) => void;
  reject: (e: unknown) => void;
}

/**
 * The federated intake: checks deltas against their round, counts them with group commit (the
 * updates that arrive while one transaction is being written go together into the next, so a
 * disk flush per commit still allows thousands of updates per second), and drives the round
 * state machine (deadlines, closing → closed). Nothing is acknowledged before its transaction
 * has committed.
 */
export class RoundService {
  readonly store: RoundStore;
  private readonly opts: RoundServiceOptions;
  private readonly specs = new Map<number, { round: Round; offsets: number[]; maxBytes: number }>();
  private queue: Pending[] = [];
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
  async round(
    id: number,
  ): Promise<{ round: Round; offsets: number[]; maxBytes: number } | undefined> {
    const hit = this.specs.get(id);
    if (hit) return hit;
    const round = await this.store.getRound(id);
    if (!round) return undefined;
    const entry = {
      round,
      offsets: sliceOffsets(round.slices),
      maxBytes: deltaByteLength(round.baseModelVersion, round.slices.map(sliceLength)),
    };
    this.specs.set(id, entry);
    return entry;
  }

  /**
   * Decodes a posted body and checks it against round `id`; returns what to count.
   *
   * @throws LocalrecError / ApiError naming the first problem: a malformed delta, another round,
   *   another base model, slices whose number or sizes differ from the round's, a client clip
   *   norm above the round's, or a norm over the clip bound.
   */
  async check(id: number, body: Uint8Array): Promise<{ input: UpdateInput; delta: Delta }> {
    const r = await this.round(id);
    if (!r) throw new LocalrecError('not-found', `no round ${id}`);
    const { round, offsets } = r;
    if (body.length > r.maxBytes)
      throw new ApiError(
        'too-large',
        `a delta for round ${id} is ${r.maxBytes} bytes; this body has ${body.length}`,
      );
    const d = decodeDelta(body);
    if (d.roundId !== id)
      throw new LocalrecError(
        'bad-input',
        `the delta is for round ${d.roundId} but was posted to round ${id}`,
      );
    if (d.baseVersion !== round.baseModelVersion) {
      throw new ApiError(
        'conflict',
        `the delta was trained from model ${d.baseVersion}; round ${id} takes updates to ${round.baseModelVersion}`,
      );
    }
    if (d.slices.length !== round.slices.length)
      throw new LocalrecError(
        'bad-input',
        `the delta has ${d.slices.length} slices; round ${id} has ${round.slices.length}`,
      );
    d.slices.forEach((s, i) => {
      const want = round.slices[i]!;
      if (s.index !== i)
        throw new LocalrecError('bad-input', `slice ${i} of the delta has index ${s.index}`);
      if (s.values.length !== sliceLength(want))
        throw new LocalrecError(
          'bad-input',
          `slice ${i} (${want.name}, shape ${want.shape.join('x')}) needs ${sliceLength(want)} values, the delta has ${s.values.length}`,
        );
    });
    if (d.clipNorm > Math.fround(round.clipNorm))
      throw new LocalrecError(
        'bad-input',
        `the delta's clip norm ${d.clipNorm} is above round ${id}'s bound ${round.clipNorm}`,
      );
    const norm = deltaNorm(d);
    if (!Number.isFinite(norm) || norm > round.clipNorm)
      throw new LocalrecError(
        'bad-input',
        `the delta's L2 norm ${norm} exceeds round ${id}'s clip bound ${round.clipNorm}`,
      );
    const values = new Float64Array(offsets.at(-1)!);
    addDequantized(d, values, offsets);
    const digest = createHash('sha256').update(body).digest('hex');
    return { input: { roundId: id, updateId: d.updateId, digest, values }, delta: d };
  }

  /** Counts one checked update (group commit); resolves once its transaction has committed. */
  submit(input: UpdateInput): Promise<UpdateOutcome> {
    return new Promise((resolve, reject) => {
      this.queue.push({ input, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => void this.flush());
      }
    });
  }

  private async flush(): Promise<void> {
    this.scheduled = false;
    if (this.flushing) return;
    const run = async () => {
      const max = this.opts.maxBatch ?? 512;
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, max);
        try {
          const out = await this.store.applyUpdates(
            batch.map((p) => p.input),
            Date.now(),
          );
          this.opts.metrics?.batches.inc();
          batch.forEach((p, i) => p.resolve(out[i]!));
          if (out.some((o) => o.status === 'accepted')) {
            // A round may have reached its minimum: let the ticker close it now, not in a second.
            const ids = new Set(batch.map((p) => p.input.roundId));
            for (const id of ids) this.specs.delete(id);
            void this.tick();
          }
        } catch (e) {
          batch.forEach((p) => p.reject(e));
        }
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

  /** Moves rounds past their deadline to closing, and closing rounds (the aggregator's turn) to closed. */
  tick(): Promise<void> {
    if (this.ticking) return this.ticking;
    this.ticking = (async () => {
      try {
        const now = Date.now();
        await this.store.expire(now);
        for (const r of await this.store.listRounds()) {
          if (r.state !== 'closing') continue;
          await this.opts.onClosing?.(r, this.store);
          await this.store.finishClosing(r.id, Date.now());
          this.specs.delete(r.id);
        }
      } catch (e) {
        this.opts.log?.('round ticker failed', e);
      }
    })().finally(() => (this.ticking = undefined));
    return this.ticking;
  }

  /** Closes a round by the owner's request: open → closing → closed. */
  async closeRound(id: number): Promise<Round> {
    const r = await this.store.getRound(id);
    if (!r) throw new LocalrecError('not-found', `no round ${id}`);
    await this.store.beginClosing(id, 'admin', Date.now());
    this.specs.delete(id);
    await this.tick();
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

import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { LocalrecError } from '../../core/errors.ts';
import {
  addUpdate,
  sliceOffsets,
  updateLength,
  type CloseReason,
  type CountedUpdate,
  type Round,
  type RoundSpec,
  type RoundStore,
  type TicketInput,
  type TicketOutcome,
  type UpdateInput,
  type UpdateOutcome,
} from './round-store.ts';
import { migrate } from './sqlite-schema.ts';
import {
  fromLog,
  LOG_DELTA,
  LOG_VALUES,
  prepareQueries,
  toBlob,
  toFloat64,
  type Queries,
  type RoundRow,
} from './sqlite-queries.ts';

/** How hard commits wait for the disk: FULL survives power loss, NORMAL only process crashes. */
export type SqliteSynchronous = 'full' | 'normal';

/**
 * The log may grow to this many times the sum's own size before a checkpoint folds it in: the
 * most replayed at start-up, and (with the delta bytes) how long an update's own values stay on
 * disk.
 */
const LOG_FACTOR = 2;

/** The running sum of an open round, in memory: the checkpoint plus every logged update. */
interface Running {
  sums: Float64Array;
  offsets: number[];
  reports: number;
  /** Bytes in sum_log for the round. */
  logged: number;
}

/**
 * Rounds in SQLite (better-sqlite3), WAL mode: readers never block the writer, and a commit is
 * one append to the log. `synchronous=FULL` by default, so an acknowledged update survives a
 * power loss, not only a crash.
 *
 * The running sum of the open round is kept in memory. A batch of updates is made durable by
 * appending the updates themselves to `sum_log` (a 480k-value delta is 480 kB, its float64 sum
 * 3.9 MB), and the sum is written out as a checkpoint only when the batch or the log would be
 * bigger than that: the sum is never read per batch, and written about once per
 * `LOG_FACTOR × sum size` bytes of updates. On opening, the sum is the checkpoint plus the
 * logged updates replayed in receipt order — the same additions in the same order, so the same
 * bits. When a round leaves `open` the log is folded in (or, for a failed round, discarded).
 *
 * One process writes updates to a database at a time (another, such as `localrec round`, may
 * open and close rounds meanwhile).
 */
export class SqliteRoundStore implements RoundStore {
  readonly url: string;
  private readonly db: Database.Database;
  private readonly specs = new Map<number, { spec: RoundSpec; offsets: number[] }>();
  private readonly running = new Map<number, Running>();
  private readonly q: Queries;

  constructor(path: string, options: { synchronous?: SqliteSynchronous } = {}) {
    this.url = `sqlite:${path}`;
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${options.synchronous === 'normal' ? 'NORMAL' : 'FULL'}`);
    this.db.pragma('foreign_keys = ON');
    // The CLI (`localrec round open`) writes while the server runs: wait for the lock, not fail.
    this.db.pragma('busy_timeout = 5000');
    migrate(this.db, path);
    this.q = prepareQueries(this.db);
  }

  private toRound(r: RoundRow): Round {
    return {
      ...this.spec(r).spec,
      id: r.id,
      state: r.state,
      reports: r.reports,
      openedAt: r.opened_at,
      closingAt: r.closing_at,
      closedAt: r.closed_at,
      closeReason: r.close_reason,
    };
  }

  /** Round parameters never change after opening, so they are parsed once per round. */
  private spec(r: { id: number; spec: string }): { spec: RoundSpec; offsets: number[] } {
    let s = this.specs.get(r.id);
    if (!s) {
      const spec = JSON.parse(r.spec) as RoundSpec;
      s = { spec, offsets: sliceOffsets(spec.slices) };
      this.specs.set(r.id, s);
    }
    return s;
  }

  /**
   * The open round's running sum: cached, or read as checkpoint + log. Re-read when the count
   * in the database is not the cached one (another store instance counted meanwhile).
   */
  private runningSum(r: RoundRow): Running {
    const hit = this.running.get(r.id);
    if (hit && hit.reports === r.reports) return hit;
    const { offsets } = this.spec(r);
    const cp = this.q.checkpoint.get(r.id)!;
    const sums = cp.sums ? toFloat64(cp.sums) : new Float64Array(offsets.at(-1)!);
    let reports = cp.sums_receipt;
    let logged = 0;
    for (const row of this.q.log.iterate(r.id, cp.sums_receipt)) {
      if (row.receipt !== reports + 1)
        throw new LocalrecError(
          'internal',
          `round ${r.id}: the sum log jumps from receipt ${reports} to ${row.receipt}`,
        );
      addUpdate(fromLog(row), sums, offsets);
      reports = row.receipt;
      logged += row.data.length;
    }
    if (reports !== r.reports)
      throw new LocalrecError(
        'internal',
        `round ${r.id} counts ${r.reports} updates but its sum holds ${reports}`,
      );
    const run = { sums, offsets, reports, logged };
    this.running.set(r.id, run);
    return run;
  }

  /** Writes the running sum as the checkpoint and empties the log. */
  private writeCheckpoint(id: number, run: Running): void {
    this.q.setSums.run(toBlob(run.sums), run.reports, run.reports, id);
    this.q.clearLog.run(id);
    run.logged = 0;
  }

  /** open → closing (log folded into the sum) or failed (sum and log discarded); in a transaction. */
  private leaveOpen(
    r: RoundRow,
    reason: Exclude<CloseReason, 'min-reports'>,
    now: number,
  ): RoundRow {
    if (r.state !== 'open') return r;
    const { spec } = this.spec(r);
    if (r.reports >= spec.minReports) {
      this.writeCheckpoint(r.id, this.runningSum(r));
      this.q.toClosing.run(now, reason, r.id);
    } else {
      this.q.clearLog.run(r.id);
      this.q.toFailed.run(now, reason, r.id);
    }
    this.q.forgetNetworks.run(r.id);
    this.running.delete(r.id);
    return this.q.round.get(r.id)!;
  }

  async openRound(spec: RoundSpec, now: number): Promise<Round> {
    const total = sliceOffsets(spec.slices).at(-1)!;
    const id = this.db
      .transaction(() => {
        const open = this.q.open.get();
        if (open)
          throw new LocalrecError(
            'bad-input',
            `round ${open.id} is still open; close it before opening another`,
          );
        const r = this.q.insertRound.run(JSON.stringify(spec), Buffer.alloc(total * 8), now);
        return Number(r.lastInsertRowid);
      })
      .immediate();
    return this.toRound(this.q.round.get(id)!);
  }

  async getRound(id: number): Promise<Round | undefined> {
    const r = this.q.round.get(id);
    return r && this.toRound(r);
  }

  async currentRound(): Promise<Round | undefined> {
    const r = this.q.open.get();
    return r && this.toRound(r);
  }

  async listRounds(): Promise<Round[]> {
    return this.q.all.all().map((r) => this.toRound(r));
  }

  async applyUpdates(batch: readonly UpdateInput[], now: number): Promise<UpdateOutcome[]> {
    const touched = new Set<number>();
    try {
      return this.db.transaction(() => this.applyInTransaction(batch, now, touched)).immediate();
    } catch (e) {
      // The transaction rolled back; the sums in memory may hold part of it: read them again.
      for (const id of touched) this.running.delete(id);
      throw e;
    }
  }

  private applyInTransaction(
    batch: readonly UpdateInput[],
    now: number,
    touched: Set<number>,
  ): UpdateOutcome[] {
    const work = new Map<number, { round: RoundRow; log: { receipt: number; u: UpdateInput }[] }>();
    const outcomes: UpdateOutcome[] = [];
    for (const u of batch) {
      let w = work.get(u.roundId);
      if (!w) {
        const round = this.q.round.get(u.roundId);
        if (!round) {
          outcomes.push({ status: 'not-found' });
          continue;
        }
        w = { round, log: [] };
        work.set(u.roundId, w);
      }
      const prev = this.q.findUpdate.get(u.roundId, u.updateId);
      if (prev) {
        if (prev.digest !== u.digest) outcomes.push({ status: 'conflict' });
        else if (u.ticket !== undefined && prev.ticket !== null && prev.ticket !== u.ticket)
          outcomes.push({ status: 'other-ticket' });
        else outcomes.push({ status: 'replay', receipt: prev.receipt });
        continue;
      }
      const { spec, offsets } = this.spec(w.round);
      // `now` is one time for the whole batch, so this happens before any update of the round
      // in the batch was accepted.
      if (w.round.state === 'open' && now >= spec.deadline)
        w.round = this.leaveOpen(w.round, 'deadline', now);
      if (w.round.state !== 'open') {
        outcomes.push({ status: 'not-open', state: w.round.state });
        continue;
      }
      if (u.ticket !== undefined) {
        const t = this.q.ticket.get(u.ticket);
        const problem = !t
          ? 'unknown'
          : t.round_id !== u.roundId
            ? 'foreign'
            : t.update_id !== null
              ? 'used'
              : t.expires_at <= now
                ? 'expired'
                : null;
        if (problem) {
          outcomes.push({ status: 'ticket', problem });
          continue;
        }
      }
      if (u.valuesDigest !== undefined && this.q.sameValues.get(u.roundId, u.valuesDigest)) {
        outcomes.push({ status: 'same-values' });
        continue;
      }
      if (updateLength(u) !== offsets.at(-1))
        throw new LocalrecError(
          'internal',
          `update has ${updateLength(u)} values, round ${u.roundId} needs ${offsets.at(-1)}`,
        );
      touched.add(u.roundId);
      const run = this.runningSum(w.round);
      addUpdate(u, run.sums, offsets);
      const receipt = ++run.reports;
      w.round = { ...w.round, reports: receipt };
      this.q.insertUpdate.run(
        u.roundId,
        u.updateId,
        u.digest,
        receipt,
        now,
        u.valuesDigest ?? null,
        u.ticket ?? null,
      );
      if (u.ticket !== undefined) this.q.useTicket.run(u.updateId, u.ticket);
      w.log.push({ receipt, u });
      outcomes.push({ status: 'accepted', receipt });
    }
    for (const w of work.values()) if (w.log.length > 0) this.persist(w.round, w.log);
    return outcomes;
  }

  /**
   * Makes the updates just added to a round's running sum durable: as log entries, or as a new
   * checkpoint when that writes fewer bytes (a batch bigger than the sum) or the log has grown
   * past LOG_FACTOR × the sum.
   */
  private persist(r: RoundRow, log: { receipt: number; u: UpdateInput }[]): void {
    const run = this.running.get(r.id)!;
    const entries = log.map(({ receipt, u }) =>
      u.encoded
        ? { receipt, format: LOG_DELTA, data: u.encoded.body }
        : { receipt, format: LOG_VALUES, data: toBlob(u.values) },
    );
    const bytes = entries.reduce((a, e) => a + e.data.length, 0);
    const sumBytes = run.sums.byteLength;
    if (bytes >= sumBytes || run.logged + bytes > LOG_FACTOR * sumBytes) {
      this.writeCheckpoint(r.id, run);
      return;
    }
    for (const e of entries) this.q.appendLog.run(r.id, e.receipt, e.format, e.data);
    this.q.setReports.run(run.reports, r.id);
    run.logged += bytes;
  }

  async issueTickets(batch: readonly TicketInput[], now: number): Promise<TicketOutcome[]> {
    return this.db
      .transaction(() =>
        batch.map((t): TicketOutcome => {
          let r = this.q.round.get(t.roundId);
          if (!r) return { status: 'not-found' };
          if (r.state === 'open' && now >= this.spec(r).spec.deadline)
            r = this.leaveOpen(r, 'deadline', now);
          if (r.state !== 'open') return { status: 'not-open', state: r.state };
          const issued = this.q.networkTickets.get(t.roundId, t.network)!.n;
          if (issued >= t.perNetwork) return { status: 'limit', issued };
          this.q.insertTicket.run(t.hash, t.roundId, t.network, now, t.expiresAt);
          return { status: 'issued' };
        }),
      )
      .immediate();
  }

  async beginClosing(
    id: number,
    reason: Exclude<CloseReason, 'min-reports'>,
    now: number,
  ): Promise<Round> {
    const r = this.db
      .transaction(() => {
        const row = this.q.round.get(id);
        return row && this.leaveOpen(row, reason, now);
      })
      .immediate();
    if (!r) throw new LocalrecError('not-found', `no round ${id}`);
    return this.toRound(r);
  }

  async finishClosing(id: number, now: number): Promise<Round> {
    const r = await this.getRound(id);
    if (!r) throw new LocalrecError('not-found', `no round ${id}`);
    if (r.state === 'open') throw new LocalrecError('bad-input', `round ${id} is still open`);
    this.q.toClosed.run(now, id);
    return (await this.getRound(id))!;
  }

  async expire(now: number): Promise<Round[]> {
    return this.db
      .transaction(() => {
        const out: Round[] = [];
        for (const r of this.q.open.all())
          if (this.spec(r).spec.deadline <= now)
            out.push(this.toRound(this.leaveOpen(r, 'deadline', now)));
        return out;
      })
      .immediate();
  }

  async sums(id: number): Promise<{ reports: number; sums: Float64Array } | undefined> {
    const r = this.q.round.get(id);
    if (!r || r.state === 'failed') return undefined;
    if (r.state === 'open') {
      const run = this.db.transaction(() => this.runningSum(r)).deferred();
      return { reports: run.reports, sums: Float64Array.from(run.sums) };
    }
    const cp = this.q.checkpoint.get(id)!;
    return cp.sums ? { reports: r.reports, sums: toFloat64(cp.sums) } : undefined;
  }

  async updates(id: number): Promise<CountedUpdate[]> {
    return this.q.updates
      .all(id)
      .map((u) => ({ updateId: u.update_id, digest: u.digest, receipt: u.receipt }));
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}

import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { LocalrecError } from '../../core/errors.ts';
import {
  sliceOffsets,
  type CloseReason,
  type CountedUpdate,
  type Round,
  type RoundSpec,
  type RoundStore,
  type UpdateInput,
  type UpdateOutcome,
} from './round-store.ts';

/** How hard commits wait for the disk: FULL survives power loss, NORMAL only process crashes. */
export type SqliteSynchronous = 'full' | 'normal';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS rounds (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  state TEXT NOT NULL CHECK (state IN ('open', 'closing', 'closed')),
  spec TEXT NOT NULL,
  reports INTEGER NOT NULL DEFAULT 0,
  sums BLOB NOT NULL,
  opened_at INTEGER NOT NULL,
  closing_at INTEGER,
  closed_at INTEGER,
  close_reason TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS rounds_one_open ON rounds (state) WHERE state = 'open';
CREATE TABLE IF NOT EXISTS updates (
  round_id INTEGER NOT NULL REFERENCES rounds (id),
  update_id TEXT NOT NULL,
  digest TEXT NOT NULL,
  receipt INTEGER NOT NULL,
  received_at INTEGER NOT NULL,
  PRIMARY KEY (round_id, update_id)
) WITHOUT ROWID;
`;

interface RoundRow {
  id: number;
  state: Round['state'];
  spec: string;
  reports: number;
  opened_at: number;
  closing_at: number | null;
  closed_at: number | null;
  close_reason: CloseReason | null;
}

const ROUND_COLS = 'id, state, spec, reports, opened_at, closing_at, closed_at, close_reason';

/**
 * Rounds in SQLite (better-sqlite3), WAL mode: readers never block the writer, and a commit is
 * one append to the log. `synchronous=FULL` by default, so an acknowledged update survives a
 * power loss, not only a crash. The running sums are one float64 little-endian BLOB per round.
 */
export class SqliteRoundStore implements RoundStore {
  readonly url: string;
  private readonly db: Database.Database;
  private readonly specs = new Map<number, { spec: RoundSpec; total: number }>();
  private readonly q;

  constructor(path: string, options: { synchronous?: SqliteSynchronous } = {}) {
    this.url = `sqlite:${path}`;
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${options.synchronous === 'normal' ? 'NORMAL' : 'FULL'}`);
    this.db.pragma('foreign_keys = ON');
    // The CLI (`localrec round open`) writes while the server runs: wait for the lock, not fail.
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(SCHEMA);
    const db = this.db;
    this.q = {
      round: db.prepare<[number], RoundRow>(`SELECT ${ROUND_COLS} FROM rounds WHERE id = ?`),
      open: db.prepare<[], RoundRow>(`SELECT ${ROUND_COLS} FROM rounds WHERE state = 'open'`),
      all: db.prepare<[], RoundRow>(`SELECT ${ROUND_COLS} FROM rounds ORDER BY id DESC`),
      insertRound: db.prepare(
        `INSERT INTO rounds (state, spec, sums, opened_at) VALUES ('open', ?, ?, ?)`,
      ),
      sums: db.prepare<[number], { reports: number; sums: Buffer }>(
        'SELECT reports, sums FROM rounds WHERE id = ?',
      ),
      setSums: db.prepare('UPDATE rounds SET sums = ?, reports = ? WHERE id = ?'),
      toClosing: db.prepare(
        `UPDATE rounds SET state = 'closing', closing_at = ?, close_reason = ? WHERE id = ? AND state = 'open'`,
      ),
      toClosed: db.prepare(
        `UPDATE rounds SET state = 'closed', closed_at = ? WHERE id = ? AND state = 'closing'`,
      ),
      expired: db.prepare<[], RoundRow>(`SELECT ${ROUND_COLS} FROM rounds WHERE state = 'open'`),
      findUpdate: db.prepare<[number, string], { digest: string; receipt: number }>(
        'SELECT digest, receipt FROM updates WHERE round_id = ? AND update_id = ?',
      ),
      insertUpdate: db.prepare(
        'INSERT INTO updates (round_id, update_id, digest, receipt, received_at) VALUES (?, ?, ?, ?, ?)',
      ),
      updates: db.prepare<[number], { update_id: string; digest: string; receipt: number }>(
        'SELECT update_id, digest, receipt FROM updates WHERE round_id = ? ORDER BY receipt',
      ),
    };
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
  private spec(r: { id: number; spec: string }): { spec: RoundSpec; total: number } {
    let s = this.specs.get(r.id);
    if (!s) {
      const spec = JSON.parse(r.spec) as RoundSpec;
      s = { spec, total: sliceOffsets(spec.slices).at(-1)! };
      this.specs.set(r.id, s);
    }
    return s;
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
    return this.db
      .transaction(() => {
        // Sums read once per round in the batch, added to in memory, written once at the end.
        const work = new Map<
          number,
          { round: RoundRow; sums: Float64Array; reports: number; dirty: boolean }
        >();
        const outcomes: UpdateOutcome[] = [];
        for (const u of batch) {
          let w = work.get(u.roundId);
          if (!w) {
            const round = this.q.round.get(u.roundId);
            if (!round) {
              outcomes.push({ status: 'not-found' });
              continue;
            }
            const row = this.q.sums.get(u.roundId)!;
            w = { round, sums: toFloat64(row.sums), reports: row.reports, dirty: false };
            work.set(u.roundId, w);
          }
          const prev = this.q.findUpdate.get(u.roundId, u.updateId);
          if (prev) {
            outcomes.push(
              prev.digest === u.digest
                ? { status: 'replay', receipt: prev.receipt }
                : { status: 'conflict' },
            );
            continue;
          }
          const { spec, total } = this.spec(w.round);
          if (w.round.state === 'open' && now >= spec.deadline) {
            this.q.toClosing.run(now, 'deadline', w.round.id);
            w.round = { ...w.round, state: 'closing' };
          }
          if (w.round.state !== 'open') {
            outcomes.push({ status: 'not-open', state: w.round.state });
            continue;
          }
          if (u.values.length !== total)
            throw new LocalrecError(
              'internal',
              `update has ${u.values.length} values, round ${u.roundId} needs ${total}`,
            );
          for (let i = 0; i < total; i++) w.sums[i]! += u.values[i]!;
          w.reports++;
          w.dirty = true;
          this.q.insertUpdate.run(u.roundId, u.updateId, u.digest, w.reports, now);
          outcomes.push({ status: 'accepted', receipt: w.reports });
          if (w.reports >= spec.minReports) {
            this.q.toClosing.run(now, 'min-reports', w.round.id);
            w.round = { ...w.round, state: 'closing' };
          }
        }
        for (const [id, w] of work)
          if (w.dirty)
            this.q.setSums.run(
              Buffer.from(w.sums.buffer, w.sums.byteOffset, w.sums.byteLength),
              w.reports,
              id,
            );
        return outcomes;
      })
      .immediate();
  }

  async beginClosing(id: number, reason: CloseReason, now: number): Promise<Round> {
    this.q.toClosing.run(now, reason, id);
    const r = await this.getRound(id);
    if (!r) throw new LocalrecError('not-found', `no round ${id}`);
    return r;
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
        for (const r of this.q.expired.all()) {
          if (this.spec(r).spec.deadline <= now) {
            this.q.toClosing.run(now, 'deadline', r.id);
            out.push(this.toRound(this.q.round.get(r.id)!));
          }
        }
        return out;
      })
      .immediate();
  }

  async sums(id: number): Promise<{ reports: number; sums: Float64Array } | undefined> {
    const row = this.q.sums.get(id);
    return row && { reports: row.reports, sums: toFloat64(row.sums) };
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

/** A float64 little-endian BLOB as a Float64Array (copied: SQLite's buffers need not be 8-byte aligned). */
function toFloat64(b: Buffer): Float64Array {
  const out = new Float64Array(b.length / 8);
  new Uint8Array(out.buffer).set(b);
  return out;
}

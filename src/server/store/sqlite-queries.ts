/**
 * The SQLite round store's prepared statements, its row type, and the conversions between
 * BLOBs and what the store holds in memory (sqlite-round-store.ts).
 */
import { crc32 } from 'node:zlib';
import type Database from 'better-sqlite3';
import { decodeDelta } from '../../core/delta.ts';
import type { CloseReason, Round, UpdateInput } from './round-store.ts';

/** A `rounds` row without its sums. */
export interface RoundRow {
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

/** Log format of an update: the posted delta, or its float64 values. */
export const LOG_DELTA = 1;
export const LOG_VALUES = 0;

/**
 * The part of a better-sqlite3 statement the store uses. Declared here because the library's
 * own `Statement` lives in a namespace its types do not export, so a declaration file could not
 * name the type {@link prepareQueries} returns.
 */
export interface Stmt<P extends unknown[] = unknown[], R = unknown> {
  get(...params: P): R | undefined;
  all(...params: P): R[];
  iterate(...params: P): IterableIterator<R>;
  run(...params: P): Database.RunResult;
}

/** Every statement the store runs, prepared once. */
export function prepareQueries(db: Database.Database) {
  const prepare = <P extends unknown[] = unknown[], R = unknown>(sql: string): Stmt<P, R> =>
    db.prepare<P, R>(sql);
  return {
    round: prepare<[number], RoundRow>(`SELECT ${ROUND_COLS} FROM rounds WHERE id = ?`),
    open: prepare<[], RoundRow>(`SELECT ${ROUND_COLS} FROM rounds WHERE state = 'open'`),
    all: prepare<[], RoundRow>(`SELECT ${ROUND_COLS} FROM rounds ORDER BY id DESC`),
    insertRound: prepare(
      `INSERT INTO rounds (state, spec, sums, opened_at) VALUES ('open', ?, ?, ?)`,
    ),
    checkpoint: prepare<[number], { sums: Buffer | null; sums_receipt: number }>(
      'SELECT sums, sums_receipt FROM rounds WHERE id = ?',
    ),
    log: prepare<[number, number], { receipt: number; format: number; data: Buffer }>(
      'SELECT receipt, format, data FROM sum_log WHERE round_id = ? AND receipt > ? ORDER BY receipt',
    ),
    setReports: prepare('UPDATE rounds SET reports = ? WHERE id = ?'),
    setSums: prepare('UPDATE rounds SET sums = ?, sums_receipt = ?, reports = ? WHERE id = ?'),
    appendLog: prepare('INSERT INTO sum_log (round_id, receipt, format, data) VALUES (?, ?, ?, ?)'),
    clearLog: prepare('DELETE FROM sum_log WHERE round_id = ?'),
    toClosing: prepare(
      `UPDATE rounds SET state = 'closing', closing_at = ?, close_reason = ? WHERE id = ? AND state = 'open'`,
    ),
    toFailed: prepare(
      `UPDATE rounds SET state = 'failed', closed_at = ?, close_reason = ?, sums = NULL WHERE id = ? AND state = 'open'`,
    ),
    toClosed: prepare(
      `UPDATE rounds SET state = 'closed', closed_at = ? WHERE id = ? AND state = 'closing'`,
    ),
    findUpdate: prepare<
      [number, string],
      { digest: string; receipt: number; ticket: string | null }
    >('SELECT digest, receipt, ticket FROM updates WHERE round_id = ? AND update_id = ?'),
    sameValues: prepare<[number, string], { receipt: number }>(
      'SELECT receipt FROM updates WHERE round_id = ? AND values_digest = ?',
    ),
    insertUpdate: prepare(
      'INSERT INTO updates (round_id, update_id, digest, receipt, received_at, values_digest, ticket) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ),
    updates: prepare<[number], { update_id: string; digest: string; receipt: number }>(
      'SELECT update_id, digest, receipt FROM updates WHERE round_id = ? ORDER BY receipt',
    ),
    ticket: prepare<[string], { round_id: number; expires_at: number; update_id: string | null }>(
      'SELECT round_id, expires_at, update_id FROM tickets WHERE hash = ?',
    ),
    useTicket: prepare('UPDATE tickets SET update_id = ? WHERE hash = ?'),
    networkTickets: prepare<[number, string], { n: number }>(
      'SELECT COUNT(*) AS n FROM tickets WHERE round_id = ? AND network = ?',
    ),
    insertTicket: prepare(
      'INSERT INTO tickets (hash, round_id, network, issued_at, expires_at) VALUES (?, ?, ?, ?, ?)',
    ),
    forgetNetworks: prepare('UPDATE tickets SET network = NULL WHERE round_id = ?'),
  };
}

/** {@link prepareQueries}' statements. */
export type Queries = ReturnType<typeof prepareQueries>;

/** A logged update as an UpdateInput (only what adding it needs). */
export function fromLog(row: { format: number; data: Buffer }): UpdateInput {
  if (row.format === LOG_DELTA) {
    const body = new Uint8Array(row.data.buffer, row.data.byteOffset, row.data.byteLength);
    return {
      roundId: 0,
      updateId: '',
      digest: '',
      encoded: { body, delta: decodeDelta(body, { crc32 }) },
      values: new Float64Array(0),
    };
  }
  return { roundId: 0, updateId: '', digest: '', values: toFloat64(row.data) };
}

/** A Float64Array as a little-endian BLOB (a view, not a copy). */
export function toBlob(v: Float64Array): Buffer {
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

/** A float64 little-endian BLOB as a Float64Array (copied: SQLite's buffers need not be 8-byte aligned). */
export function toFloat64(b: Buffer): Float64Array {
  const out = new Float64Array(b.length / 8);
  new Uint8Array(out.buffer).set(b);
  return out;
}

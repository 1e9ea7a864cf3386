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

/** Every statement the store runs, prepared once. */
export function prepareQueries(db: Database.Database) {
  return {
    round: db.prepare<[number], RoundRow>(`SELECT ${ROUND_COLS} FROM rounds WHERE id = ?`),
    open: db.prepare<[], RoundRow>(`SELECT ${ROUND_COLS} FROM rounds WHERE state = 'open'`),
    all: db.prepare<[], RoundRow>(`SELECT ${ROUND_COLS} FROM rounds ORDER BY id DESC`),
    insertRound: db.prepare(
      `INSERT INTO rounds (state, spec, sums, opened_at) VALUES ('open', ?, ?, ?)`,
    ),
    checkpoint: db.prepare<[number], { sums: Buffer | null; sums_receipt: number }>(
      'SELECT sums, sums_receipt FROM rounds WHERE id = ?',
    ),
    log: db.prepare<[number, number], { receipt: number; format: number; data: Buffer }>(
      'SELECT receipt, format, data FROM sum_log WHERE round_id = ? AND receipt > ? ORDER BY receipt',
    ),
    setReports: db.prepare('UPDATE rounds SET reports = ? WHERE id = ?'),
    setSums: db.prepare('UPDATE rounds SET sums = ?, sums_receipt = ?, reports = ? WHERE id = ?'),
    appendLog: db.prepare(
      'INSERT INTO sum_log (round_id, receipt, format, data) VALUES (?, ?, ?, ?)',
    ),
    clearLog: db.prepare('DELETE FROM sum_log WHERE round_id = ?'),
    toClosing: db.prepare(
      `UPDATE rounds SET state = 'closing', closing_at = ?, close_reason = ? WHERE id = ? AND state = 'open'`,
    ),
    toFailed: db.prepare(
      `UPDATE rounds SET state = 'failed', closed_at = ?, close_reason = ?, sums = NULL WHERE id = ? AND state = 'open'`,
    ),
    toClosed: db.prepare(
      `UPDATE rounds SET state = 'closed', closed_at = ? WHERE id = ? AND state = 'closing'`,
    ),
    findUpdate: db.prepare<
      [number, string],
      { digest: string; receipt: number; ticket: string | null }
    >('SELECT digest, receipt, ticket FROM updates WHERE round_id = ? AND update_id = ?'),
    sameValues: db.prepare<[number, string], { receipt: number }>(
      'SELECT receipt FROM updates WHERE round_id = ? AND values_digest = ?',
    ),
    insertUpdate: db.prepare(
      'INSERT INTO updates (round_id, update_id, digest, receipt, received_at, values_digest, ticket) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ),
    updates: db.prepare<[number], { update_id: string; digest: string; receipt: number }>(
      'SELECT update_id, digest, receipt FROM updates WHERE round_id = ? ORDER BY receipt',
    ),
    ticket: db.prepare<
      [string],
      { round_id: number; expires_at: number; update_id: string | null }
    >('SELECT round_id, expires_at, update_id FROM tickets WHERE hash = ?'),
    useTicket: db.prepare('UPDATE tickets SET update_id = ? WHERE hash = ?'),
    networkTickets: db.prepare<[number, string], { n: number }>(
      'SELECT COUNT(*) AS n FROM tickets WHERE round_id = ? AND network = ?',
    ),
    insertTicket: db.prepare(
      'INSERT INTO tickets (hash, round_id, network, issued_at, expires_at) VALUES (?, ?, ?, ?, ?)',
    ),
    forgetNetworks: db.prepare('UPDATE tickets SET network = NULL WHERE round_id = ?'),
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

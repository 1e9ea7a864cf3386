/**
 * ONE suite for every RoundStore backend (SQLite on disk, SQLite in memory, the in-memory
 * reference): a new backend (PostgreSQL, …) joins by adding its URL here.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeDelta, encodeDelta } from '../../src/core/delta.ts';
import { isLocalrecError } from '../../src/core/errors.ts';
import { openRoundStore } from '../../src/server/store/registry.ts';
import type { RoundSpec, RoundStore, UpdateInput } from '../../src/server/store/round-store.ts';

const root = mkdtempSync(join(tmpdir(), 'localrec-rounds-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const backends: [string, () => RoundStore][] = [
  ['sqlite file', () => openRoundStore(`sqlite:${join(root, `r${n++}.db`)}`)],
  ['sqlite memory', () => openRoundStore('sqlite::memory:')],
  [
    'sqlite file on a worker thread',
    () => openRoundStore(`sqlite:${join(root, `r${n++}.db`)}`, { thread: true }),
  ],
  ['memory', () => openRoundStore('memory:')],
];

const T0 = 1_800_000_000_000;
const spec = (over: Partial<RoundSpec> = {}): RoundSpec => ({
  baseModelVersion: 'v1',
  slices: [
    { name: 'a', shape: [2, 2] },
    { name: 'b', shape: [1] },
  ],
  clipNorm: 1,
  minReports: 3,
  deadline: T0 + 60_000,
  ...over,
});
const upd = (roundId: number, i: number, values = [i, 0.5, -i, 0, 2 ** -7 * i]): UpdateInput => ({
  roundId,
  updateId: i.toString(16).padStart(32, '0'),
  digest: `digest-${i}`,
  values: Float64Array.from(values),
});
/** An update through a real encoded delta: integer × 2⁻⁷ values (exact float64 sums). */
function encodedUpd(roundId: number, seed: number): UpdateInput & { values: Float64Array } {
  const q = Int8Array.from({ length: 12 }, (_, i) => ((seed * 7 + i * 13) % 19) - 9);
  const delta = {
    roundId,
    baseVersion: 'v1',
    updateId: seed.toString(16).padStart(32, 'e'),
    clipNorm: 1,
    slices: [{ index: 0, scale: 2 ** -7, values: q }],
  };
  const body = encodeDelta(delta);
  return {
    roundId,
    updateId: delta.updateId,
    digest: `enc-${seed}`,
    encoded: { body, delta: decodeDelta(body) },
    values: Float64Array.from(q, (x) => x * 2 ** -7),
  };
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return isLocalrecError(e) ? e.code : `not a LocalrecError: ${String(e)}`;
  }
  return 'no error';
}

describe.each(backends)('RoundStore contract: %s', (_name, open) => {
  it('opens one round at a time and lists rounds newest first', async () => {
    const s = open();
    const r = await s.openRound(spec(), T0);
    expect(r).toMatchObject({
      id: 1,
      state: 'open',
      reports: 0,
      openedAt: T0,
      closeReason: null,
      minReports: 3,
    });
    expect(await codeOf(s.openRound(spec(), T0))).toBe('bad-input');
    expect((await s.currentRound())?.id).toBe(1);
    await s.beginClosing(1, 'admin', T0 + 1);
    await s.finishClosing(1, T0 + 2);
    const r2 = await s.openRound(spec({ minReports: 5 }), T0 + 3);
    expect(r2.id).toBe(2);
    // Round 1 was closed with no reports, under its minimum: failed, never aggregated.
    expect((await s.listRounds()).map((x) => [x.id, x.state])).toEqual([
      [2, 'open'],
      [1, 'failed'],
    ]);
    expect(await s.getRound(3)).toBeUndefined();
    await s.close();
  });

  it('adds exact float64 sums, counts each update id once, tells replays from conflicts', async () => {
    const s = open();
    const { id } = await s.openRound(spec({ minReports: 100 }), T0);
    const out = await s.applyUpdates([upd(id, 1), upd(id, 2), upd(id, 1)], T0 + 1);
    expect(out).toEqual([
      { status: 'accepted', receipt: 1 },
      { status: 'accepted', receipt: 2 },
      { status: 'replay', receipt: 1 },
    ]);
    expect(await s.applyUpdates([{ ...upd(id, 2), digest: 'other' }, upd(id, 3)], T0 + 2)).toEqual([
      { status: 'conflict' },
      { status: 'accepted', receipt: 3 },
    ]);
    const sums = await s.sums(id);
    expect(sums?.reports).toBe(3);
    expect(Array.from(sums!.sums)).toEqual([6, 1.5, -6, 0, 2 ** -7 * 6]);
    expect((await s.updates(id)).map((u) => [u.receipt, u.updateId.slice(-1)])).toEqual([
      [1, '1'],
      [2, '2'],
      [3, '3'],
    ]);
    expect(await s.applyUpdates([upd(99, 1)], T0)).toEqual([{ status: 'not-found' }]);
    await s.close();
  });

  // minReports is a lower bound, never a trigger (it used to close the round on reaching it).
  it('stays open past its minimum until the deadline, then closing; closing → closed', async () => {
    const s = open();
    const { id } = await s.openRound(spec({ minReports: 2, deadline: T0 + 10 }), T0);
    const out = await s.applyUpdates([upd(id, 1), upd(id, 2), upd(id, 3)], T0 + 1);
    expect(out.map((o) => o.status)).toEqual(['accepted', 'accepted', 'accepted']);
    expect(await s.getRound(id)).toMatchObject({ state: 'open', reports: 3, closeReason: null });
    expect(await s.applyUpdates([upd(id, 4)], T0 + 10)).toEqual([
      { status: 'not-open', state: 'closing' },
    ]);
    expect(await s.getRound(id)).toMatchObject({
      state: 'closing',
      closeReason: 'deadline',
      closingAt: T0 + 10,
      reports: 3,
    });
    // A replay of a counted update still answers the same after the round closed.
    expect(await s.applyUpdates([upd(id, 2)], T0 + 11)).toEqual([{ status: 'replay', receipt: 2 }]);
    expect(await s.finishClosing(id, T0 + 12)).toMatchObject({
      state: 'closed',
      closedAt: T0 + 12,
    });
    expect(await s.finishClosing(id, T0 + 13)).toMatchObject({
      state: 'closed',
      closedAt: T0 + 12,
    });
    const sums = await s.sums(id);
    expect(sums?.reports).toBe(3);
    expect(Array.from(sums!.sums)).toEqual([6, 1.5, -6, 0, 2 ** -7 * 6]);
    await s.close();
  });

  it('fails a round that leaves open under its minimum: never closing, its sum discarded', async () => {
    const s = open();
    const r = await s.openRound(spec({ minReports: 3, deadline: T0 + 10 }), T0);
    expect(await s.expire(T0 + 9)).toEqual([]);
    await s.applyUpdates([upd(r.id, 1), upd(r.id, 2)], T0 + 1);
    expect((await s.expire(T0 + 10)).map((x) => [x.id, x.state])).toEqual([[r.id, 'failed']]);
    expect(await s.getRound(r.id)).toMatchObject({
      state: 'failed',
      closeReason: 'deadline',
      closingAt: null,
      closedAt: T0 + 10,
      reports: 2,
    });
    expect(await s.sums(r.id)).toBeUndefined();
    expect(await s.finishClosing(r.id, T0 + 11)).toMatchObject({ state: 'failed' });
    // An update after the deadline fails the round too; so does the owner closing it early.
    const r2 = await s.openRound(spec({ deadline: T0 + 20 }), T0 + 12);
    expect(await s.applyUpdates([upd(r2.id, 1)], T0 + 20)).toEqual([
      { status: 'not-open', state: 'failed' },
    ]);
    const r3 = await s.openRound(spec({ minReports: 1 }), T0 + 21);
    expect(await s.beginClosing(r3.id, 'admin', T0 + 22)).toMatchObject({
      state: 'failed',
      closeReason: 'admin',
    });
    const r4 = await s.openRound(spec({ minReports: 1 }), T0 + 23);
    await s.applyUpdates([upd(r4.id, 1)], T0 + 24);
    expect(await s.beginClosing(r4.id, 'admin', T0 + 25)).toMatchObject({
      state: 'closing',
      closeReason: 'admin',
    });
    expect(await codeOf(s.finishClosing(999, T0))).toBe('not-found');
    await s.close();
  });

  it('counts the same values once, whatever the update id', async () => {
    const s = open();
    const { id } = await s.openRound(spec({ minReports: 100 }), T0);
    const a = { ...upd(id, 1), valuesDigest: 'v-1' };
    const b = { ...upd(id, 2), valuesDigest: 'v-1' };
    const c = { ...upd(id, 3), valuesDigest: 'v-3' };
    expect((await s.applyUpdates([a, b, c], T0 + 1)).map((o) => o.status)).toEqual([
      'accepted',
      'same-values',
      'accepted',
    ]);
    expect(await s.applyUpdates([b, a], T0 + 2)).toEqual([
      { status: 'same-values' },
      { status: 'replay', receipt: 1 },
    ]);
    expect((await s.sums(id))?.reports).toBe(2);
    await s.close();
  });

  it('issues tickets per network up to the bound; an update uses one, once, in its round', async () => {
    const s = open();
    const { id } = await s.openRound(spec({ minReports: 100, deadline: T0 + 100 }), T0);
    const t = (hash: string, network = 'net-a', expiresAt = T0 + 50) => ({
      roundId: id,
      hash,
      network,
      perNetwork: 2,
      expiresAt,
    });
    expect(
      await s.issueTickets(
        [t('t1'), t('t2'), t('t3'), t('t4', 'net-b'), t('t5', 'net-a', T0 + 5)],
        T0,
      ),
    ).toEqual([
      { status: 'issued' },
      { status: 'issued' },
      { status: 'limit', issued: 2 },
      { status: 'issued' },
      { status: 'limit', issued: 2 },
    ]);
    expect(await s.issueTickets([{ ...t('t6'), roundId: 99 }], T0)).toEqual([
      { status: 'not-found' },
    ]);
    expect(await s.issueTickets([t('t5', 'net-c', T0 + 5)], T0)).toEqual([{ status: 'issued' }]);
    const u = (i: number, ticket: string) => ({ ...upd(id, i), ticket });
    expect(
      await s.applyUpdates([u(1, 't1'), u(2, 't1'), u(3, 'nope'), u(4, 't5'), u(5, 't2')], T0 + 10),
    ).toEqual([
      { status: 'accepted', receipt: 1 },
      { status: 'ticket', problem: 'used' },
      { status: 'ticket', problem: 'unknown' },
      { status: 'ticket', problem: 'expired' },
      { status: 'accepted', receipt: 2 },
    ]);
    // A retry of a counted update with its ticket is a replay; under another ticket it is not,
    // and that ticket stays unused.
    expect(await s.applyUpdates([u(1, 't1'), u(1, 't4')], T0 + 11)).toEqual([
      { status: 'replay', receipt: 1 },
      { status: 'other-ticket' },
    ]);
    expect(await s.applyUpdates([u(6, 't4')], T0 + 12)).toEqual([
      { status: 'accepted', receipt: 3 },
    ]);
    // A ticket of one round is foreign in the next.
    await s.beginClosing(id, 'admin', T0 + 13);
    const r2 = await s.openRound(spec({ minReports: 100, deadline: T0 + 100 }), T0 + 14);
    expect(await s.issueTickets([{ ...t('t7', 'net-a'), roundId: r2.id }], T0 + 14)).toEqual([
      { status: 'issued' },
    ]);
    expect(await s.issueTickets([t('t8', 'net-z')], T0 + 15)).toEqual([
      { status: 'not-open', state: 'failed' },
    ]);
    expect(await s.applyUpdates([{ ...upd(r2.id, 1), ticket: 't5' }], T0 + 16)).toEqual([
      { status: 'ticket', problem: 'foreign' },
    ]);
    expect((await s.sums(r2.id))?.reports).toBe(0);
    await s.close();
  });

  it('keeps an exact sum over many batches of encoded deltas, and takes none after a rollback', async () => {
    const s = open();
    const r = await s.openRound(
      { ...spec({ minReports: 1 }), slices: [{ name: 'w', shape: [3, 4] }] },
      T0,
    );
    const expected = new Float64Array(12);
    for (let i = 1; i <= 40; i++) {
      const batch = Array.from({ length: 1 + (i % 3) }, (_, k) => encodedUpd(r.id, i * 10 + k));
      for (const e of batch) e.values.forEach((v, j) => (expected[j]! += v));
      expect((await s.applyUpdates(batch, T0 + i)).every((o) => o.status === 'accepted')).toBe(
        true,
      );
    }
    const n = (await s.sums(r.id))!.reports;
    expect(Array.from((await s.sums(r.id))!.sums)).toEqual(Array.from(expected));
    const bad = { ...encodedUpd(r.id, 9999), values: new Float64Array(3), encoded: undefined };
    expect(await codeOf(s.applyUpdates([encodedUpd(r.id, 5000), bad], T0 + 50))).toBe('internal');
    expect((await s.sums(r.id))!.reports).toBe(n);
    expect(Array.from((await s.sums(r.id))!.sums)).toEqual(Array.from(expected));
    await s.close();
  });

  it('keeps a batch all-or-nothing when one update is inconsistent', async () => {
    const s = open();
    const { id } = await s.openRound(spec({ minReports: 100 }), T0);
    const bad = { ...upd(id, 2), values: new Float64Array(3) };
    expect(await codeOf(s.applyUpdates([upd(id, 1), bad], T0 + 1))).toBe('internal');
    expect((await s.sums(id))?.reports).toBe(0);
    expect(await s.updates(id)).toEqual([]);
    await s.close();
  });
});

describe('SQLite durability', () => {
  it('a reopened database has every committed round, count, sum and update id', async () => {
    const path = join(root, 'reopen.db');
    const a = openRoundStore(`sqlite:${path}`);
    const { id } = await a.openRound(spec({ minReports: 100 }), T0);
    await a.applyUpdates([upd(id, 1), upd(id, 2)], T0 + 1);
    await a.close();
    const b = openRoundStore(`sqlite:${path}`);
    expect(await b.getRound(id)).toMatchObject({ state: 'open', reports: 2 });
    expect(Array.from((await b.sums(id))!.sums)).toEqual([3, 1, -3, 0, 2 ** -7 * 3]);
    expect(await b.applyUpdates([upd(id, 2)], T0 + 2)).toEqual([{ status: 'replay', receipt: 2 }]);
    await b.close();
  });
});

describe('SQLite running sum', () => {
  it('rebuilds the open round’s sum from checkpoint and log after a reopen, bit for bit', async () => {
    const path = join(root, 'log.db');
    const shape = [50, 40]; // 2,000 values: a 16 kB sum, 2 kB deltas — the log is used
    const roundSpec = { ...spec({ minReports: 1 }), slices: [{ name: 'w', shape }] };
    const big = (roundId: number, seed: number) => {
      const q = Int8Array.from({ length: 2000 }, (_, i) => ((seed * 31 + i * 17) % 255) - 127);
      const d = {
        roundId,
        baseVersion: 'v1',
        updateId: (seed + 1).toString(16).padStart(32, 'c'),
        clipNorm: 1,
        // scales that are not powers of two: the order of additions matters to the last bit
        slices: [{ index: 0, scale: Math.fround(1 / (3 + seed)), values: q }],
      };
      const body = encodeDelta(d);
      return {
        roundId,
        updateId: d.updateId,
        digest: `b-${seed}`,
        encoded: { body, delta: decodeDelta(body) },
        values: new Float64Array(0),
      };
    };
    const reference = openRoundStore('memory:');
    const a = openRoundStore(`sqlite:${path}`);
    const { id } = await a.openRound(roundSpec, T0);
    await reference.openRound(roundSpec, T0);
    for (let i = 0; i < 23; i++) {
      const batch = [big(id, i * 2), ...(i % 4 === 0 ? [big(id, i * 2 + 1)] : [])];
      await a.applyUpdates(batch, T0 + 1 + i);
      await reference.applyUpdates(batch, T0 + 1 + i);
    }
    const want = (await reference.sums(id))!;
    expect((await a.sums(id))!.sums).toEqual(want.sums);
    await a.close();
    const b = openRoundStore(`sqlite:${path}`);
    expect(await b.sums(id)).toEqual(want);
    // It goes on counting from there, and folds the log in when the round closes.
    await b.applyUpdates([big(id, 100)], T0 + 40);
    await reference.applyUpdates([big(id, 100)], T0 + 40);
    await b.beginClosing(id, 'admin', T0 + 41);
    await b.close();
    const c = openRoundStore(`sqlite:${path}`);
    expect(await c.getRound(id)).toMatchObject({ state: 'closing', reports: want.reports + 1 });
    expect(await c.sums(id)).toEqual(await reference.sums(id));
    await c.close();
  });

  it('migrates a database of the first schema: sums kept, an under-minimum closing round failed', async () => {
    const path = join(root, 'v0.db');
    const Database = (await import('better-sqlite3')).default;
    const old = new Database(path);
    old.exec(`
      CREATE TABLE rounds (id INTEGER PRIMARY KEY AUTOINCREMENT,
        state TEXT NOT NULL CHECK (state IN ('open', 'closing', 'closed')), spec TEXT NOT NULL,
        reports INTEGER NOT NULL DEFAULT 0, sums BLOB NOT NULL, opened_at INTEGER NOT NULL,
        closing_at INTEGER, closed_at INTEGER, close_reason TEXT);
      CREATE UNIQUE INDEX rounds_one_open ON rounds (state) WHERE state = 'open';
      CREATE TABLE updates (round_id INTEGER NOT NULL REFERENCES rounds (id),
        update_id TEXT NOT NULL, digest TEXT NOT NULL, receipt INTEGER NOT NULL,
        received_at INTEGER NOT NULL, PRIMARY KEY (round_id, update_id)) WITHOUT ROWID;`);
    const sums = Buffer.from(Float64Array.from([1, 2, 3, 4, 5]).buffer);
    const ins = old.prepare(
      'INSERT INTO rounds (state, spec, reports, sums, opened_at, closing_at, close_reason) VALUES (?, ?, ?, ?, ?, ?, ?)',
    );
    ins.run('closed', JSON.stringify(spec()), 4, sums, T0, T0 + 1, 'min-reports');
    ins.run('closing', JSON.stringify(spec()), 1, sums, T0, T0 + 2, 'deadline');
    ins.run('open', JSON.stringify(spec()), 1, sums, T0, null, null);
    old.prepare('INSERT INTO updates VALUES (3, ?, ?, 1, ?)').run('f'.repeat(32), 'd', T0);
    old.close();
    const s = openRoundStore(`sqlite:${path}`);
    expect((await s.listRounds()).map((r) => [r.id, r.state])).toEqual([
      [3, 'open'],
      [2, 'failed'],
      [1, 'closed'],
    ]);
    expect(Array.from((await s.sums(1))!.sums)).toEqual([1, 2, 3, 4, 5]);
    expect(await s.sums(2)).toBeUndefined();
    expect(Array.from((await s.sums(3))!.sums)).toEqual([1, 2, 3, 4, 5]);
    expect(await s.applyUpdates([upd(3, 1)], T0 + 3)).toEqual([{ status: 'accepted', receipt: 2 }]);
    expect(
      await s.applyUpdates([{ ...upd(3, 1), updateId: 'f'.repeat(32), digest: 'd' }], T0 + 4),
    ).toEqual([{ status: 'replay', receipt: 1 }]);
    expect(Array.from((await s.sums(3))!.sums)).toEqual([2, 2.5, 2, 4, 5 + 2 ** -7]);
    await s.close();
    // Opened again: nothing to migrate.
    const again = openRoundStore(`sqlite:${path}`);
    expect((await again.getRound(3))?.reports).toBe(2);
    await again.close();
  });
});

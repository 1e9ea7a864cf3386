/**
 * ONE suite for every RoundStore backend (SQLite on disk, SQLite in memory, the in-memory
 * reference): a new backend (PostgreSQL, …) joins by adding its URL here.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isLocalrecError } from '../../src/core/errors.ts';
import { openRoundStore } from '../../src/server/store/registry.ts';
import type { RoundSpec, UpdateInput } from '../../src/server/store/round-store.ts';

const root = mkdtempSync(join(tmpdir(), 'localrec-rounds-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const backends: [string, () => string][] = [
  ['sqlite file', () => `sqlite:${join(root, `r${n++}.db`)}`],
  ['sqlite memory', () => 'sqlite::memory:'],
  ['memory', () => 'memory:'],
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
async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return isLocalrecError(e) ? e.code : `not a LocalrecError: ${String(e)}`;
  }
  return 'no error';
}

describe.each(backends)('RoundStore contract: %s', (_name, url) => {
  it('opens one round at a time and lists rounds newest first', async () => {
    const s = openRoundStore(url());
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
    expect((await s.listRounds()).map((x) => [x.id, x.state])).toEqual([
      [2, 'open'],
      [1, 'closed'],
    ]);
    expect(await s.getRound(3)).toBeUndefined();
    await s.close();
  });

  it('adds exact float64 sums, counts each update id once, tells replays from conflicts', async () => {
    const s = openRoundStore(url());
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

  it('moves to closing at the minimum count, then takes no more; closing → closed', async () => {
    const s = openRoundStore(url());
    const { id } = await s.openRound(spec({ minReports: 2 }), T0);
    const out = await s.applyUpdates([upd(id, 1), upd(id, 2), upd(id, 3)], T0 + 1);
    expect(out.map((o) => o.status)).toEqual(['accepted', 'accepted', 'not-open']);
    expect(await s.getRound(id)).toMatchObject({
      state: 'closing',
      closeReason: 'min-reports',
      closingAt: T0 + 1,
      reports: 2,
    });
    // A replay of a counted update still answers the same after the round closed.
    expect(await s.applyUpdates([upd(id, 2)], T0 + 2)).toEqual([{ status: 'replay', receipt: 2 }]);
    expect(await s.finishClosing(id, T0 + 3)).toMatchObject({ state: 'closed', closedAt: T0 + 3 });
    expect(await s.finishClosing(id, T0 + 4)).toMatchObject({ state: 'closed', closedAt: T0 + 3 });
    expect((await s.sums(id))?.reports).toBe(2);
    await s.close();
  });

  it('closes at the deadline: expire() and an update after it both move the round', async () => {
    const s = openRoundStore(url());
    const r = await s.openRound(spec({ deadline: T0 + 10 }), T0);
    expect(await s.expire(T0 + 9)).toEqual([]);
    expect(await s.applyUpdates([upd(r.id, 1)], T0 + 10)).toEqual([
      { status: 'not-open', state: 'closing' },
    ]);
    expect(await s.getRound(r.id)).toMatchObject({
      state: 'closing',
      closeReason: 'deadline',
      reports: 0,
    });
    await s.finishClosing(r.id, T0 + 11);
    const r2 = await s.openRound(spec({ deadline: T0 + 20 }), T0 + 12);
    expect((await s.expire(T0 + 20)).map((x) => x.id)).toEqual([r2.id]);
    expect(await codeOf(s.finishClosing(999, T0))).toBe('not-found');
    await s.close();
  });

  it('keeps a batch all-or-nothing when one update is inconsistent', async () => {
    const s = openRoundStore(url());
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

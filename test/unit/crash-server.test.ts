/**
 * Crash and shutdown, with the real `localrec serve` in a child process: kill -9 in the middle
 * of a stream of update posts loses nothing that was acknowledged and counts nothing twice;
 * SIGTERM finishes the request in flight and exits 0.
 */
import type { ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openRoundStore } from '../../src/server/store/registry.ts';
import { newSigningKey } from '../../src/server/keys.ts';
import { killAll, startServe, type ServeChild } from '../setup/serve-child.ts';
import { exactDelta, getTicket, postDelta, publishedStore, SLICES } from './server-fixture.ts';

/** The address simulated client `n` posts from. */
const client = (n: number) => ({
  'x-forwarded-for': `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`,
});

const root = mkdtempSync(join(tmpdir(), 'localrec-crash-'));
const children: ChildProcess[] = [];
afterAll(() => {
  killAll(children);
  rmSync(root, { recursive: true, force: true });
});

/** Starts `localrec serve` on the two stores and resolves once it listens. */
function serve(storeUrl: string, roundsUrl: string): Promise<ServeChild> {
  return startServe(
    [
      '--store',
      storeUrl,
      '--rounds',
      roundsUrl,
      '--port',
      '0',
      '--rate-limit',
      '0',
      // Each simulated client comes through "the proxy" with its own address (X-Forwarded-For):
      // a client network gets only a few round tickets.
      '--trust-proxy',
      '127.0.0.1',
      '--log-level',
      'warn',
    ],
    children,
  );
}

describe('crash safety', () => {
  it('after kill -9 mid-stream and a restart, every acknowledged update is counted exactly once', async () => {
    const pub = await publishedStore(root, await newSigningKey());
    const roundsUrl = `sqlite:${join(root, 'rounds.db')}`;
    const setup = openRoundStore(roundsUrl);
    const { id } = await setup.openRound(
      {
        baseModelVersion: 'model-1',
        slices: SLICES,
        clipNorm: 1,
        minReports: 1_000_000,
        deadline: Date.now() + 3_600_000,
      },
      Date.now(),
    );
    await setup.close();

    const a = await serve(pub.storeUrl, roundsUrl);
    const acked = new Map<string, number>(); // updateId → receipt
    const attempted: number[] = [];
    const tickets = new Map<number, string>(); // seed → the ticket its update was posted with
    let next = 0;
    let killed = false;
    const worker = async () => {
      while (!killed) {
        const seed = next++;
        const d = exactDelta(id, 'model-1', seed);
        try {
          const ticket = await getTicket(a.base, id, client(seed));
          tickets.set(seed, ticket);
          attempted.push(seed);
          const res = await postDelta(a.base, id, d.bytes, client(seed), ticket);
          if (res.status === 202) {
            const body = (await res.json()) as { receipt: number };
            acked.set(d.updateId, body.receipt);
            if (acked.size >= 150 && !killed) {
              killed = true;
              a.child.kill('SIGKILL');
            }
          }
        } catch {
          // Connection cut by the kill: this update may or may not have been committed.
        }
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    await a.exited;
    expect(acked.size).toBeGreaterThanOrEqual(150);

    // Straight from the database the dead server left: every acknowledged id is there, once,
    // with its receipt; the sums are exactly those of the updates recorded (any order: the
    // values are integers × 2⁻⁷, so float64 addition is exact).
    const check = openRoundStore(roundsUrl);
    const recorded = await check.updates(id);
    const byId = new Map(recorded.map((u) => [u.updateId, u.receipt]));
    expect(byId.size).toBe(recorded.length);
    for (const [uid, receipt] of acked) expect(byId.get(uid), uid).toBe(receipt);
    const sums = await check.sums(id);
    expect(sums!.reports).toBe(recorded.length);
    expect(recorded.map((u) => u.receipt)).toEqual(recorded.map((_, i) => i + 1));
    const seedOf = new Map(attempted.map((s) => [exactDelta(id, 'model-1', s).updateId, s]));
    const expected = new Float64Array(36);
    for (const u of recorded)
      exactDelta(id, 'model-1', seedOf.get(u.updateId)!).values.forEach(
        (v, i) => (expected[i]! += v),
      );
    expect(Array.from(sums!.sums)).toEqual(Array.from(expected));
    await check.close();

    // Restarted, it picks up where it was: every attempted update posted again with its ticket
    // is answered 202; the acknowledged ones as replays with their old receipts, and the count
    // is exact. (Every ticket that was handed out survived the kill.)
    const b = await serve(pub.storeUrl, roundsUrl);
    for (const seed of attempted) {
      const d = exactDelta(id, 'model-1', seed);
      const res = await postDelta(b.base, id, d.bytes, client(seed), tickets.get(seed));
      expect(res.status).toBe(202);
      const { receipt } = (await res.json()) as { receipt: number };
      if (acked.has(d.updateId)) expect(receipt).toBe(acked.get(d.updateId));
    }
    const after = await (await fetch(`${b.base}/metrics`)).text();
    expect(after).toMatch(/localrec_updates_total\{outcome="replay"\} \d+/);
    b.child.kill('SIGTERM');
    expect(await b.exited).toBe(0);
    const final = openRoundStore(roundsUrl);
    expect((await final.sums(id))!.reports).toBe(attempted.length);
    const all = new Float64Array(36);
    for (const seed of attempted)
      exactDelta(id, 'model-1', seed).values.forEach((v, i) => (all[i]! += v));
    expect(Array.from((await final.sums(id))!.sums)).toEqual(Array.from(all));
    await final.close();
  }, 60_000);

  it('SIGTERM finishes the request in flight, then exits 0', async () => {
    const pub = await publishedStore(join(root, 'term'), await newSigningKey());
    const roundsUrl = `sqlite:${join(root, 'term', 'rounds.db')}`;
    const setup = openRoundStore(roundsUrl);
    const { id } = await setup.openRound(
      {
        baseModelVersion: 'model-1',
        slices: SLICES,
        clipNorm: 1,
        minReports: 100,
        deadline: Date.now() + 3_600_000,
      },
      Date.now(),
    );
    await setup.close();
    const s = await serve(pub.storeUrl, roundsUrl);
    const d = exactDelta(id, 'model-1', 7);
    const ticket = await getTicket(s.base, id);
    const url = new URL(`${s.base}/v1/rounds/${id}/updates`);
    const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(
        url,
        {
          method: 'POST',
          headers: {
            'content-type': 'application/octet-stream',
            'content-length': d.bytes.length,
            authorization: `Ticket ${ticket}`,
          },
        },
        (res) => {
          let body = '';
          res.on('data', (c) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on('error', reject);
      // Half the body, then SIGTERM, then the rest: the server must wait for it.
      req.write(d.bytes.subarray(0, 20));
      setTimeout(() => {
        s.child.kill('SIGTERM');
        setTimeout(() => req.end(d.bytes.subarray(20)), 300);
      }, 200);
    });
    const res = await answer;
    expect(res.status).toBe(202);
    expect(JSON.parse(res.body)).toMatchObject({ roundId: id, receipt: 1 });
    expect(await s.exited).toBe(0);
    const check = openRoundStore(roundsUrl);
    expect((await check.sums(id))!.reports).toBe(1);
    await check.close();
  }, 30_000);
});

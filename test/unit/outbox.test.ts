/**
 * The federated outbox's sender (src/client/federated/outbox.ts) against the real server with federated
 * intake: what gets posted, what is kept for later, what is dropped, and consent.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MemoryOutbox } from '../../src/client/memory/memory-api.ts';
import type { OutboxRecord } from '../../src/client/memory/records.ts';
import { MAX_AGE_MS, MAX_ATTEMPTS, OutboxSender } from '../../src/client/federated/outbox.ts';
import type { RecommenderWarning } from '../../src/client/api.ts';
import { createServer, listen, type LocalrecServer } from '../../src/server/app.ts';
import { newSigningKey } from '../../src/server/keys.ts';
import { exactDelta, publishedStore, ROUND_BODY } from './server-fixture.ts';

const TOKEN = 'outbox-test-token';
const root = mkdtempSync(join(tmpdir(), 'localrec-outbox-'));
let app: LocalrecServer;
let base = '';
let roundId = 0;

/** An in-memory stand-in for the IndexedDB outbox (memory/side-stores.ts), same contract. */
function fakeOutbox(): MemoryOutbox & { records: Map<string, OutboxRecord> } {
  const records = new Map<string, OutboxRecord>();
  let clock = 0;
  return {
    records,
    async add(u) {
      const id = u.id ?? `id-${records.size}`;
      if (records.has(id)) throw new Error('duplicate');
      const r: OutboxRecord = {
        id,
        roundId: u.roundId,
        bytes: new Uint8Array(u.bytes as Uint8Array),
        createdAt: clock++,
        attempts: 0,
        lastAttemptAt: null,
      };
      records.set(id, r);
      return r;
    },
    async list() {
      return [...records.values()].sort((a, b) => a.createdAt - b.createdAt);
    },
    async remove(id) {
      return records.delete(id);
    },
    async markAttempt(id, at = 0) {
      const r = records.get(id);
      if (!r) return undefined;
      r.attempts++;
      r.lastAttemptAt = at;
      return r;
    },
    async setTicket(id, ticket) {
      const r = records.get(id);
      if (!r) return undefined;
      r.ticket = ticket;
      return r;
    },
  };
}

function sender(
  outbox: MemoryOutbox,
  opts: {
    allowed?: () => boolean;
    fetch?: typeof fetch;
    online?: () => boolean;
    now?: () => number;
  } = {},
) {
  const warnings: RecommenderWarning[] = [];
  const bodies: { url: string; init: RequestInit }[] = [];
  const realFetch = opts.fetch ?? fetch;
  const s = new OutboxSender({
    server: base,
    fetch: (async (url: string, init: RequestInit) => {
      bodies.push({ url, init });
      return realFetch(url, init);
    }) as typeof fetch,
    outbox: () => outbox,
    allowed: opts.allowed ?? (() => true),
    now: opts.now ?? (() => 10),
    onWarning: (w) => warnings.push(w),
    events: null,
    online: opts.online,
  });
  return { s, warnings, bodies };
}

beforeAll(async () => {
  const pub = await publishedStore(root, await newSigningKey());
  app = createServer({
    store: pub.storeUrl,
    rounds: `sqlite:${join(root, 'rounds.db')}`,
    adminToken: TOKEN,
    rateLimit: { perSecond: 0 },
    tickets: { perNetwork: 1000 },
  });
  base = (await listen(app, { port: 0, log: () => {} })).replace(/\/$/, '');
  const res = await fetch(`${base}/v1/admin/rounds`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ ...ROUND_BODY, minReports: 1_000_000 }),
  });
  roundId = ((await res.json()) as { id: number }).id;
});
afterAll(async () => {
  await app?.close();
  rmSync(root, { recursive: true, force: true });
});

async function counted(): Promise<string[]> {
  return (await app.localrec.rounds!.store.updates(roundId)).map((u) => u.updateId);
}

describe('OutboxSender', () => {
  it('posts queued deltas as raw bytes, without credentials or referrer, and empties the outbox', async () => {
    const outbox = fakeOutbox();
    const a = exactDelta(roundId, 'model-1', 101);
    const b = exactDelta(roundId, 'model-1', 102);
    await outbox.add({ id: a.updateId, roundId: String(roundId), bytes: a.bytes });
    await outbox.add({ id: b.updateId, roundId: String(roundId), bytes: b.bytes });
    const { s, bodies, warnings } = sender(outbox);
    const r = await s.flush();
    expect(r).toEqual({ posted: 2, dropped: 0, pending: 0, stopped: null });
    expect(outbox.records.size).toBe(0);
    expect(await counted()).toEqual(expect.arrayContaining([a.updateId, b.updateId]));
    // Each update: a round ticket, then the post carrying it.
    expect(bodies.map((x) => x.url)).toEqual([
      `${base}/v1/rounds/${roundId}/tickets`,
      `${base}/v1/rounds/${roundId}/updates`,
      `${base}/v1/rounds/${roundId}/tickets`,
      `${base}/v1/rounds/${roundId}/updates`,
    ]);
    for (const { init } of bodies) {
      expect(init.credentials).toBe('omit');
      expect(init.referrerPolicy).toBe('no-referrer');
    }
    const [ticketAsk, post] = [bodies[0]!.init, bodies[1]!.init];
    expect(ticketAsk.body).toBeUndefined();
    expect(ticketAsk.headers).toBeUndefined();
    expect(Object.keys(post.headers as object)).toEqual(['Content-Type', 'Authorization']);
    expect((post.headers as Record<string, string>)['Authorization']).toMatch(
      /^Ticket [A-Za-z0-9_-]{43}$/,
    );
    expect(Buffer.from(post.body as Uint8Array)).toEqual(Buffer.from(a.bytes));
    expect(warnings).toEqual([]);
    s.close();
  });

  it('keeps the ticket with the update: a retry after a lost answer presents it again', async () => {
    const outbox = fakeOutbox();
    const d = exactDelta(roundId, 'model-1', 111);
    await outbox.add({ id: d.updateId, roundId: String(roundId), bytes: d.bytes });
    // The server counts the post, but its answer never arrives.
    const lost = sender(outbox, {
      fetch: (async (url: string, init: RequestInit) => {
        const res = await fetch(url, init);
        if (url.endsWith('/updates')) throw new TypeError('Failed to fetch');
        return res;
      }) as typeof fetch,
    });
    expect(await lost.s.flush()).toMatchObject({ posted: 0, pending: 1, stopped: 'retry' });
    lost.s.close();
    const kept = outbox.records.get(d.updateId)!.ticket;
    expect(kept).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(await counted()).toContain(d.updateId);
    const again = sender(outbox);
    expect(await again.s.flush()).toEqual({ posted: 1, dropped: 0, pending: 0, stopped: null });
    // No new ticket: the same one, and the server answered it as the replay it is.
    expect(again.bodies.map((b) => b.url)).toEqual([`${base}/v1/rounds/${roundId}/updates`]);
    expect((again.bodies[0]!.init.headers as Record<string, string>)['Authorization']).toBe(
      `Ticket ${kept}`,
    );
    expect((await counted()).filter((id) => id === d.updateId)).toHaveLength(1);
    again.s.close();
  });

  it('replaces a ticket the server does not know, and drops an update its network has no ticket for', async () => {
    const outbox = fakeOutbox();
    const d = exactDelta(roundId, 'model-1', 121);
    await outbox.add({ id: d.updateId, roundId: String(roundId), bytes: d.bytes });
    await outbox.setTicket(d.updateId, 'x'.repeat(43)); // e.g. expired
    const { s, bodies, warnings } = sender(outbox);
    expect(await s.flush()).toEqual({ posted: 1, dropped: 0, pending: 0, stopped: null });
    expect(bodies.map((b) => b.url.replace(base, ''))).toEqual([
      `/v1/rounds/${roundId}/updates`,
      `/v1/rounds/${roundId}/tickets`,
      `/v1/rounds/${roundId}/updates`,
    ]);
    expect(warnings).toEqual([]);
    s.close();
    // A network that has used its tickets for the round (403): the update can never be sent.
    const e = exactDelta(roundId, 'model-1', 122);
    await outbox.add({ id: e.updateId, roundId: String(roundId), bytes: e.bytes });
    const quota = sender(outbox, {
      fetch: (async (url: string, init: RequestInit) =>
        url.endsWith('/tickets')
          ? new Response(JSON.stringify({ error: { code: 'forbidden', message: 'no more' } }), {
              status: 403,
            })
          : fetch(url, init)) as typeof fetch,
    });
    expect(await quota.s.flush()).toEqual({ posted: 0, dropped: 1, pending: 0, stopped: null });
    expect(quota.warnings[0]!.message).toMatch(/refused its round ticket \(HTTP 403: no more\)/);
    quota.s.close();
  });

  it('keeps deltas while offline or unreachable, and sends them once back', async () => {
    const outbox = fakeOutbox();
    const d = exactDelta(roundId, 'model-1', 201);
    await outbox.add({ id: d.updateId, roundId: String(roundId), bytes: d.bytes });
    let online = false;
    const offline = sender(outbox, { online: () => online });
    expect(await offline.s.flush()).toEqual({
      posted: 0,
      dropped: 0,
      pending: 1,
      stopped: 'offline',
    });
    expect(offline.bodies).toEqual([]);
    offline.s.close();

    // navigator.onLine says yes but the network fails: counted as an attempt, kept, retried later.
    const broken = sender(outbox, {
      fetch: (async () => {
        throw new TypeError('Failed to fetch');
      }) as typeof fetch,
    });
    const r = await broken.s.flush();
    expect(r).toMatchObject({ posted: 0, pending: 1, stopped: 'retry' });
    expect(outbox.records.get(d.updateId)!.attempts).toBe(1);
    broken.s.close();

    online = true;
    const back = sender(outbox, { online: () => online });
    expect(await back.s.flush()).toEqual({ posted: 1, dropped: 0, pending: 0, stopped: null });
    expect(await counted()).toContain(d.updateId);
    back.s.close();
  });

  it('drops what the server refuses for good, with a warning naming why, and keeps going', async () => {
    const outbox = fakeOutbox();
    const corrupt = exactDelta(roundId, 'model-1', 301);
    const bad = corrupt.bytes.slice();
    bad[40]! ^= 0xff; // checksum mismatch → 400
    const noRound = exactDelta(roundId + 50, 'model-1', 302);
    const good = exactDelta(roundId, 'model-1', 303);
    await outbox.add({ id: corrupt.updateId, roundId: String(roundId), bytes: bad });
    await outbox.add({ id: noRound.updateId, roundId: String(roundId + 50), bytes: noRound.bytes });
    await outbox.add({ id: good.updateId, roundId: String(roundId), bytes: good.bytes });
    const { s, warnings } = sender(outbox);
    expect(await s.flush()).toEqual({ posted: 1, dropped: 2, pending: 0, stopped: null });
    expect(warnings.map((w) => w.code)).toEqual(['outbox', 'outbox']);
    expect(warnings[0]!.message).toMatch(/HTTP 400: delta: checksum mismatch/);
    expect(warnings[1]!.message).toMatch(/HTTP 404/);
    expect(await counted()).not.toContain(corrupt.updateId);
    s.close();
  });

  it('gives up after too many attempts and on deltas older than a week', async () => {
    const outbox = fakeOutbox();
    const old = exactDelta(roundId, 'model-1', 401);
    const tired = exactDelta(roundId, 'model-1', 402);
    await outbox.add({ id: old.updateId, roundId: String(roundId), bytes: old.bytes });
    await outbox.add({ id: tired.updateId, roundId: String(roundId), bytes: tired.bytes });
    outbox.records.get(old.updateId)!.createdAt = -MAX_AGE_MS - 100;
    outbox.records.get(tired.updateId)!.attempts = MAX_ATTEMPTS - 1;
    const busy = (async () =>
      new Response(JSON.stringify({ message: 'busy' }), { status: 503 })) as typeof fetch;
    const { s, warnings } = sender(outbox, { fetch: busy });
    expect(await s.flush()).toEqual({ posted: 0, dropped: 2, pending: 0, stopped: null });
    expect(warnings.map((w) => w.message)).toEqual([
      expect.stringMatching(/older than 7 days/),
      expect.stringMatching(/HTTP 503: busy; gave up after 8 attempts/),
    ]);
    s.close();
  });

  it('without consent posts nothing and deletes what is queued', async () => {
    const outbox = fakeOutbox();
    const d = exactDelta(roundId, 'model-1', 501);
    await outbox.add({ id: d.updateId, roundId: String(roundId), bytes: d.bytes });
    const { s, bodies } = sender(outbox, { allowed: () => false });
    expect(await s.flush()).toEqual({ posted: 0, dropped: 1, pending: 0, stopped: 'consent' });
    expect(bodies).toEqual([]);
    expect(outbox.records.size).toBe(0);
    expect(await counted()).not.toContain(d.updateId);
    s.close();
  });

  it('honours Retry-After on 429 and keeps the delta', async () => {
    const outbox = fakeOutbox();
    const d = exactDelta(roundId, 'model-1', 601);
    await outbox.add({ id: d.updateId, roundId: String(roundId), bytes: d.bytes });
    const limited = (async () =>
      new Response('{}', { status: 429, headers: { 'Retry-After': '7' } })) as typeof fetch;
    const { s } = sender(outbox, { fetch: limited });
    expect(await s.flush()).toMatchObject({ posted: 0, dropped: 0, pending: 1, stopped: 'retry' });
    expect(outbox.records.get(d.updateId)!.attempts).toBe(1);
    s.close();
  });
});

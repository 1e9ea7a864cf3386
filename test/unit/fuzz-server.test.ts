/**
 * Fuzz over real HTTP: well over 1,000 malformed requests and deltas from a seeded generator —
 * malformed, oversized, zero and over-norm deltas, counted ones replayed under another ticket or
 * their values under another id, and posts with a missing, malformed, unknown, used or another
 * round's ticket. Every one must get a 4xx with a JSON error `{ error: { code, message } }`, the
 * server must stay up, and nothing stored may change (round sums and count, update ids, blobs,
 * manifest).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crc32, encodeDelta, type Delta } from '../../src/core/delta.ts';
import { createServer, listen, type LocalrecServer } from '../../src/server/app.ts';
import { newSigningKey } from '../../src/server/keys.ts';
import {
  exactDelta,
  getTicket,
  postDelta,
  publishedStore,
  ROUND_BODY,
  SCALE,
  SLICES,
} from './server-fixture.ts';

const SEED = 20261122;
const TOKEN = 'fuzz-token';
const root = mkdtempSync(join(tmpdir(), 'localrec-fuzz-'));
let app: LocalrecServer;
let base: string;
let storeDir: string;
let roundId: number;
/** The tickets the three counted updates were posted with (seeds 1, 2, 3). */
const usedTickets: string[] = [];
/** A ticket issued for an earlier round. */
let foreignTicket: string;

function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (n: number) => Math.floor(next() * n),
    pick: <T>(xs: readonly T[]) => xs[Math.floor(next() * xs.length)]!,
  };
}

function reseal(b: Uint8Array): Uint8Array {
  new DataView(b.buffer, b.byteOffset).setUint32(
    b.length - 4,
    crc32(b.subarray(0, b.length - 4)),
    true,
  );
  return b;
}

interface Case {
  kind: string;
  send: () => Promise<Response>;
}

/** The generator: each call makes one malformed request of a random kind. */
function makeCases(count: number): Case[] {
  const r = rng(SEED);
  const good = (seed: number) => exactDelta(roundId, 'model-1', 100_000 + seed).bytes;
  const delta = (over: (d: Delta) => void, seed: number): Uint8Array => {
    const d: Delta = {
      roundId,
      baseVersion: 'model-1',
      updateId: (seed + 1).toString(16).padStart(32, 'a'),
      clipNorm: 1,
      slices: SLICES.map((s, index) => ({
        index,
        scale: SCALE,
        values: new Int8Array(s.shape.reduce((a, b) => a * b, 1)).fill(1),
      })),
    };
    over(d);
    return encodeDelta(d);
  };
  /** Posts with a fresh, good ticket unless `headers` says otherwise. */
  const post = async (
    bytes: Uint8Array | string,
    headers: Record<string, string> = {},
    id: number | string = roundId,
  ) =>
    fetch(`${base}/v1/rounds/${id}/updates`, {
      method: 'POST',
      headers: {
        'content-type': 'application/octet-stream',
        authorization: `Ticket ${await getTicket(base, roundId)}`,
        ...headers,
      },
      body: bytes as BodyInit,
    });
  const ticketChars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const kinds: Record<string, (i: number) => () => Promise<Response>> = {
    truncated: (i) => {
      const b = good(i);
      return () => post(b.subarray(0, r.int(b.length)));
    },
    'bit-flipped': (i) => {
      const b = good(i).slice();
      for (let k = 1 + r.int(8); k > 0; k--) b[r.int(b.length)]! ^= 1 << r.int(8);
      return () => post(b);
    },
    'wrong version': (i) => {
      const b = good(i).slice();
      new DataView(b.buffer).setUint16(4, 2 + r.int(60000), true);
      return () => post(reseal(b));
    },
    'NaN or Inf scale': (i) => {
      const b = good(i).slice();
      const at = 35 + 'model-1'.length + 8 + (r.next() < 0.5 ? 0 : 12 + 32);
      new DataView(b.buffer).setFloat32(at, r.pick([NaN, Infinity, -Infinity, -1]), true);
      return () => post(reseal(b));
    },
    'NaN clip norm': (i) => {
      const b = good(i).slice();
      new DataView(b.buffer).setFloat32(28, r.pick([NaN, Infinity, 0, -2]), true);
      return () => post(reseal(b));
    },
    'over norm': (i) => {
      const b = delta((d) => (d.slices[0]!.scale = 0.2 + r.next()) /* norm ≥ √32·0.2 > 1 */, i);
      return () => post(b);
    },
    'client clip above the round': (i) => {
      const b = delta((d) => (d.clipNorm = 2 + r.int(100)), i);
      return () => post(b);
    },
    'wrong shapes': (i) => {
      const extra = 1 + r.int(5);
      const b = delta((d) => {
        const s = d.slices[r.int(2)]!;
        s.values = new Int8Array(Math.max(1, s.values.length + (r.next() < 0.5 ? -extra : extra)));
      }, i);
      return () => post(b);
    },
    'wrong slice count': (i) => {
      const b = delta(
        (d) =>
          (d.slices =
            r.next() < 0.5
              ? d.slices.slice(0, 1)
              : [...d.slices, { index: 2, scale: SCALE, values: new Int8Array(3) }]),
        i,
      );
      return () => post(b);
    },
    'wrong base model': (i) => {
      const b = delta((d) => (d.baseVersion = `model-${2 + r.int(50)}`), i);
      return () => post(b);
    },
    'another round in the body': (i) => {
      const b = delta((d) => (d.roundId = roundId + 1 + r.int(100)), i);
      return () => post(b);
    },
    'trailing bytes': (i) => {
      const g = good(i);
      const b = new Uint8Array(g.length + 1 + r.int(4));
      b.set(g.subarray(0, g.length - 4));
      return () => post(reseal(b));
    },
    'empty body': () => () => post(new Uint8Array(0)),
    'random bytes': () => {
      const b = Uint8Array.from({ length: r.int(300) }, () => r.int(256));
      return () => post(b);
    },
    'huge body': () => {
      const b = new Uint8Array(64 * 1024 + r.int(2 * 1024 * 1024));
      return () => post(b);
    },
    'wrong content type': (i) => {
      const b = good(i);
      return () =>
        post(b, {
          'content-type': r.pick([
            'text/plain',
            'application/json',
            'multipart/form-data; boundary=x',
            'image/png',
          ]),
        });
    },
    'bad round id': (i) => {
      const b = good(i);
      return () =>
        post(b, {}, r.pick(['0', '-1', 'abc', '1.5', '99999999999', '%00', '1e3', roundId + 1000]));
    },
    'bad JSON to admin': () => {
      const body = r.pick([
        '{',
        '{"slices":',
        '[]',
        'null',
        '{"slices":"x","clipNorm":1,"minReports":1}',
        '{"clipNorm":"1"}',
        '\u0000\u0001',
        '{"slices":[{"name":"a","shape":[0]}],"clipNorm":1,"minReports":1,"durationSeconds":5}',
      ]);
      return () =>
        fetch(`${base}/v1/admin/rounds`, {
          method: 'POST',
          headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
          body,
        });
    },
    'zero delta': (i) => {
      const b = delta((d) => {
        for (const sl of d.slices) {
          if (r.next() < 0.5) sl.scale = 0;
          else sl.values.fill(0);
        }
      }, i);
      return () => post(b);
    },
    'counted, replayed under another ticket': () => {
      const b = exactDelta(roundId, 'model-1', 1 + r.int(3)).bytes;
      return () => post(b);
    },
    'counted values under another id': (i) => {
      const b = exactDelta(
        roundId,
        'model-1',
        1 + r.int(3),
        (i + 1).toString(16).padStart(32, 'b'),
      ).bytes;
      return () => post(b);
    },
    'missing ticket': (i) => {
      const b = good(i);
      return () =>
        post(b, { authorization: r.pick(['', 'Bearer x', 'Ticket', 'Basic Zm9vOmJhcg==']) });
    },
    'malformed ticket': (i) => {
      const b = good(i);
      const len = r.pick([0, 1, 42, 44, 200]);
      const t = Array.from({ length: len }, () =>
        r.pick([...ticketChars, '=', '+', '/', '.']),
      ).join('');
      return () => post(b, { authorization: `Ticket ${t}` });
    },
    'unknown ticket': (i) => {
      const b = good(i);
      const t = Array.from({ length: 43 }, () => r.pick([...ticketChars])).join('');
      return () => post(b, { authorization: `Ticket ${t}` });
    },
    'used ticket': (i) => {
      const b = good(i);
      const t = r.pick(usedTickets);
      return () => post(b, { authorization: `Ticket ${t}` });
    },
    "another round's ticket": (i) => {
      const b = good(i);
      return () => post(b, { authorization: `Ticket ${foreignTicket}` });
    },
    'bad path': () => {
      const chars = 'abcdef0123456789./%-_~ZQ';
      const junk = Array.from({ length: 1 + r.int(80) }, () => chars[r.int(chars.length)]).join('');
      const path = r.pick([
        `/v1/blobs/${junk}`,
        `/v1/${junk}`,
        `/v1/rounds/${junk}/updates`,
        `/v1/blobs/${'0'.repeat(64)}`,
        `/v1/blobs/..%2F..%2Fmanifest.json`,
        `/${junk}`,
      ]);
      return () => fetch(`${base}${path}`, { method: r.pick(['GET', 'GET', 'DELETE', 'PUT']) });
    },
  };
  const names = Object.keys(kinds);
  return Array.from({ length: count }, (_, i) => {
    const kind = names[i % names.length]!;
    return { kind, send: kinds[kind]!(i) };
  });
}

async function snapshot() {
  const store = app.localrec.rounds!.store;
  const sums = await store.sums(roundId);
  return {
    reports: sums!.reports,
    sums: Array.from(sums!.sums),
    updates: (await store.updates(roundId)).map((u) => u.updateId),
    round: await store.getRound(roundId),
    blobs: readdirSync(join(storeDir, 'blobs')).sort(),
    manifest: readFileSync(join(storeDir, 'manifest.json'), 'utf8'),
  };
}

beforeAll(async () => {
  const pub = await publishedStore(root, await newSigningKey());
  storeDir = pub.storeDir;
  app = createServer({
    store: pub.storeUrl,
    rounds: `sqlite:${join(root, 'rounds.db')}`,
    adminToken: TOKEN,
    rateLimit: { perSecond: 0 },
    tickets: { perNetwork: 1_000_000 },
    maxBodyBytes: 1024 * 1024,
  });
  base = (await listen(app, { port: 0, log: () => {} })).replace(/\/$/, '');
  const open = async () => {
    const res = await fetch(`${base}/v1/admin/rounds`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ ...ROUND_BODY, minReports: 1_000_000 }),
    });
    return ((await res.json()) as { id: number }).id;
  };
  // A ticket of a round that has closed since.
  const earlier = await open();
  foreignTicket = await getTicket(base, earlier);
  await fetch(`${base}/v1/admin/rounds/${earlier}/close`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: '{}',
  });
  roundId = await open();
  // Something counted already, so "unchanged" is a real comparison.
  for (const seed of [1, 2, 3]) {
    const ticket = await getTicket(base, roundId);
    usedTickets.push(ticket);
    expect(
      (await postDelta(base, roundId, exactDelta(roundId, 'model-1', seed).bytes, {}, ticket))
        .status,
    ).toBe(202);
  }
});
afterAll(async () => {
  await app?.close();
  rmSync(root, { recursive: true, force: true });
});

describe('fuzz', () => {
  it('answers 1,200 malformed requests with a 4xx JSON error each, and changes nothing', async () => {
    const before = await snapshot();
    const cases = makeCases(1200);
    const answered = new Map<string, Map<number, number>>();
    const bad: string[] = [];
    for (let i = 0; i < cases.length; i += 24) {
      await Promise.all(
        cases.slice(i, i + 24).map(async (c) => {
          const res = await c.send();
          const text = await res.text();
          let body: { error?: { code?: unknown; message?: unknown } } | undefined;
          try {
            body = JSON.parse(text);
          } catch {
            body = undefined;
          }
          const ok =
            res.status >= 400 &&
            res.status < 500 &&
            typeof body?.error?.code === 'string' &&
            typeof body.error.message === 'string' &&
            body.error.message.length > 0;
          if (!ok && bad.length < 10) bad.push(`${c.kind}: ${res.status} ${text.slice(0, 200)}`);
          const byStatus = answered.get(c.kind) ?? new Map<number, number>();
          byStatus.set(res.status, (byStatus.get(res.status) ?? 0) + 1);
          answered.set(c.kind, byStatus);
        }),
      );
    }
    expect(bad).toEqual([]);
    const total = [...answered.values()].reduce(
      (a, m) => a + [...m.values()].reduce((x, y) => x + y, 0),
      0,
    );
    expect(total).toBe(1200);
    // Every kind was tried, and how each was answered is worth a look when it changes.
    expect(answered.size).toBe(27);
    console.log(
      'fuzz answers:',
      JSON.stringify(Object.fromEntries([...answered].map(([k, m]) => [k, Object.fromEntries(m)]))),
    );
    expect(await snapshot()).toEqual(before);
    // Still up, and still counting.
    const res = await postDelta(base, roundId, exactDelta(roundId, 'model-1', 4).bytes);
    expect(res.status).toBe(202);
    expect((await app.localrec.rounds!.store.sums(roundId))!.reports).toBe(before.reports + 1);
  }, 60_000);
});

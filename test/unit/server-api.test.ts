/** The v1 API over real HTTP on 127.0.0.1: signed manifest, blobs, rounds, admin, ops. */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeDelta, encodeDelta } from '../../src/core/delta.ts';
import { verifyManifest, verifyManifestBlob } from '../../src/core/manifest.ts';
import { createServer, listen, type LocalrecServer } from '../../src/server/app.ts';
import { collectGarbage } from '../../src/server/gc.ts';
import { generateKeyFiles, readSigningKey, type SigningKey } from '../../src/server/keys.ts';
import { publishExport } from '../../src/server/publish.ts';
import { openPublicationStore, openRoundStore } from '../../src/server/store/registry.ts';
import {
  exactDelta,
  getTicket,
  postDelta,
  publishedStore,
  ROUND_BODY,
  SCALE,
  sha256,
  SLICES,
  writeExport,
} from './server-fixture.ts';

const TOKEN = 'test-admin-token';
const root = mkdtempSync(join(tmpdir(), 'localrec-api-'));
let key: SigningKey;
let keyFile: string;
let app: LocalrecServer;
let base: string;
let pub: Awaited<ReturnType<typeof publishedStore>>;

const admin = (path: string, body?: unknown, token = TOKEN) =>
  fetch(`${base}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
const errorCode = async (res: Response) =>
  ((await res.json()) as { error: { code: string } }).error.code;

beforeAll(async () => {
  keyFile = (await generateKeyFiles(join(root, 'keys', 'owner'))).privateKeyFile;
  key = await readSigningKey(keyFile);
  pub = await publishedStore(root, key);
  app = createServer({
    store: pub.storeUrl,
    rounds: `sqlite:${join(root, 'rounds.db')}`,
    adminToken: TOKEN,
    rateLimit: { perSecond: 0 },
    // Every test posts from 127.0.0.1; the bound per network has tests of its own.
    tickets: { perNetwork: 1000 },
    corsOrigins: ['https://shop.example'],
  });
  base = (await listen(app, { port: 0, log: () => {} })).replace(/\/$/, '');
});
afterAll(async () => {
  await app?.close();
  rmSync(root, { recursive: true, force: true });
});

describe('publishing and the signed manifest', () => {
  it('serves a manifest the browser verifier accepts, with its blobs, ETag and 304', async () => {
    const res = await fetch(`${base}/v1/manifest`, { headers: { 'accept-encoding': 'identity' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-cache');
    const text = await res.text();
    expect(res.headers.get('etag')).toBe(`"${sha256(text)}"`);
    const v = await verifyManifest(text, key.publicKey);
    expect(v.manifest.version).toBe(1);
    expect(v.manifest.modelVersion).toBe('model-1');
    for (const ref of v.blobs) {
      const blob = new Uint8Array(
        await (await fetch(`${base}/v1/blobs/${ref.sha256}`)).arrayBuffer(),
      );
      await verifyManifestBlob(v, ref.sha256, blob);
    }
    const again = await fetch(`${base}/v1/manifest`, {
      headers: { 'if-none-match': res.headers.get('etag')! },
    });
    expect(again.status).toBe(304);
  });

  it('compresses the manifest and compressible blobs where it helps, never a Range', async () => {
    const m = await fetch(`${base}/v1/manifest`, { headers: { 'accept-encoding': 'gzip' } });
    expect(m.headers.get('content-encoding')).toBe('gzip');
    expect(m.headers.get('vary')).toBe('Accept-Encoding');
    await verifyManifest(await m.text(), key.publicKey);
    const text = pub.blobs.text;
    const url = `${base}/v1/blobs/${sha256(text)}`;
    await fetch(url, { headers: { 'accept-encoding': 'gzip' } }).then((r) => r.arrayBuffer());
    // The compressed copy is made in the background after the first request.
    let res: Response | undefined;
    for (let i = 0; i < 50; i++) {
      res = await fetch(url, { headers: { 'accept-encoding': 'gzip' } });
      if (res.headers.get('content-encoding') === 'gzip') break;
      await res.arrayBuffer();
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(res!.headers.get('content-encoding')).toBe('gzip');
    expect(res!.headers.get('etag')).toBe(`"${sha256(text)}-gzip"`);
    expect(sha256(new Uint8Array(await res!.arrayBuffer()))).toBe(sha256(text));
    const raw = await fetch(url, {
      headers: { 'accept-encoding': 'gzip', 'if-none-match': `"${sha256(text)}-gzip"` },
    });
    expect(raw.status).toBe(304);
    const range = await fetch(url, { headers: { 'accept-encoding': 'gzip', range: 'bytes=0-9' } });
    expect(range.status).toBe(206);
    expect(range.headers.get('content-encoding')).toBeNull();
    expect(Buffer.from(await range.arrayBuffer()).toString()).toBe('item title');
    // Random bytes do not compress: they go out as they are.
    const noise = await fetch(`${base}/v1/blobs/${sha256(pub.blobs.noise)}`, {
      headers: { 'accept-encoding': 'gzip' },
    });
    expect(noise.headers.get('content-encoding')).toBeNull();
    expect(gunzipSync).toBeTypeOf('function');
  });

  it('serves only published blobs: never a private key placed in the store, nor a stray file', async () => {
    const keyBytes = readFileSync(keyFile);
    const keySha = sha256(keyBytes);
    copyFileSync(keyFile, join(pub.storeDir, 'blobs', keySha));
    copyFileSync(keyFile, join(pub.storeDir, 'owner.key'));
    const stray = new TextEncoder().encode('not in any manifest');
    writeFileSync(join(pub.storeDir, 'blobs', sha256(stray)), stray);
    for (const path of [
      `/v1/blobs/${keySha}`,
      `/v1/blobs/${sha256(stray)}`,
      '/owner.key',
      '/v1/blobs/..%2Fowner.key',
      '/blobs/' + keySha,
    ]) {
      const res = await fetch(`${base}${path}`);
      expect(res.status, path).toBeGreaterThanOrEqual(400);
      expect(res.status, path).toBeLessThan(500);
      expect(await res.text()).not.toContain('PRIVATE KEY');
    }
    // Even a manifest that lists it (hand-edited, unsigned) does not get it served.
    const evil = JSON.parse(readFileSync(join(pub.storeDir, 'manifest.json'), 'utf8'));
    evil.shards = [{ sha256: keySha, bytes: keyBytes.length }];
    const saved = readFileSync(join(pub.storeDir, 'manifest.json'));
    writeFileSync(join(pub.storeDir, 'manifest.json'), JSON.stringify(evil));
    try {
      expect((await fetch(`${base}/v1/manifest`)).status).toBe(200);
      const res = await fetch(`${base}/v1/blobs/${keySha}`);
      expect(res.status).toBe(404);
    } finally {
      writeFileSync(join(pub.storeDir, 'manifest.json'), saved);
      rmSync(join(pub.storeDir, 'blobs', keySha));
      rmSync(join(pub.storeDir, 'owner.key'));
    }
    // And publish refuses an export that lists a key as a blob.
    const exp = join(root, 'evil-export');
    writeExport(exp, 'model-evil', 9);
    copyFileSync(keyFile, join(exp, 'blobs', keySha));
    const m = JSON.parse(readFileSync(join(exp, 'manifest.json'), 'utf8'));
    m.shards = [{ sha256: keySha, bytes: keyBytes.length }];
    writeFileSync(join(exp, 'manifest.json'), JSON.stringify(m));
    await expect(publishExport(exp, openPublicationStore(pub.storeUrl), key)).rejects.toThrow(
      /private key/,
    );
  });
});

describe('federated rounds', () => {
  let roundId: number;

  it('has no round until the owner opens one; the admin API wants the token', async () => {
    const none = await fetch(`${base}/v1/rounds/current`);
    expect(none.status).toBe(404);
    expect(await errorCode(none)).toBe('not-found');
    expect((await admin('/v1/admin/rounds', ROUND_BODY, 'wrong')).status).toBe(401);
    const noAuth = await fetch(`${base}/v1/admin/rounds`, {
      method: 'POST',
      body: '{}',
      headers: { 'content-type': 'application/json' },
    });
    expect(noAuth.status).toBe(401);
    expect(await errorCode(noAuth)).toBe('unauthorized');
    const badBody = await admin('/v1/admin/rounds', { ...ROUND_BODY, clipNorm: -1 });
    expect(badBody.status).toBe(400);
    expect(await errorCode(badBody)).toBe('bad-input');
    const res = await admin('/v1/admin/rounds', { ...ROUND_BODY, minReports: 3 });
    expect(res.status).toBe(201);
    const round = (await res.json()) as { id: number; baseModelVersion: string };
    expect(round.baseModelVersion).toBe('model-1');
    roundId = round.id;
    expect((await admin('/v1/admin/rounds', ROUND_BODY)).status).toBe(409);
    const cur = (await (await fetch(`${base}/v1/rounds/current`)).json()) as Record<
      string,
      unknown
    >;
    expect(cur).toMatchObject({
      id: roundId,
      state: 'open',
      slices: SLICES,
      clipNorm: 1,
      deltaFormatVersion: 1,
    });
    expect(cur).not.toHaveProperty('reports');
  });

  it('counts an update once: a replay gets the same 202, a reused id with other contents 409', async () => {
    const d = exactDelta(roundId, 'model-1', 1);
    const ticket = await getTicket(base, roundId);
    const first = await postDelta(base, roundId, d.bytes, {}, ticket);
    expect(first.status).toBe(202);
    const body = await first.json();
    expect(body).toEqual({ roundId, updateId: d.updateId, receipt: 1 });
    // A retry after a lost answer: same bytes, same ticket.
    const replay = await postDelta(base, roundId, d.bytes, {}, ticket);
    expect(replay.status).toBe(202);
    expect(await replay.json()).toEqual(body);
    const reused = exactDelta(roundId, 'model-1', 2, d.updateId);
    const clash = await postDelta(base, roundId, reused.bytes);
    expect(clash.status).toBe(409);
    expect(await errorCode(clash)).toBe('conflict');
    const sums = await app.localrec.rounds!.store.sums(roundId);
    expect(sums?.reports).toBe(1);
    expect(Array.from(sums!.sums)).toEqual(d.values);
  });

  it('wants a ticket per report: none, unknown, used, or another round’s are refused', async () => {
    const d = exactDelta(roundId, 'model-1', 20);
    const post = (headers: Record<string, string>) =>
      fetch(`${base}/v1/rounds/${roundId}/updates`, {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream', ...headers },
        body: d.bytes as BodyInit,
      });
    const none = await post({});
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Ticket');
    expect(((await none.json()) as { error: { message: string } }).error.message).toMatch(
      /POST \/v1\/rounds\/\d+\/tickets/,
    );
    expect((await post({ authorization: 'Ticket short' })).status).toBe(401);
    expect((await post({ authorization: `Bearer ${'a'.repeat(43)}` })).status).toBe(401);
    const unknown = await post({ authorization: `Ticket ${'a'.repeat(43)}` });
    expect(unknown.status).toBe(401);
    expect(await errorCode(unknown)).toBe('unauthorized');
    const ticket = await getTicket(base, roundId);
    expect((await postDelta(base, roundId, d.bytes, {}, ticket)).status).toBe(202);
    const other = exactDelta(roundId, 'model-1', 21);
    const used = await postDelta(base, roundId, other.bytes, {}, ticket);
    expect(used.status).toBe(409);
    expect(((await used.json()) as { error: { message: string } }).error.message).toMatch(
      /one report per ticket/,
    );
    // The same update again under a second ticket: refused, and the second ticket stays good.
    const second = await getTicket(base, roundId);
    const underOther = await postDelta(base, roundId, d.bytes, {}, second);
    expect(underOther.status).toBe(409);
    expect((await postDelta(base, roundId, other.bytes, {}, second)).status).toBe(202);
    // Ticket requests answer what they are for.
    const t = await fetch(`${base}/v1/rounds/${roundId}/tickets`, { method: 'POST' });
    expect(t.status).toBe(201);
    expect(t.headers.get('cache-control')).toBe('no-store');
    const tb = (await t.json()) as { roundId: number; ticket: string; expiresAt: string };
    expect(tb.roundId).toBe(roundId);
    expect(tb.ticket).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Date.parse(tb.expiresAt)).toBeGreaterThan(Date.now());
    expect((await fetch(`${base}/v1/rounds/77/tickets`, { method: 'POST' })).status).toBe(404);
  });

  it('refuses an all-zero delta, and the same values under another update id', async () => {
    const zero = encodeDelta({
      roundId,
      baseVersion: 'model-1',
      updateId: 'f'.repeat(32),
      clipNorm: 1,
      slices: SLICES.map((sl, index) => ({
        index,
        scale: index === 0 ? 0 : SCALE,
        values: new Int8Array(sl.shape.reduce((a, b) => a * b, 1)),
      })),
    });
    const z = await postDelta(base, roundId, zero);
    expect(z.status).toBe(400);
    expect(((await z.json()) as { error: { message: string } }).error.message).toMatch(/all zeros/);
    // Seed 1's values, already counted, under a fresh id — and again with each value halved
    // in q and the scale doubled: the same dequantized values, other bytes.
    const d = exactDelta(roundId, 'model-1', 1);
    const copy = exactDelta(roundId, 'model-1', 1, 'e'.repeat(32));
    const dup = await postDelta(base, roundId, copy.bytes);
    expect(dup.status).toBe(409);
    expect(((await dup.json()) as { error: { message: string } }).error.message).toMatch(
      /exactly these values under another update id/,
    );
    const decoded = decodeDelta(d.bytes);
    const doubled = decoded.slices.map((sl) => ({
      index: sl.index,
      scale: sl.scale * 2,
      values: Int8Array.from(sl.values, (x) => x * 2),
    }));
    // Only meaningful if the doubled q still fits int8: exactDelta's are within ±10.
    const rescaled = encodeDelta({
      ...decoded,
      updateId: 'd'.repeat(32),
      slices: doubled.map((sl) => ({ ...sl, scale: sl.scale / 4 })),
    });
    // (scale/2, 2q): same values as seed 1.
    expect((await postDelta(base, roundId, rescaled)).status).toBe(409);
    const sums = await app.localrec.rounds!.store.sums(roundId);
    expect(sums?.reports).toBe(3);
  });

  it.each([
    ['another base model', () => exactDelta(1, 'model-0', 3).bytes, 409, 'conflict'],
    ['another round id inside', () => exactDelta(2, 'model-1', 3).bytes, 400, 'bad-input'],
    ['garbage', () => new TextEncoder().encode('hello'), 400, 'bad-format'],
  ])('refuses a delta with %s', async (_what, make, status, code) => {
    const res = await postDelta(base, roundId, make());
    expect(res.status).toBe(status);
    expect(await errorCode(res)).toBe(code);
  });

  it('refuses the wrong media type, an unknown round, and a body larger than the round’s delta', async () => {
    const d = exactDelta(roundId, 'model-1', 4);
    const text = await postDelta(base, roundId, d.bytes, { 'content-type': 'text/plain' });
    expect(text.status).toBe(415);
    expect(await errorCode(text)).toBe('unsupported-media-type');
    const noRound = await postDelta(
      base,
      77,
      exactDelta(77, 'model-1', 4).bytes,
      {},
      'a'.repeat(43),
    );
    expect(noRound.status).toBe(404);
    const big = await postDelta(base, roundId, new Uint8Array(d.bytes.length + 100));
    expect(big.status).toBe(413);
    expect(await errorCode(big)).toBe('too-large');
  });

  // minReports used to close the round on reaching it; now it is a lower bound only.
  it('stays open past its minimum; the owner closes it, and then it takes no more', async () => {
    for (const seed of [10, 11])
      expect(
        (await postDelta(base, roundId, exactDelta(roundId, 'model-1', seed).bytes)).status,
      ).toBe(202);
    await new Promise((r) => setTimeout(r, 50));
    const open = (await (await admin(`/v1/admin/rounds/${roundId}`)).json()) as Record<
      string,
      unknown
    >;
    expect(open).toMatchObject({ state: 'open', reports: 5, closeReason: null });
    const closed = await admin(`/v1/admin/rounds/${roundId}/close`, {});
    expect(await closed.json()).toMatchObject({
      state: 'closed',
      reports: 5,
      closeReason: 'admin',
    });
    const late = await postDelta(
      base,
      roundId,
      exactDelta(roundId, 'model-1', 12).bytes,
      {},
      'a'.repeat(43),
    );
    expect(late.status).toBe(409);
    expect((await fetch(`${base}/v1/rounds/current`)).status).toBe(404);
    const tickets = await fetch(`${base}/v1/rounds/${roundId}/tickets`, { method: 'POST' });
    expect(tickets.status).toBe(409);
  });

  it('fails a round that closes under its minimum, at its deadline or by the owner', async () => {
    const { id } = (await (await admin('/v1/admin/rounds', ROUND_BODY)).json()) as { id: number };
    expect((await postDelta(base, id, exactDelta(id, 'model-1', 1).bytes)).status).toBe(202);
    const closed = await admin(`/v1/admin/rounds/${id}/close`, {});
    expect(await closed.json()).toMatchObject({
      id,
      state: 'failed',
      reports: 1,
      closeReason: 'admin',
    });
    expect(await app.localrec.rounds!.store.sums(id)).toBeUndefined();
    const short = (await (
      await admin('/v1/admin/rounds', { ...ROUND_BODY, durationSeconds: 0.3 })
    ).json()) as { id: number };
    let state = '';
    for (let i = 0; i < 100 && state !== 'failed'; i++) {
      await new Promise((r) => setTimeout(r, 30));
      state = ((await (await admin(`/v1/admin/rounds/${short.id}`)).json()) as { state: string })
        .state;
    }
    expect(state).toBe('failed');
  });
});

describe('round state across restarts', () => {
  it('a new server finishes a round left closing, and closes one whose deadline passed while down', async () => {
    const url = `sqlite:${join(root, 'restart.db')}`;
    const s = openRoundStore(url);
    const spec = {
      baseModelVersion: 'model-1',
      slices: SLICES,
      clipNorm: 1,
      minReports: 1,
      deadline: Date.now() + 60_000,
    };
    const a = await s.openRound(spec, Date.now());
    await s.applyUpdates(
      [{ roundId: a.id, updateId: 'a'.repeat(32), digest: 'd', values: new Float64Array(36) }],
      Date.now(),
    );
    await s.beginClosing(a.id, 'admin', Date.now());
    expect((await s.getRound(a.id))?.state).toBe('closing');
    const b = await s.openRound(
      { ...spec, minReports: 10, deadline: Date.now() + 200 },
      Date.now(),
    );
    await s.close();
    await new Promise((r) => setTimeout(r, 250));
    const restarted = createServer({ store: pub.storeUrl, rounds: url });
    await restarted.ready();
    try {
      const store = restarted.localrec.rounds!.store;
      for (let i = 0; i < 50 && (await store.getRound(b.id))?.state !== 'failed'; i++)
        await new Promise((r) => setTimeout(r, 20));
      // b had no reports of its minimum 10 when its deadline passed: failed, not closed.
      expect(await store.getRound(b.id)).toMatchObject({
        state: 'failed',
        closeReason: 'deadline',
      });
      expect(await store.getRound(a.id)).toMatchObject({
        state: 'closed',
        closeReason: 'admin',
        reports: 1,
      });
    } finally {
      await restarted.close();
    }
  });
});

describe('operations', () => {
  it('healthz reports the published version; metrics are Prometheus text', async () => {
    const h = await (await fetch(`${base}/healthz`)).json();
    expect(h).toMatchObject({
      ok: true,
      modelVersion: 'model-1',
      manifestVersion: 1,
      signed: true,
    });
    const m = await fetch(`${base}/metrics`);
    expect(m.headers.get('content-type')).toMatch(/^text\/plain; version=0.0.4/);
    const text = await m.text();
    expect(text).toMatch(/^# TYPE localrec_http_requests_total counter$/m);
    expect(text).toMatch(
      /localrec_http_requests_total\{method="GET",route="\/v1\/manifest",status="200"\} \d+/,
    );
    expect(text).toMatch(/localrec_updates_total\{outcome="accepted"\} 6/);
    expect(text).toMatch(/localrec_updates_total\{outcome="replay"\} 1/);
    expect(text).toMatch(
      /localrec_http_request_duration_seconds_bucket\{le="\+Inf",route="\/v1\/manifest"\} \d+/,
    );
  });

  it('answers CORS preflights for the configured origin only', async () => {
    const ok = await fetch(`${base}/v1/manifest`, {
      method: 'OPTIONS',
      headers: { origin: 'https://shop.example', 'access-control-request-method': 'GET' },
    });
    expect(ok.headers.get('access-control-allow-origin')).toBe('https://shop.example');
    const other = await fetch(`${base}/v1/manifest`, {
      headers: { origin: 'https://evil.example' },
    });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('rate-limits ticket requests and update posts per client network with 429 + Retry-After', async () => {
    const limited = createServer({
      store: pub.storeUrl,
      rounds: 'memory:',
      rateLimit: { perSecond: 1, burst: 2 },
    });
    const url = (await listen(limited, { port: 0, log: () => {} })).replace(/\/$/, '');
    try {
      const codes: number[] = [];
      codes.push((await fetch(`${url}/v1/rounds/1/tickets`, { method: 'POST' })).status);
      for (let i = 0; i < 3; i++)
        codes.push((await postDelta(url, 1, new Uint8Array(10), {}, 'a'.repeat(43))).status);
      expect(codes).toEqual([404, 404, 429, 429]);
      const res = await fetch(`${url}/v1/rounds/1/tickets`, { method: 'POST' });
      expect(res.headers.get('retry-after')).toBe('1');
      expect(await errorCode(res)).toBe('rate-limited');
    } finally {
      await limited.close();
    }
  });

  it('behind a named proxy, counts the forwarded client network: IPv4 address, IPv6 /64', async () => {
    const proxied = createServer({
      store: pub.storeUrl,
      rounds: 'memory:',
      trustProxy: '127.0.0.1/32,::1',
      tickets: { perNetwork: 2 },
      rateLimit: { perSecond: 0 },
    });
    const url = (await listen(proxied, { port: 0, log: () => {} })).replace(/\/$/, '');
    try {
      const store = proxied.localrec.rounds!.store;
      const r = await store.openRound(
        {
          baseModelVersion: 'model-1',
          slices: SLICES,
          clipNorm: 1,
          minReports: 1,
          deadline: Date.now() + 60_000,
        },
        Date.now(),
      );
      const ask = (xff: string) =>
        fetch(`${url}/v1/rounds/${r.id}/tickets`, {
          method: 'POST',
          headers: { 'x-forwarded-for': xff },
        }).then((x) => x.status);
      // One /64: two tickets, then refused, whatever the interface id.
      expect(await ask('2001:db8:1:2::1')).toBe(201);
      expect(await ask('2001:db8:1:2:ffff:ffff:ffff:ffff')).toBe(201);
      const third = await fetch(`${url}/v1/rounds/${r.id}/tickets`, {
        method: 'POST',
        headers: { 'x-forwarded-for': '2001:DB8:1:2:0:0:0:9' },
      });
      expect(third.status).toBe(403);
      expect(await errorCode(third)).toBe('forbidden');
      expect(await ask('2001:db8:1:3::1')).toBe(201); // the next /64 is another network
      // An IPv4 client is its address, however it is written.
      expect(await ask('192.0.2.7')).toBe(201);
      expect(await ask('::ffff:192.0.2.7')).toBe(201);
      expect(await ask('::ffff:c000:207')).toBe(403);
      // A client cannot make itself someone else by adding its own X-Forwarded-For entries:
      // the proxy appends the real peer, and only the proxy is believed.
      expect(await ask('203.0.113.9, 192.0.2.8')).toBe(201);
      expect(await ask('203.0.113.9, 192.0.2.8')).toBe(201);
      expect(await ask('198.51.100.1, 192.0.2.8')).toBe(403);
      // An in-process store (memory:) checks and counts on the event loop: the same answers.
      const xff = { 'x-forwarded-for': '198.51.100.20' };
      const ticket = await getTicket(url, r.id, xff);
      const d = exactDelta(r.id, 'model-1', 5);
      expect((await postDelta(url, r.id, d.bytes, xff, ticket)).status).toBe(202);
      expect((await postDelta(url, r.id, d.bytes, xff, ticket)).status).toBe(202);
      expect(
        (await postDelta(url, r.id, exactDelta(r.id, 'model-1', 6).bytes, xff, ticket)).status,
      ).toBe(409);
      expect((await store.sums(r.id))?.reports).toBe(1);
    } finally {
      await proxied.close();
    }
  });

  it('bounds the intake: past its places, 503 with Retry-After before the body is read', async () => {
    const small = createServer({
      store: pub.storeUrl,
      rounds: `sqlite:${join(root, 'bounded.db')}`,
      maxQueuedUpdates: 1,
      rateLimit: { perSecond: 0 },
    });
    const url = (await listen(small, { port: 0, log: () => {} })).replace(/\/$/, '');
    try {
      const r = await small.localrec.rounds!.store.openRound(
        {
          baseModelVersion: 'model-1',
          slices: SLICES,
          clipNorm: 1,
          minReports: 1,
          deadline: Date.now() + 60_000,
        },
        Date.now(),
      );
      const ticket = await getTicket(url, r.id);
      const d = exactDelta(r.id, 'model-1', 1);
      // One post holds the only place while its body trickles in…
      let finish!: () => void;
      const first = new Promise<number>((resolve, reject) => {
        const req = request(
          `${url}/v1/rounds/${r.id}/updates`,
          {
            method: 'POST',
            headers: {
              'content-type': 'application/octet-stream',
              'content-length': d.bytes.length,
              authorization: `Ticket ${ticket}`,
            },
          },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on('error', reject);
        req.write(d.bytes.subarray(0, 10));
        finish = () => req.end(d.bytes.subarray(10));
      });
      await new Promise((ok) => setTimeout(ok, 100));
      // …so the next one, and a ticket request, are turned away at once.
      const busy = await postDelta(url, r.id, exactDelta(r.id, 'model-1', 2).bytes, {}, ticket);
      expect(busy.status).toBe(503);
      expect(Number(busy.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(await errorCode(busy)).toBe('overloaded');
      const t = await fetch(`${url}/v1/rounds/${r.id}/tickets`, { method: 'POST' });
      expect(t.status).toBe(503);
      finish();
      expect(await first).toBe(202);
      // The place is given back once the answer has gone.
      await new Promise((ok) => setTimeout(ok, 50));
      expect((await postDelta(url, r.id, exactDelta(r.id, 'model-1', 3).bytes)).status).toBe(202);
    } finally {
      await small.close();
    }
  });

  it('refuses to trust any proxy: the proxies must be named', () => {
    for (const bad of [true, 'true', '*', '0.0.0.0/0', '::/0', 'not-an-ip', '10.0.0.0/33'])
      expect(() =>
        createServer({ store: pub.storeUrl, trustProxy: bad as unknown as string }),
      ).toThrow(/trust-proxy/);
  });
});

describe('versions and gc', () => {
  it('keeps old versions servable until gc, which never deletes the current one', async () => {
    const store = openPublicationStore(pub.storeUrl);
    const v2 = await publishedStore(root, key, 'model-2', 2);
    expect(v2.summary.version).toBe(2);
    const oldNoise = sha256(pub.blobs.noise);
    const res = await fetch(`${base}/v1/manifest`);
    expect(JSON.parse(await res.text()).version).toBe(2);
    expect((await fetch(`${base}/v1/blobs/${oldNoise}`)).status).toBe(200);
    // Roll back to version 1: gc keeping only the newest still keeps the current one.
    await store.manifests.setCurrent(1);
    const dry = await collectGarbage(store, { keep: 1, dryRun: true });
    expect(dry).toMatchObject({
      currentVersion: 1,
      keptVersions: [1, 2],
      deletedVersions: [],
      dryRun: true,
    });
    await store.manifests.setCurrent(2);
    const gc = await collectGarbage(store, { keep: 1 });
    expect(gc).toMatchObject({ currentVersion: 2, keptVersions: [2], deletedVersions: [1] });
    expect(await store.manifests.listVersions()).toEqual([2]);
    expect(await store.blobs.stat(oldNoise)).toBeUndefined();
    // Left: exactly the blobs version 2 lists (strays and half-published exports went too).
    const left: string[] = [];
    for await (const b of store.blobs.list()) left.push(b);
    expect(left.sort()).toEqual([sha256(v2.blobs.text), sha256(v2.blobs.noise)].sort());
    expect(await store.blobs.stat(sha256(v2.blobs.noise))).toEqual({ bytes: 3000 });
    expect((await fetch(`${base}/v1/blobs/${oldNoise}`)).status).toBe(404);
    const v = await verifyManifest(
      await (await fetch(`${base}/v1/manifest`)).text(),
      key.publicKey,
    );
    for (const ref of v.blobs)
      expect((await fetch(`${base}/v1/blobs/${ref.sha256}`)).status).toBe(200);
  });
});

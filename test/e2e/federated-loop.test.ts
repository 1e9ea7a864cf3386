/**
 * The federated learning loop end to end, with real parts only: the real server wired as
 * `localrec serve --federated` wires it (src/cli/federated/serve-federated.ts: the intake's
 * closing hook hands the round to a FederatedCoordinator), a round the coordinator opens on the
 * published version (its slices: the manifest's federated parameter set), and two visitors —
 * two browser contexts on a shop's origin with the one-tag embed, consent to personalization
 * and federated learning, no Global Privacy Control — whose browser trainers fine-tune the
 * shipped SASRec on their own histories and post clipped, quantized deltas with round tickets.
 * The round is closed through the admin API; the server aggregates (DP-FedAvg without noise,
 * server SGD with η = 1, so the new weights are the old plus the mean of the two deltas as
 * posted), signs and publishes the next version; both pages switch to it through the SDK's
 * own update path (refresh(), what its timer calls) and recommend with it. Everything each
 * context sent passes the privacy rule of ./traffic.ts.
 *
 * The server is this file's own (own store and round store): the shared e2e site's round store
 * is used by other tests.
 */
import { mkdirSync, mkdtempSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { serverSideFromFlags } from '../../src/cli/commands/federated-flags.ts';
import { FederatedCoordinator } from '../../src/cli/federated/coordinator.ts';
import { readBaseVersion } from '../../src/cli/federated/next-version.ts';
import { addDequantized, decodeDelta } from '../../src/core/delta.ts';
import { parseManifest, verifyManifest } from '../../src/core/manifest.ts';
import type { Contribution } from '../../src/client/types.ts';
import type { LocalrecGlobal } from '../../src/embed/global.ts';
import { createServer, listen, type LocalrecServer } from '../../src/server/app.ts';
import { readSigningKey } from '../../src/server/keys.ts';
import { publishExport } from '../../src/server/publish.ts';
import { openPublicationStore, type PublicationStore } from '../../src/server/store/registry.ts';
import { sliceOffsets } from '../../src/server/store/round-store.ts';
import { sliceValues } from '../../models/federated/parameter-set.ts';
import {
  launchChromium,
  pageProblems,
  type Browser,
  type BrowserContext,
  type Page,
} from './browser.ts';
import { privacyViolations, recordTraffic, type Traffic } from './traffic.ts';

const site = inject('e2eSite');
const ADMIN = 'federated-loop-admin';
type Lr = { localrec: LocalrecGlobal };

let browser: Browser;
let app: LocalrecServer;
let coordinator: FederatedCoordinator;
let store: PublicationStore;
let serverUrl = '';
let host: Server;
let hostUrl = '';

beforeAll(async () => {
  mkdirSync(site.scratchDir, { recursive: true });
  const root = mkdtempSync(join(site.scratchDir, 'federated-loop-'));
  const storeUrl = `file:${join(root, 'store')}`;
  const key = await readSigningKey(site.keyFile);
  await publishExport(site.exportDir, openPublicationStore(storeUrl), key);
  // As serve-federated.ts builds it: the hook exists before the server, the coordinator after.
  app = createServer({
    store: storeUrl,
    rounds: `sqlite:${join(root, 'rounds.db')}`,
    staticDir: site.distDir,
    corsOrigins: ['*'],
    adminToken: ADMIN,
    onRoundClosing: (r, s) => coordinator.onClosing(r, s),
  });
  serverUrl = (await listen(app, { host: '127.0.0.1', port: 0, log: () => {} })).replace(/\/$/, '');
  store = app.localrec.published.store;
  coordinator = new FederatedCoordinator({
    // Two visitors: n = 2, at least 2 reports; no noise (so the step is exactly the mean),
    // hence no ε and no budget; plain FedAvg on the server (SGD, η = 1).
    ...serverSideFromFlags({
      'clients-per-round': '2',
      'min-reports': '2',
      'noise-multiplier': '0',
      'epsilon-budget': 'none',
      'server-optimizer': 'sgd',
    }),
    store,
    rounds: app.localrec.rounds!,
    key,
    workDir: join(root, 'federated-work'),
  });
  host = createHttpServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>A shop</title></head>
<body><h1>The shop</h1><div id="recs"></div>
<script src="${serverUrl}/localrec.js" data-server="${serverUrl}" data-public-key="${site.publicKey}" data-target="#recs" data-k="6" data-consent="personalization federated" async></script>
</body></html>`);
  });
  await new Promise<void>((ok) => host.listen(0, '127.0.0.1', ok));
  hostUrl = `http://127.0.0.1:${(host.address() as AddressInfo).port}`;
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await new Promise<void>((ok) => (host ? host.close(() => ok()) : ok()));
  await app?.close();
});

/** `promise`, or a failure naming `what` after `ms` (a hang then says where it hung). */
function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer in ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

async function admin(path: string, method = 'GET') {
  const res = await fetch(`${serverUrl}/v1/admin${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN}` },
    signal: AbortSignal.timeout(60_000),
  });
  expect(res.status, `${method} /v1/admin${path}`).toBe(200);
  return (await res.json()) as { id: number; state: string; reports: number };
}

interface Visitor {
  name: string;
  context: BrowserContext;
  page: Page;
  traffic: Traffic;
  problems: string[];
  /** The catalog items this visitor liked (index order of site.items). */
  liked: typeof site.items;
}

const status = (page: Page) => page.evaluate(() => (window as unknown as Lr).localrec.status());
const contributions = (page: Page): Promise<Contribution[]> =>
  page.evaluate(() => (window as unknown as Lr).localrec.contributions());

/** Opens the shop in a fresh context and waits for the whole model to be in. */
async function visit(name: string, liked: typeof site.items): Promise<Visitor> {
  const context = await browser.newContext();
  const traffic = recordTraffic(context);
  const page = await context.newPage();
  const problems = pageProblems(page);
  await page.goto(`${hostUrl}/`);
  await page.waitForFunction(
    () => (window as unknown as Lr).localrec.ready.then(() => true),
    undefined,
    { timeout: 120_000 },
  );
  await expect
    .poll(
      async () => {
        const s = await status(page);
        return s.complete && s.device !== 'loading';
      },
      { timeout: 120_000 },
    )
    .toBe(true);
  return { name, context, page, traffic, problems, liked };
}

/**
 * Likes the visitor's items once the trainer has seen the open round (the widget's views are
 * history too), then waits until its delta for `roundId` was sent and taken.
 */
async function contribute(v: Visitor, roundId: number): Promise<Contribution> {
  const s = await status(v.page);
  expect(s.globalPrivacyControl).toBe(false);
  expect(s.consent).toMatchObject({ personalization: true, federated: true });
  // The trainer has asked for the open round (it trains once the page is idle).
  await expect
    .poll(async () => (await status(v.page)).federated.round?.id, { timeout: 60_000 })
    .toBe(roundId);
  await v.page.evaluate(
    async (ids) => {
      for (const itemId of ids)
        await (window as unknown as Lr).localrec.track({ type: 'like', itemId });
    },
    v.liked.map((i) => i.id),
  );
  // Idle for idleMs (5 s), it fine-tunes in its worker and the outbox posts the delta.
  // (What the trainer says comes with it: a failure shows why nothing was sent.)
  await expect
    .poll(
      async () => {
        const { state, reason } = (await status(v.page)).federated;
        const sent = (await contributions(v.page)).map((c) => [c.roundId, c.status]);
        return { sent, trainer: `${state}: ${reason}` };
      },
      { timeout: 120_000, interval: 500 },
    )
    .toMatchObject({ sent: [[roundId, 'sent']] });
  return (await contributions(v.page))[0]!;
}

it('two browsers fine-tune the shipped model for a round; the server publishes the next version and both recommend with it', async () => {
  const before = parseManifest((await store.manifests.current())!);
  const base = await readBaseVersion(store);
  const round = (await coordinator.openRound())!;
  expect(round.baseModelVersion).toBe(before.modelVersion);
  expect(round.slices).toEqual(base.set.slices.map((s) => ({ name: s.name, shape: s.shape })));

  // Different histories (index 0 is padding): each visitor learns from its own.
  const visitors = await Promise.all([
    visit('a', site.items.slice(1, 6)),
    visit('b', site.items.slice(40, 45)),
  ]);
  for (const v of visitors) expect((await status(v.page)).modelVersion).toBe(before.modelVersion);
  const made = await Promise.all(visitors.map((v) => contribute(v, round.id)));
  for (const c of made) {
    expect(c).toMatchObject({
      roundId: round.id,
      baseModelVersion: before.modelVersion,
      status: 'sent',
    });
    expect(c.items).toBeGreaterThanOrEqual(2);
    expect(c.steps).toBeGreaterThanOrEqual(1);
  }
  expect(new Set(made.map((c) => c.updateId)).size).toBe(2);

  // What each context posted: one delta, its own update id, for the round, taken by the server.
  const posted = [];
  for (const [i, v] of visitors.entries()) {
    await v.traffic.settle();
    const posts = v.traffic.requests.filter(
      (r) => r.method === 'POST' && r.url === `${serverUrl}/v1/rounds/${round.id}/updates`,
    );
    expect(posts, `delta posts of ${v.name}`).toHaveLength(1);
    const d = decodeDelta(new Uint8Array(posts[0]!.body!));
    expect(d).toMatchObject({
      roundId: round.id,
      baseVersion: before.modelVersion,
      updateId: made[i]!.updateId,
    });
    posted.push(d);
  }
  expect((await admin(`/rounds/${round.id}`)).reports).toBe(2);

  // Closing runs the coordinator: aggregate, server step, export, sign, publish.
  const closed = await admin(`/rounds/${round.id}/close`, 'POST');
  expect(closed).toMatchObject({ id: round.id, state: 'closed', reports: 2 });
  const res = await fetch(`${serverUrl}/v1/manifest`);
  expect(res.status).toBe(200);
  const after = (await verifyManifest(new Uint8Array(await res.arrayBuffer()), site.publicKey))
    .manifest;
  expect(after.version).toBe((before.version ?? 0) + 1);
  expect(after.modelVersion).not.toBe(before.modelVersion);
  expect(after.federated).toMatchObject({
    round: round.id,
    baseModelVersion: before.modelVersion,
    reports: 2,
    expectedClients: 2,
  });
  type Sasrec = { sasrec: { trainable: { sha256: string }; encoder: { sha256: string } } };
  const [m0, m1] = [before.models as Sasrec, after.models as Sasrec];
  expect(m1.sasrec.trainable.sha256).not.toBe(m0.sasrec.trainable.sha256);
  expect(m1.sasrec.encoder.sha256).not.toBe(m0.sasrec.encoder.sha256);
  // The new weights are the old plus the mean of exactly the two deltas the browsers posted.
  const offsets = sliceOffsets(round.slices);
  const sum = new Float64Array(offsets.at(-1)!);
  for (const d of posted) addDequantized(d, sum, offsets);
  const next = await readBaseVersion(store);
  const w0 = sliceValues(base.set, base.checkpoint.weights);
  const w1 = sliceValues(next.set, next.checkpoint.weights);
  let worst = 0;
  let moved = 0;
  w0.forEach((s, j) =>
    s.forEach((x, i) => {
      const step = w1[j]![i]! - x;
      worst = Math.max(worst, Math.abs(step - sum[offsets[j]! + i]! / 2));
      if (step !== 0) moved++;
    }),
  );
  expect(worst).toBeLessThan(1e-5);
  expect(moved).toBeGreaterThan(0);

  // Both pages take the new version through the SDK's update path, and recommend with it.
  for (const v of visitors) {
    const r = await within(
      60_000,
      `refresh() in ${v.name}`,
      v.page.evaluate(() => (window as unknown as Lr).localrec.refresh()),
    );
    expect(r).toEqual({ changed: true, modelVersion: after.modelVersion });
    const s = await status(v.page);
    expect(s).toMatchObject({
      modelVersion: after.modelVersion,
      manifestVersion: after.version,
      complete: true,
    });
    const recs = await v.page.evaluate(() =>
      (window as unknown as Lr).localrec.recommend({ k: 6 }),
    );
    expect(recs.modelVersion).toBe(after.modelVersion);
    expect(recs.coldStart).toBe(false);
    expect(recs.items.length).toBeGreaterThan(0);
  }

  // Every request of both contexts passes the privacy rule; the shop's origin saw its page only.
  for (const v of visitors) {
    await v.traffic.settle();
    const toHost = v.traffic.requests.filter((r) => r.url.startsWith(`${hostUrl}/`));
    expect(toHost.map((r) => `${r.method} ${r.url}`)).toEqual([`GET ${hostUrl}/`]);
    const rest = v.traffic.requests.filter((r) => !toHost.includes(r));
    expect(rest.some((r) => r.url.endsWith(`/v1/blobs/${m1.sasrec.encoder.sha256}`))).toBe(true);
    expect(
      privacyViolations(rest, {
        origin: serverUrl,
        trace: { itemIds: v.liked.map((i) => i.id), titles: v.liked.map((i) => i.title) },
        federated: true,
        modelVersion: before.modelVersion,
        isAppFile: (path) => path === '/localrec.js' || path.startsWith('/assets/'),
      }),
      `privacy of ${v.name}`,
    ).toEqual([]);
    expect(v.traffic.websocketFrames).toEqual([]);
    expect(v.problems, `console of ${v.name}`).toEqual([]);
    await v.context.close();
  }
});

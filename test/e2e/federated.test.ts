/**
 * Federated updates end to end, through the one-tag embed on a second origin: with federated
 * consent, a delta contributed while the network is gone waits in the visitor's outbox and is
 * posted — once, byte for byte — when the network returns; everything the page and its
 * workers sent passes the privacy rule (only app files, manifest, blobs and that delta).
 * Without federated consent, or under Global Privacy Control, nothing is posted at all.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { encodeDelta, quantizeDelta, randomUpdateId } from '../../src/core/delta.ts';
import { decodeShard } from '../../src/core/shard.ts';
import type { LocalrecGlobal } from '../../src/embed/global.ts';
import { launchChromium, pageProblems, type Browser, type Page } from './browser.ts';
import { privacyViolations, recordTraffic } from './traffic.ts';

const site = inject('e2eSite');
let browser: Browser;
let host: Server;
let hostUrl = '';
let round: {
  id: number;
  baseModelVersion: string;
  clipNorm: number;
  slices: { shape: number[] }[];
};

/** A shop's page with the tag; its consent banner's answer comes from the query string. */
function hostPage(consent: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>A shop</title>
<script>window.localrec = window.localrec || []; localrec.push(['setConsent', ${consent}]);</script>
</head><body><h1>The shop</h1><div id="recs"></div>
<script src="${site.url}/localrec.js" data-server="${site.url}" data-public-key="${site.publicKey}" data-target="#recs" data-k="6" async></script>
</body></html>`;
}

beforeAll(async () => {
  browser = await launchChromium();
  host = createServer((req, res) => {
    const consent = new URL(req.url ?? '/', 'http://x').searchParams.get('consent') ?? '{}';
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(hostPage(consent));
  });
  await new Promise<void>((ok) => host.listen(0, '127.0.0.1', ok));
  hostUrl = `http://127.0.0.1:${(host.address() as AddressInfo).port}`;
  const opened = await fetch(`${site.url}/v1/admin/rounds`, {
    method: 'POST',
    headers: { authorization: `Bearer ${site.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      slices: [{ name: 'item_bias', shape: [16] }],
      clipNorm: 1,
      minReports: 1_000_000,
      durationSeconds: 3600,
    }),
  });
  expect(opened.status).toBe(201);
  round = await (await fetch(`${site.url}/v1/rounds/current`)).json();
});
afterAll(async () => {
  await browser?.close();
  await new Promise<void>((ok) => host?.close(() => ok()));
});

/** A clipped delta for the open round, as a local trainer would make it. */
function makeDelta(): { bytes: number[]; updateId: string } {
  const updateId = randomUpdateId();
  const values = Float32Array.from({ length: 16 }, (_, i) => Math.sin(i + 1) / 4);
  const d = quantizeDelta({
    roundId: round.id,
    baseVersion: round.baseModelVersion,
    updateId,
    clipNorm: round.clipNorm,
    slices: [values],
  });
  return { bytes: Array.from(encodeDelta(d)), updateId };
}

async function counted(): Promise<string[]> {
  const log = (await (await fetch(`${site.requestLogUrl}/log`)).json()) as {
    method: string;
    url: string;
    status: number;
  }[];
  return log
    .filter((r) => r.method === 'POST' && r.url === `/v1/rounds/${round.id}/updates`)
    .map((r) => String(r.status));
}

async function openShop(
  page: Page,
  consent: { personalization?: boolean; federated?: boolean },
): Promise<void> {
  await page.goto(`${hostUrl}/?consent=${encodeURIComponent(JSON.stringify(consent))}`);
  await page.waitForFunction(
    () => (window as unknown as { localrec: LocalrecGlobal }).localrec.ready.then(() => true),
    undefined,
    { timeout: 120_000 },
  );
  // The banner's answer (queued before the script loaded) has been stored.
  await expect
    .poll(
      () =>
        page.evaluate(
          async () =>
            (await (window as unknown as { localrec: LocalrecGlobal }).localrec.getConsent())
              .updatedAt !== null,
        ),
      { timeout: 30_000 },
    )
    .toBe(true);
}

type Lr = { localrec: LocalrecGlobal };

it('a delta made offline waits in the outbox and is posted once when the network is back', async () => {
  const context = await browser.newContext();
  const traffic = recordTraffic(context);
  const page = await context.newPage();
  const problems = pageProblems(page);
  await openShop(page, { personalization: true, federated: true });
  // The whole model (ONNX Runtime included) is in before the network goes.
  const status = () => page.evaluate(() => (window as unknown as Lr).localrec.status());
  await expect
    .poll(
      async () => {
        const s = await status();
        return s.complete && s.device !== 'loading';
      },
      { timeout: 120_000 },
    )
    .toBe(true);
  // The site ships a two-tower retriever with request-context features beside SASRec: its
  // encoder runs in the worker on the visitor's moment and proposes candidates.
  expect((await status()).models).toEqual(['sasrec', 'two-tower']);
  await page.evaluate(
    async (ids) => {
      for (const itemId of ids)
        await (window as unknown as Lr).localrec.track({ type: 'like', itemId });
    },
    site.items.slice(1, 6).map((i) => i.id),
  );
  const sources = await page.evaluate(async () =>
    (await (window as unknown as Lr).localrec.recommend({ k: 10 })).items.flatMap((x) => x.sources),
  );
  expect(sources).toContain('two-tower');
  // SASRec is an ensemble of two here (test/setup/e2e-site.ts): one encoder whose user vector
  // holds both members, scored against shards twice the members' width — and it recommends.
  expect(sources).toContain('sasrec');
  const manifest = JSON.parse(readFileSync(join(site.exportDir, 'manifest.json'), 'utf8'));
  const sasrec = manifest.models.sasrec.config;
  expect(sasrec.members).toBe(2);
  const shard = decodeShard(readFileSync(join(site.exportDir, 'blobs', manifest.shards[0].sha256)));
  expect(shard.dim).toBe(2 * sasrec.dim);
  const before = (await counted()).length;

  await context.setOffline(true);
  const delta = makeDelta();
  const queued = await page.evaluate(
    (bytes) => (window as unknown as Lr).localrec.contribute(new Uint8Array(bytes)),
    delta.bytes,
  );
  expect(queued).toMatchObject({ queued: true, updateId: delta.updateId, pending: 1 });
  await page.waitForTimeout(1000);
  expect((await counted()).length).toBe(before);
  const waiting = await status();
  expect(waiting.pendingUpdates).toBe(1);

  await context.setOffline(false);
  await expect
    .poll(async () => (await counted()).slice(before), { timeout: 30_000 })
    .toEqual(['202']);
  await expect
    .poll(async () => (await status()).pendingUpdates, {
      timeout: 10_000,
    })
    .toBe(0);
  await traffic.settle();

  const posts = traffic.requests.filter((r) => r.method === 'POST');
  expect(posts.map((r) => r.url)).toContain(`${site.url}/v1/rounds/${round.id}/updates`);
  const posted = posts.find((r) => r.body && r.body.length > 0)!;
  expect(Array.from(posted.body!)).toEqual(delta.bytes);
  const toServer = traffic.requests.filter((r) => r.url.startsWith(site.url));
  expect(
    privacyViolations(toServer, {
      origin: site.url,
      trace: { itemIds: [], titles: site.items.slice(1).map((i) => i.title) },
      federated: true,
      modelVersion: round.baseModelVersion,
      isAppFile: (path) => path === '/localrec.js' || path.startsWith('/assets/'),
    }),
  ).toEqual([]);
  // The shop's own origin saw only its page.
  expect(traffic.requests.filter((r) => r.url.startsWith(hostUrl)).map((r) => r.method)).toEqual([
    'GET',
  ]);
  expect(problems).toEqual([]);
  await context.close();
});

it('without federated consent, or under Global Privacy Control, nothing is queued or posted', async () => {
  const before = (await counted()).length;
  for (const [consent, gpc] of [
    [{ personalization: true }, false],
    [{ personalization: true, federated: true }, true],
  ] as const) {
    const context = await browser.newContext();
    if (gpc)
      await context.addInitScript(() =>
        Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', { get: () => true }),
      );
    const page = await context.newPage();
    await openShop(page, consent);
    const r = await page.evaluate(
      (bytes) => (window as unknown as Lr).localrec.contribute(new Uint8Array(bytes)),
      makeDelta().bytes,
    );
    expect(r).toMatchObject({ queued: false, pending: 0 });
    const s = await page.evaluate(() => (window as unknown as Lr).localrec.status());
    expect(s.globalPrivacyControl).toBe(gpc);
    expect(s.consent.federated).toBe(false);
    await page.evaluate(() => (window as unknown as Lr).localrec.flushOutbox());
    await context.close();
  }
  expect((await counted()).length).toBe(before);
});

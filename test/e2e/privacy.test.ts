/**
 * The privacy guarantee, enforced: a visitor browses the demo (consent to personalization,
 * search, several likes, the recommendation widget's views and clicks, explanations, the "your
 * data" view and its export) while every request, beacon and WebSocket frame of the page, its
 * workers and its service worker is recorded — by Playwright in the browser, and by the server
 * itself (a second observer, test/setup/request-log.ts). Nothing sent may carry the visitor's
 * item ids, titles, events or profile; only the app's files, the manifest and blobs are fetched,
 * and delta posts appear only with federated consent (test/e2e/traffic.ts has the rule).
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { launchChromium, pageProblems, type Browser, type Page } from './browser.ts';
import { privacyViolations, recordTraffic, type SentRequest } from './traffic.ts';

const site = inject('e2eSite');
let browser: Browser;

beforeAll(async () => {
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
});

/** A path that names one of the built site's files (or a folder with an index.html). */
function isAppFile(path: string): boolean {
  const file = join(site.distDir, decodeURIComponent(path));
  if (!file.startsWith(site.distDir) || !existsSync(file)) return false;
  return statSync(file).isFile() || existsSync(join(file, 'index.html'));
}

interface LoggedRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string;
}

async function serverLog(): Promise<LoggedRequest[]> {
  return (await fetch(`${site.requestLogUrl}/log`)).json() as Promise<LoggedRequest[]>;
}

/** Likes `n` catalog cards not liked yet, one at a time, returning their titles. */
async function like(page: Page, n: number): Promise<string[]> {
  const titles: string[] = [];
  for (let i = 0; i < n; i++) {
    const card = page.locator('#catalog-grid .card[aria-pressed="false"]').nth(i * 2);
    titles.push((await card.locator('.card-title').textContent())!.trim());
    await card.click();
    await expect
      .poll(() => page.locator('#history .hist-title').count(), { timeout: 20_000 })
      .toBe(i + 1);
  }
  return titles;
}

it('browsing, liking and clicking recommendations sends nothing personal', async () => {
  // A user agent of its own tells this test's requests apart in the server's log.
  const userAgent = `localrec-privacy-test-${Date.now()}`;
  const context = await browser.newContext({ userAgent });
  const traffic = recordTraffic(context);
  const page = await context.newPage();
  const problems = pageProblems(page);
  await page.goto(site.url);
  // The consent switch is enabled once the recommender is up.
  await page.locator('#personalize:not([disabled])').waitFor({ timeout: 120_000 });
  await page.locator('#consent-accept').click();
  await expect.poll(() => page.locator('#personalize').isChecked(), { timeout: 30_000 }).toBe(true);

  const liked = await like(page, 4);
  await page.locator('#search').fill(liked[0]!.slice(0, 6));
  await page.locator('#search').fill('');
  // The widget: cards shown long enough to count as views, one clicked, one explained.
  const widget = page.locator('#recs-widget .lr-card');
  await widget.first().waitFor({ timeout: 120_000 });
  const recommended = (await page.locator('#recs-widget .lr-item-title').allTextContents()).map(
    (t) => t.trim(),
  );
  await page.waitForTimeout(1500);
  await widget.nth(1).click();
  await page.waitForTimeout(500);
  // "Your data": what is stored, and an export (a download, not a request).
  await page.goto(`${site.url}/#/your-data`);
  await page.locator('#data-events tr').first().waitFor({ timeout: 60_000 });
  const download = page.waitForEvent('download');
  await page.locator('#data-export').click();
  await (await download).path();
  await page.goto(site.url);
  await page.locator('#recs-widget .lr-card').first().waitFor({ timeout: 120_000 });
  await page.waitForTimeout(1000);
  await traffic.settle();

  // What the visitor did is really stored (so the check below is about real, present data).
  const snapshot = (await page.evaluate(async () => {
    const dbs = await indexedDB.databases();
    return dbs.map((d) => d.name);
  })) as string[];
  expect(snapshot.length).toBeGreaterThan(0);

  const catalogByTitle = new Map(site.items.map((i) => [i.title, i.id]));
  const ids = [...liked, ...recommended]
    .map((t) => catalogByTitle.get(t))
    .filter(Boolean) as string[];
  expect(ids.length).toBeGreaterThanOrEqual(liked.length);
  const trace = { itemIds: ids, titles: [...liked, ...recommended] };
  const rule = {
    origin: new URL(site.url).origin,
    trace,
    federated: false,
    modelVersion: site.modelVersion,
    isAppFile,
  };
  expect(traffic.requests.length).toBeGreaterThan(5);
  expect(traffic.requests.some((r) => r.url.endsWith('/v1/manifest'))).toBe(true);
  // Fetched inside the SDK's worker: the capture hears workers.
  expect(traffic.requests.some((r) => /\/v1\/blobs\//.test(r.url))).toBe(true);
  expect(privacyViolations(traffic.requests, rule)).toEqual([]);
  expect(traffic.websocketFrames).toEqual([]);

  // The server's own record of this visitor's requests passes the same rule, and holds
  // nothing the browser capture missed (besides the favicon the browser fetches by itself).
  const mine = (await serverLog()).filter((r) => r.headers['user-agent'] === userAgent);
  expect(mine.length).toBeGreaterThan(5);
  const asSent: SentRequest[] = mine.map((r) => ({
    method: r.method,
    url: `${site.url}${r.url}`,
    headers: r.headers,
    body: r.body ? Buffer.from(r.body, 'base64') : null,
    from: 'server-log',
  }));
  expect(privacyViolations(asSent, rule)).toEqual([]);
  const seen = new Set(traffic.requests.map((r) => `${r.method} ${new URL(r.url).pathname}`));
  const missed = asSent
    .map((r) => `${r.method} ${new URL(r.url).pathname}`)
    .filter((k) => !seen.has(k) && !k.endsWith('/favicon.ico'));
  expect(missed).toEqual([]);
  expect(problems).toEqual([]);
  await context.close();
});

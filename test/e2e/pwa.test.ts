/**
 * The demo as a PWA in real Chromium, against the built site and the real server: installable
 * (a valid web app manifest with icons that decode, an activated service worker, no
 * installability errors), an offline reload that still recommends, tracks and explains, the
 * "Your data" view with export and forget, and the update banner for a new model version and a
 * new app version. Screenshots go to test-results/screenshots/.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { readSigningKey } from '../../src/server/keys.ts';
import { publishExport } from '../../src/server/publish.ts';
import { openPublicationStore } from '../../src/server/store/registry.ts';
import { chromium } from 'playwright';
import { chromiumArgs, chromiumPath } from '../chromium.ts';
import { launchChromium, pageProblems, type Browser, type Page } from './browser.ts';

const site = inject('e2eSite');
const SHOTS = 'test-results/screenshots';
const LONG = { timeout: 120_000 };
/** For what follows a click: IndexedDB writes and list refreshes in a worker still loading. */
const SOON = { timeout: 30_000 };
let browser: Browser;

beforeAll(async () => {
  browser = await launchChromium();
  mkdirSync(SHOTS, { recursive: true });
});
afterAll(async () => {
  await browser?.close();
});

/** Opens the demo, says yes to personalization and waits until the widget has a list. */
async function openDemo(page: Page, path = '/'): Promise<void> {
  await page.goto(`${site.url}${path}`);
  await page.locator('#consent-accept').click(LONG);
  await page.locator('#recs-widget .lr-card').first().waitFor(LONG);
}

/** Picks the catalog's item with this exact title (through the search box). */
async function pickByTitle(page: Page, title: string): Promise<void> {
  await page.locator('#search').fill(title);
  await page
    .locator('#catalog-grid .card', { has: page.locator('.card-title', { hasText: title }) })
    .first()
    .click();
  await page.locator('#search').fill('');
}

const widgetTitles = (page: Page) => page.locator('#recs-widget .lr-item-title').allTextContents();
const pickTitles = (page: Page) => page.locator('#history .hist-title').allTextContents();

/** Waits for the page's own "works offline" signal (service worker, runtime caches, model cached). */
async function offlineReady(page: Page): Promise<void> {
  await page.waitForFunction(() => document.documentElement.dataset['offline'] === 'ready', null, {
    timeout: 180_000,
  });
}

/** Console errors Chromium logs by itself for requests that fail while the network is off. */
const offlineNoise = (p: string) => /net::ERR_(INTERNET_DISCONNECTED|FAILED)/.test(p);

describe('installable', () => {
  it('serves a valid web app manifest whose icons decode', async () => {
    const res = await fetch(`${site.url}/manifest.webmanifest`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/manifest\+json/);
    expect(res.headers.get('cache-control')).not.toMatch(/immutable/);
    const manifest = (await res.json()) as {
      name: string;
      short_name: string;
      start_url: string;
      display: string;
      theme_color: string;
      background_color: string;
      icons: { src: string; sizes: string; type: string; purpose?: string }[];
    };
    expect(manifest.name).toMatch(/localrec/);
    expect(manifest.short_name).toBe('localrec');
    expect(manifest.start_url).toBe('/');
    expect(manifest.display).toBe('standalone');
    expect(manifest.theme_color).toMatch(/^#[0-9a-f]{6}$/);
    expect(manifest.background_color).toMatch(/^#[0-9a-f]{6}$/);
    const sizes = manifest.icons.map((i) => `${i.sizes} ${i.type} ${i.purpose ?? 'any'}`);
    expect(sizes).toEqual(
      expect.arrayContaining([
        '192x192 image/png any',
        '512x512 image/png any',
        '512x512 image/png maskable',
      ]),
    );
    for (const name of ['sw.js', 'index.html']) {
      const r = await fetch(`${site.url}/${name}`);
      expect(r.status).toBe(200);
      expect(r.headers.get('cache-control'), name).toBe('no-cache');
    }

    // The icons decode to the sizes the manifest claims (Chromium's own image decoder).
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${site.url}/favicon.svg`);
    const decoded = await page.evaluate(async (icons) => {
      const out: string[] = [];
      for (const icon of icons) {
        const bitmap = await createImageBitmap(await (await fetch(icon.src)).blob());
        out.push(`${icon.sizes} ${bitmap.width}x${bitmap.height}`);
      }
      return out;
    }, manifest.icons);
    expect(decoded).toEqual(manifest.icons.map((i) => `${i.sizes} ${i.sizes}`));
    await context.close();
  });

  it('registers and activates the service worker, with no installability errors', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const problems = pageProblems(page);
    await page.goto(site.url);
    expect(await page.locator('link[rel="manifest"]').getAttribute('href')).toBe(
      '/manifest.webmanifest',
    );
    const sw = await page.evaluate(async () => {
      const reg = await navigator.serviceWorker.ready;
      if (!navigator.serviceWorker.controller)
        await new Promise((r) => navigator.serviceWorker.addEventListener('controllerchange', r));
      const active = reg.active;
      if (active && active.state !== 'activated')
        await new Promise((r) => active.addEventListener('statechange', r));
      return {
        state: reg.active?.state,
        script: reg.active?.scriptURL,
        scope: reg.scope,
        controlled: navigator.serviceWorker.controller !== null,
      };
    });
    expect(sw).toEqual({
      state: 'activated',
      script: `${site.url}/sw.js`,
      scope: `${site.url}/`,
      controlled: true,
    });
    await page.locator('#recs-widget .lr-card').first().waitFor(LONG);
    expect(problems).toEqual([]);
    await context.close();

    // Chromium's own installability check, in a profile on disk: an incognito-like context (what
    // newContext() gives) is never installable.
    const profile = join(site.scratchDir, `profile-${Date.now()}`);
    mkdirSync(profile, { recursive: true });
    const persistent = await chromium.launchPersistentContext(profile, {
      executablePath: chromiumPath,
      args: chromiumArgs,
      headless: true,
    });
    try {
      const p = await persistent.newPage();
      await p.goto(site.url);
      await p.evaluate(async () => {
        await navigator.serviceWorker.ready;
        if (!navigator.serviceWorker.controller)
          await new Promise((r) => navigator.serviceWorker.addEventListener('controllerchange', r));
      });
      const cdp = await persistent.newCDPSession(p);
      const { installabilityErrors } = (await cdp.send('Page.getInstallabilityErrors')) as {
        installabilityErrors: { errorId: string }[];
      };
      expect(installabilityErrors.map((e) => e.errorId)).toEqual([]);
      const { errors } = (await cdp.send('Page.getAppManifest')) as { errors: unknown[] };
      expect(errors).toEqual([]);
    } finally {
      await persistent.close();
    }
  });
});

describe('offline', () => {
  it('reloads without a network and still recommends, tracks, explains and shows your data', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    const page = await context.newPage();
    const problems = pageProblems(page);
    await openDemo(page);
    const catalog = page.locator('#catalog-grid .card-title');
    const picked = [
      await catalog.nth(0).textContent(),
      await catalog.nth(4).textContent(),
      await catalog.nth(7).textContent(),
    ].map(String);
    for (const title of picked) {
      await pickByTitle(page, title);
      await expect.poll(() => pickTitles(page), SOON).toContain(title);
    }
    await offlineReady(page);
    await page.locator('#recs-widget .lr-card').first().waitFor();
    await page.evaluate(() => {
      (document.activeElement as HTMLElement | null)?.blur();
      window.scrollTo(0, 0);
    });
    await page.screenshot({ path: join(SHOTS, 'demo.png') });

    await context.setOffline(true);
    await page.reload();
    await expect
      .poll(() => page.locator('#status-text').textContent(), LONG)
      .toMatch(/^ready offline/);
    // The picks survived (IndexedDB) and the widget recommends from the cached model.
    expect(new Set(await pickTitles(page))).toEqual(new Set(picked));
    await page.locator('#recs-widget .lr-card').first().waitFor(LONG);
    const before = await widgetTitles(page);
    expect(before.length).toBeGreaterThan(0);
    for (const title of picked) expect(before).not.toContain(title);
    // Explanations are computed on the device: the widget replaces its generic reason lines
    // with explain()'s sentences.
    await expect
      .poll(() => page.locator('#recs-widget .lr-reason').allTextContents(), SOON)
      .toContainEqual(expect.stringMatching(/^(Because|In line with|Popular with)/));

    // A new pick, offline: stored, and the list moves on without it.
    const next = before[0]!;
    await pickByTitle(page, next);
    await expect.poll(() => pickTitles(page), SOON).toContain(next);
    await expect.poll(() => widgetTitles(page), SOON).not.toContain(next);
    expect(await widgetTitles(page)).not.toEqual(before);

    // "Your data" works offline too (same page, a hash route).
    await page.locator('.nav a[data-view="your-data"]').click();
    await expect
      .poll(() => page.locator('#data-events-count').textContent(), SOON)
      .toMatch(/like 4/);
    expect(await page.locator('#data-model').textContent()).toMatch(/saved on this device/);
    await page.screenshot({ path: join(SHOTS, 'your-data.png'), fullPage: true });
    await context.setOffline(false);
    expect(problems.filter((p) => !offlineNoise(p))).toEqual([]);
    await context.close();
  });
});

describe('your data', () => {
  it('exports the stored events as JSON and forgets them after a confirmation', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const problems = pageProblems(page);
    await openDemo(page);
    const title = String(await page.locator('#catalog-grid .card-title').nth(2).textContent());
    await pickByTitle(page, title);
    await expect.poll(() => pickTitles(page), SOON).toEqual([title]);

    await page.locator('.nav a[data-view="your-data"]').click();
    await expect
      .poll(() => page.locator('#data-consent').textContent(), SOON)
      .toMatch(/personalization on, federated learning off/);
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.locator('#data-export').click(),
    ]);
    expect(download.suggestedFilename()).toMatch(/^localrec-my-data-\d{4}-\d{2}-\d{2}\.json$/);
    const snapshot = JSON.parse(readFileSync(await download.path(), 'utf8')) as {
      events: { type: string; itemId: string }[];
      consent: { personalization: boolean; federated: boolean };
    };
    const item = site.items.find((i) => i.title === title);
    expect(snapshot.events).toContainEqual(
      expect.objectContaining({ type: 'like', itemId: item?.id }),
    );
    expect(snapshot.consent).toMatchObject({ personalization: true, federated: false });

    // Forget asks first: Cancel keeps everything.
    await page.locator('#data-forget').click();
    await page.locator('#forget-dialog button[value="cancel"]').click();
    await expect
      .poll(() => page.locator('#data-events-count').textContent(), SOON)
      .not.toMatch(/^0/);
    await page.locator('#data-forget').click();
    await page.locator('#forget-confirm').click();
    await expect.poll(() => page.locator('#data-events-count').textContent(), SOON).toBe('0');
    await expect
      .poll(() => page.locator('#data-consent').textContent(), SOON)
      .toMatch(/personalization off, federated learning off/);
    await page.locator('.nav a[data-view="browse"]').click();
    expect(await pickTitles(page)).toEqual([]);
    expect(await page.locator('#consent-callout').isVisible()).toBe(true);
    expect(problems).toEqual([]);
    await context.close();
  });
});

describe('updates', () => {
  it('shows a banner when a new model version is published, and when a new app version waits', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const problems = pageProblems(page);
    await openDemo(page);
    await offlineReady(page);
    const { version: firstVersion } = (await (await fetch(`${site.url}/v1/manifest`)).json()) as {
      version: number;
    };

    // A new model version: published into the served store while the page is open.
    const published = await publishExport(
      site.exportDir,
      openPublicationStore(`file:${site.storeDir}`),
      await readSigningKey(site.keyFile),
    );
    expect(published.version).toBeGreaterThan(firstVersion);
    await page.locator('.nav a[data-view="your-data"]').click();
    await page.locator('#model-check').click();
    await expect.poll(() => page.locator('#update-banner').isVisible(), LONG).toBe(true);
    expect(await page.locator('#update-text').textContent()).toMatch(/new model/);
    await expect
      .poll(() => page.locator('#data-model').textContent(), SOON)
      .toMatch(new RegExp(`publication ${published.version}\\b`));
    await page.locator('#update-apply').click();
    expect(await page.locator('#update-banner').isVisible()).toBe(false);

    // A new app version: a changed sw.js (and its precompressed copies) is found by an update
    // check, installs and waits; the banner's Reload activates it and reloads the page.
    const sw = join(site.distDir, 'sw.js');
    const changed = `${readFileSync(sw, 'utf8')}\n// e2e: a new app version ${Date.now()}\n`;
    writeFileSync(sw, changed);
    writeFileSync(`${sw}.gz`, gzipSync(changed));
    writeFileSync(`${sw}.br`, brotliCompressSync(changed));
    await page.evaluate(async () => (await navigator.serviceWorker.getRegistration())?.update());
    await expect
      .poll(() => page.locator('#update-text').textContent(), LONG)
      .toMatch(/new version of this app/);
    await page.evaluate(() => ((window as { beforeUpdate?: boolean }).beforeUpdate = true));
    await page.locator('#update-apply').click();
    await expect
      .poll(() => page.evaluate(() => (window as { beforeUpdate?: boolean }).beforeUpdate), LONG)
      .toBeUndefined();
    // Reloaded on the same view ("Your data"), with the model from the cache.
    await page
      .locator('#recs-widget .lr-card')
      .first()
      .waitFor({ state: 'attached', ...LONG });
    const waiting = await page.evaluate(
      async () => (await navigator.serviceWorker.getRegistration())?.waiting ?? null,
    );
    expect(waiting).toBeNull();
    expect(problems).toEqual([]);
    await context.close();
  });
});

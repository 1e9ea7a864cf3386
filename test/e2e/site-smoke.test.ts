/** The built site, served with the API by the real server, gives recommendations in Chromium. */
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { launchChromium, pageProblems, type Browser } from './browser.ts';

const site = inject('e2eSite');
let browser: Browser;

beforeAll(async () => {
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
});

it('serves the site and its config, and the page recommends after consent and a pick', async () => {
  const config = await (await fetch(`${site.url}/localrec-config.json`)).json();
  expect(config.publicKey).toBe(site.publicKey);
  const context = await browser.newContext();
  const page = await context.newPage();
  const problems = pageProblems(page);
  await page.goto(site.url);
  // Nothing is remembered until the visitor says so, and the page asks visibly.
  await page.locator('#consent-accept').click({ timeout: 120_000 });
  expect(await page.locator('#personalize').isChecked()).toBe(true);
  const first = page.locator('#catalog-grid .card').first();
  const title = await first.locator('.card-title').textContent();
  await first.click({ timeout: 120_000 });
  await expect
    .poll(() => page.locator('#history .hist-title').allTextContents(), { timeout: 30_000 })
    .toEqual([title]);
  await page.locator('#recs-widget .lr-card').first().waitFor({ timeout: 120_000 });
  // The pick shows at once; the list is refreshed once the pick is stored: the picked item leaves it.
  await expect
    .poll(() => page.locator('#recs-widget .lr-item-title').allTextContents(), { timeout: 30_000 })
    .not.toContain(title);
  expect(await page.locator('#recs-widget .lr-item-title').count()).toBeGreaterThan(0);
  await expect
    .poll(() => page.locator('#stat-recommend').textContent(), { timeout: 30_000 })
    .toMatch(/ms$/);
  expect(problems).toEqual([]);
  await context.close();
});

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

it('serves the site and its config, and the page recommends after a pick', async () => {
  const config = await (await fetch(`${site.url}/localrec-config.json`)).json();
  expect(config.publicKey).toBe(site.publicKey);
  const context = await browser.newContext();
  const page = await context.newPage();
  const problems = pageProblems(page);
  await page.goto(site.url);
  await page.locator('#catalog-grid button').first().click({ timeout: 120_000 });
  await page.locator('#recs li').first().waitFor({ timeout: 120_000 });
  expect(await page.locator('#recs li').count()).toBeGreaterThan(0);
  expect(problems).toEqual([]);
  await context.close();
});

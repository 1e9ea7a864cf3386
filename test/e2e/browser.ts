/**
 * Playwright on Debian's Chromium for the end-to-end tests, with a request log that sees the
 * page, its dedicated workers and its service worker (through the Chrome DevTools Protocol, so
 * nothing a worker sends escapes it).
 */
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright';
import { chromiumArgs, chromiumPath } from '../chromium.ts';

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: chromiumPath, args: chromiumArgs, headless: true });
}

/** Collects console errors and uncaught page errors, to assert on at the end of a test. */
export function pageProblems(page: Page): string[] {
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console.error: ${m.text()}`);
  });
  return problems;
}

export type { Browser, BrowserContext, Page };

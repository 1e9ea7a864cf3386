/**
 * The one-tag embed on someone else's site: a plain page served from a second localhost origin,
 * under a strict Content-Security-Policy, with the tag of issue #6 pointing at the localrec
 * server (`site.url`). The widget renders, `window.localrec` (and its pre-load queue) works,
 * and nothing breaks the host page — not a dead server, a wrong key or a misconfigured tag.
 */
import { mkdirSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { LocalrecGlobal } from '../../src/embed/global.ts';
import { launchChromium, pageProblems, type Browser, type Page } from './browser.ts';

/** What the host page's window holds: the embed's API, and what HOST_JS records. */
interface HostWindow {
  localrec: LocalrecGlobal;
  __lr: { ready: boolean; changes: string[]; errors: string[] };
}

const site = inject('e2eSite');
const SCREENSHOT = 'test-results/screenshots/embed-widget.png';

/** The CSP a site needs for the embed (README "Embed on your site"), plus the test's own report-uri. */
function strictCsp(server: string): string {
  return [
    "default-src 'none'",
    `script-src 'self' ${server} 'wasm-unsafe-eval'`,
    // blob: for the bootstrap worker; the server for the worker chunk it imports (a worker's
    // module graph is fetched as "worker", so worker-src, not script-src, governs it).
    `worker-src blob: ${server}`,
    `connect-src ${server}`,
    `img-src ${server} https: data:`,
    "style-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
    'report-uri /csp-report',
  ].join('; ');
}

interface TagOptions {
  server?: string;
  publicKey?: string;
  /** `data-k` (default 8). */
  k?: string;
  /** The tag twice (a double load). */
  twice?: boolean;
}

/** The page of a shop that embeds localrec. */
function hostPage(tag: TagOptions = {}): string {
  const server = tag.server ?? site.url;
  const script =
    `<script src="${site.url}/localrec.js" data-server="${server}" ` +
    `data-public-key="${tag.publicKey ?? site.publicKey}" data-target="#recs" data-k="${tag.k ?? '8'}" async></script>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>A shop</title>
<script src="/host.js"></script>
</head><body>
<h1 id="host-title">The shop's own page</h1>
<p id="host-content">Everything here belongs to the shop.</p>
<div id="recs"></div>
${script}${tag.twice ? `\n${script}` : ''}
</body></html>`;
}

/**
 * The shop's own script (CSP 'self'): a consent banner that already said yes, through the queue
 * a page may fill before localrec.js loads, and listeners the test reads back.
 */
const HOST_JS = `
window.__lr = { ready: false, changes: [], errors: [], results: [] };
window.localrec = window.localrec || [];
localrec.push(['setConsent', { personalization: true }]);
localrec.push(function (lr) {
  lr.on('ready', function () { window.__lr.ready = true; });
  lr.on('change', function (c) { window.__lr.changes.push(c.kind === 'track' ? 'track:' + c.event.type : c.kind); });
  lr.on('error', function (e) { window.__lr.errors.push(String((e && e.message) || e)); });
});
// A call nobody awaits: if the embed fails, this must not become an unhandled rejection.
localrec.push(['getConsent']);
`;

/** A page that breaks its own CSP, to show the watchers below do catch violations. */
const CONTROL_PAGE = `<!doctype html><html><head><meta charset="utf-8"></head><body>
<p>control</p><script>document.title = 'inline ran';</script></body></html>`;

interface HostSite {
  url: string;
  server: Server;
  pages: Map<string, { html: string; csp: string }>;
  cspReports: string[];
}

function body(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

/** A second origin: `http://localhost:<port>` while the localrec server is `http://127.0.0.1:<port>`. */
async function startHostSite(): Promise<HostSite> {
  const pages = new Map<string, { html: string; csp: string }>();
  const cspReports: string[] = [];
  const server = createServer(async (req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (req.method === 'POST' && path === '/csp-report') {
      cspReports.push(await body(req));
      res.writeHead(204).end();
      return;
    }
    if (path === '/host.js') {
      res.writeHead(200, { 'Content-Type': 'text/javascript' }).end(HOST_JS);
      return;
    }
    const page = pages.get(path);
    if (!page) {
      res.writeHead(404).end();
      return;
    }
    res
      .writeHead(200, {
        'Content-Type': 'text/html; charset=utf-8',
        'Content-Security-Policy': page.csp,
      })
      .end(page.html);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://localhost:${port}`, server, pages, cspReports };
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/**
 * What could go wrong on a page: console and page errors (page and workers), and requests the
 * CSP blocked. A blocked request fails with `csp` whether the page or a worker made it; a
 * worker's violations reach neither the document's `securitypolicyviolation` event nor, in
 * Chromium, a `report-uri`, so this is what sees them.
 */
async function watch(
  page: Page,
): Promise<{ problems: string[]; workerErrors: string[]; blocked: string[] }> {
  const problems = pageProblems(page);
  const workerErrors: string[] = [];
  const blocked: string[] = [];
  page.on('worker', (w) =>
    w.on('console', (m) => {
      if (m.type() === 'error') workerErrors.push(m.text());
    }),
  );
  page.on('requestfailed', (r) => {
    if (/csp/i.test(r.failure()?.errorText ?? '')) blocked.push(r.url());
  });
  await page.addInitScript(() => {
    const seen: string[] = [];
    (window as unknown as { __violations: string[] }).__violations = seen;
    document.addEventListener('securitypolicyviolation', (e) =>
      seen.push(`${e.violatedDirective} ${e.blockedURI}`),
    );
  });
  return { problems, workerErrors, blocked };
}

const violations = (page: Page) =>
  page.evaluate(() => (window as unknown as { __violations: string[] }).__violations);

let browser: Browser;
let host: HostSite;

beforeAll(async () => {
  mkdirSync('test-results/screenshots', { recursive: true });
  browser = await launchChromium();
  host = await startHostSite();
  const csp = strictCsp(site.url);
  host.pages.set('/shop.html', { html: hostPage(), csp });
  host.pages.set('/twice.html', { html: hostPage({ twice: true }), csp });
  host.pages.set('/control.html', { html: CONTROL_PAGE, csp });
});
afterAll(async () => {
  await browser?.close();
  await new Promise<void>((resolve) => (host ? host.server.close(() => resolve()) : resolve()));
});

describe('the tag on a second origin under a strict CSP', () => {
  it('the violation watchers catch a violation (control)', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await watch(page);
    await page.goto(`${host.url}/control.html`);
    await expect
      .poll(() => violations(page), { timeout: 10_000 })
      .toContainEqual(expect.stringMatching(/^script-src/));
    await expect.poll(() => host.cspReports.length, { timeout: 10_000 }).toBeGreaterThan(0);
    expect(await page.title()).not.toBe('inline ran');
    host.cspReports.length = 0;
    await context.close();
  });

  it('a CSP without the server in worker-src blocks the worker chunk, and the watchers see it (control)', async () => {
    const path = '/no-worker-src.html';
    host.pages.set(path, {
      html: hostPage(),
      csp: strictCsp(site.url).replace(`worker-src blob: ${site.url}`, 'worker-src blob:'),
    });
    const context = await browser.newContext();
    const page = await context.newPage();
    const { problems, blocked } = await watch(page);
    await page.goto(`${host.url}${path}`);
    await expect
      .poll(() => blocked, { timeout: 30_000 })
      .toContainEqual(expect.stringMatching(/\/assets\/recommender\.worker-.*\.js$/));
    // The embed says it could not start, once; the page is fine.
    await expect
      .poll(() => problems.filter((p) => p.includes('[localrec]')).length, { timeout: 10_000 })
      .toBe(1);
    expect(problems.filter((p) => p.startsWith('pageerror'))).toEqual([]);
    host.cspReports.length = 0;
    await context.close();
  });

  it('renders cards, replays the queue, tracks views and a click, with no errors or CSP violations', async () => {
    host.cspReports.length = 0;
    const context = await browser.newContext({ viewport: { width: 900, height: 700 } });
    const page = await context.newPage();
    const { problems, workerErrors, blocked } = await watch(page);
    // Requests of the page and of its worker (Chromium reports both to the page).
    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    await page.goto(`${host.url}/shop.html`);
    const cards = page.locator('#recs .lr-card');
    await cards.first().waitFor({ timeout: 120_000 });
    const count = await cards.count();
    expect(count).toBeGreaterThan(0);
    expect(count).toBeLessThanOrEqual(8);

    // Titles are the catalog's, rendered as text in the widget's shadow root.
    const titles = await page.locator('#recs .lr-item-title').allTextContents();
    const known = new Set(site.items.map((i) => i.title));
    for (const t of titles) expect(known.has(t)).toBe(true);
    expect(await page.evaluate(() => document.querySelector('#recs')?.shadowRoot?.mode)).toBe(
      'open',
    );

    // The queue ran: consent was given before the script loaded, 'ready' was heard.
    await expect
      .poll(() => page.evaluate(() => (window as unknown as HostWindow).__lr.ready))
      .toBe(true);
    const consent = await page.evaluate(() =>
      (window as unknown as HostWindow).localrec.getConsent(),
    );
    expect(consent.personalization).toBe(true);

    // A click the page reports itself, through window.localrec.
    const itemId = (await cards.first().getAttribute('data-item-id')) ?? '';
    expect(itemId).not.toBe('');
    const tracked = await page.evaluate(
      (id) =>
        (window as unknown as HostWindow).localrec.track({
          type: 'click',
          itemId: id,
          context: { slot: 'widget' },
        }),
      itemId,
    );
    expect(tracked.stored).toBe(true);
    expect(tracked.event?.itemId).toBe(itemId);
    // The widget tracked views by itself (cards visible for the dwell time).
    await expect
      .poll(() => page.evaluate(() => (window as unknown as HostWindow).__lr.changes), {
        timeout: 15_000,
      })
      .toContain('track:view');
    expect(await page.evaluate(() => (window as unknown as HostWindow).__lr.changes)).toContain(
      'track:click',
    );

    // The host page is intact and unstyled by the widget.
    expect(await page.locator('#host-title').textContent()).toBe("The shop's own page");
    expect(await page.locator('#host-content').textContent()).toBe(
      'Everything here belongs to the shop.',
    );
    expect(await page.evaluate(() => document.styleSheets.length)).toBe(0);

    // The script, the worker chunk and ONNX Runtime's .wasm all came from the localrec server
    // (resolved against the script's URL, not the page's); the shop served only its own files.
    expect(requests).toContain(`${site.url}/localrec.js`);
    expect(requests).toContainEqual(
      expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/assets\/recommender\.worker-[\w-]+\.js$/),
    );
    await expect
      .poll(() => requests.filter((u) => u.endsWith('.wasm')), { timeout: 60_000 })
      .toEqual([
        expect.stringMatching(new RegExp(`^${site.url}/assets/ort-wasm-[\\w.-]+\\.wasm$`)),
      ]);
    expect(requests.filter((u) => u.startsWith(host.url)).map((u) => new URL(u).pathname)).toEqual([
      '/shop.html',
      '/host.js',
    ]);

    await page.locator('#recs').screenshot({ path: SCREENSHOT });

    expect(await violations(page)).toEqual([]);
    expect(blocked).toEqual([]);
    expect(host.cspReports).toEqual([]);
    expect(problems).toEqual([]);
    expect(workerErrors).toEqual([]);
    expect(await page.evaluate(() => (window as unknown as HostWindow).__lr.errors)).toEqual([]);
    await context.close();
  });

  it('loading the tag twice mounts one widget and starts one worker', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const { problems, blocked } = await watch(page);
    let workers = 0;
    page.on('worker', () => workers++);
    const warnings: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'warning') warnings.push(m.text());
    });
    await page.goto(`${host.url}/twice.html`);
    await page.locator('#recs .lr-card').first().waitFor({ timeout: 120_000 });
    expect(await page.locator('#recs .lr-list').count()).toBe(1);
    expect(workers).toBe(1);
    expect(warnings.filter((w) => w.includes('already has a localrec widget'))).toHaveLength(1);
    expect(await violations(page)).toEqual([]);
    expect(blocked).toEqual([]);
    expect(problems).toEqual([]);
    await context.close();
  });
});

describe('the host page is unaffected when localrec fails', () => {
  it.each<[string, () => Promise<TagOptions>, RegExp]>([
    [
      'the server is unreachable',
      async () => ({ server: `http://127.0.0.1:${await closedPort()}` }),
      /could not load recommendations from http:\/\/127\.0\.0\.1:\d+: LocalrecError/,
    ],
    [
      'the public key is wrong',
      async () => ({ publicKey: Buffer.alloc(32, 7).toString('base64') }),
      /could not load recommendations from .*(signature|key)/i,
    ],
    [
      'the tag is misconfigured',
      async () => ({ publicKey: '', k: '0' }),
      /misconfigured, nothing is rendered: data-public-key is missing .*data-k '0'/,
    ],
  ])('when %s', async (_name, tagFor, why) => {
    const tag: TagOptions = await tagFor();
    const server = tag.server ?? site.url;
    const path = `/fail-${Math.random().toString(36).slice(2)}.html`;
    // The dead server is allowed by the CSP: the test is about failing, not about being blocked.
    const csp = strictCsp(site.url).replace(
      `connect-src ${site.url}`,
      `connect-src ${site.url} ${server}`,
    );
    host.pages.set(path, { html: hostPage(tag), csp });

    host.cspReports.length = 0;
    const context = await browser.newContext();
    const page = await context.newPage();
    const { problems, blocked } = await watch(page);
    await page.goto(`${host.url}${path}`);
    await expect
      .poll(() => page.evaluate(() => (window as unknown as HostWindow).__lr.errors.length), {
        timeout: 60_000,
      })
      .toBeGreaterThan(0);
    // Calls still answer — with a rejection for the caller who asked, nothing uncaught.
    const rejected = await page.evaluate(() =>
      (window as unknown as HostWindow).localrec.track({ type: 'view', itemId: '1' }).then(
        () => 'resolved',
        (e: Error) => `rejected: ${e.message}`,
      ),
    );
    expect(rejected).toMatch(/^rejected: /);

    expect(await page.locator('#host-title').textContent()).toBe("The shop's own page");
    expect(await page.locator('#host-content').textContent()).toBe(
      'Everything here belongs to the shop.',
    );
    expect(
      await page.evaluate(() => document.querySelector('#recs')?.shadowRoot ?? null),
    ).toBeNull();
    expect(await page.evaluate(() => document.querySelector('#recs')?.childNodes.length)).toBe(0);
    // It failed for the reason under test, not because the CSP blocked something.
    expect(await violations(page)).toEqual([]);
    expect(blocked).toEqual([]);
    expect(host.cspReports).toEqual([]);

    // One clear line from localrec; no uncaught error. (The browser's own "Failed to load
    // resource" line for the dead server is not the embed's.)
    expect(problems.filter((p) => p.startsWith('pageerror'))).toEqual([]);
    const ours = problems.filter((p) => p.includes('[localrec]'));
    expect(ours).toEqual([expect.stringMatching(why)]);
    expect(
      problems.filter((p) => !p.includes('[localrec]') && !p.includes('Failed to load resource')),
    ).toEqual([]);
    await context.close();
  });
});

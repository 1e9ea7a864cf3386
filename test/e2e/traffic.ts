/**
 * Everything a browser context sends, and the privacy rule it must pass.
 *
 * {@link recordTraffic} hears every request of every page, dedicated worker and service worker
 * of a Playwright context (method, url, all headers, body) and every WebSocket frame a page
 * sends. {@link privacyViolations} checks them against the rule of issue #6 and ARCHITECTURE.md:
 * only GETs of the app's own files, the manifest and content-addressed blobs, and — with
 * federated consent only — GETs of the open round (`/v1/rounds/current`), body-less round-ticket requests and delta posts whose bytes decode
 * as a delta (which cannot carry item ids, events or timestamps) and whose one extra header is
 * `Authorization: Ticket <t>` with a ticket the server issued to this context (the recorder keeps
 * the ticket answers, so a ticket cannot be a place for the client to put something of its own). Nothing sent may carry a title, an event type name, a profile
 * field or the visitor's item ids; an exact allowlist of request shapes makes free-form
 * places (query strings, paths) impossible, and header values are checked one by one.
 */
import type { BrowserContext, Page, Request } from 'playwright';
import { decodeDelta } from '../../src/core/delta.ts';

export interface SentRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: Buffer | null;
  /** 'page', 'worker' or 'service-worker' (as far as Playwright can tell). */
  from: string;
  /** The server's answer to a round-ticket request (what tickets it issued); null if none came. */
  responseBody?: Buffer | null;
}

export interface Traffic {
  requests: SentRequest[];
  /** Frames pages sent over WebSockets (none are expected at all). */
  websocketFrames: string[];
  /** Wait until every request's headers were read. */
  settle(): Promise<void>;
}

/** `frame()` throws for a request no frame made (a dedicated worker's). */
function origin(r: Request): string {
  try {
    r.frame();
    return 'page';
  } catch {
    return 'worker';
  }
}

/**
 * How long to wait for what Playwright learns of a request after it was sent (all its headers, a
 * ticket answer). A request cut off by the end of its worker — the trainer's worker is
 * terminated when a page call interrupts it, possibly while its script is still loading — never
 * gets a response, and Playwright's `allHeaders()` and `response()` for it never settle.
 */
const REQUEST_DETAILS_MS = 5_000;

/** `p`, or `fallback()` if it has not settled within REQUEST_DETAILS_MS. */
async function orAfterAWhile<T>(p: Promise<T>, fallback: () => T): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<T>((ok) => {
    timer = setTimeout(() => ok(fallback()), REQUEST_DETAILS_MS);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Starts recording a context's traffic (call before the first page opens). */
export function recordTraffic(context: BrowserContext): Traffic {
  const requests: SentRequest[] = [];
  const websocketFrames: string[] = [];
  const pending = new Set<Promise<void>>();
  const onRequest = (r: Request) => {
    const p = (async () => {
      let headers: Record<string, string>;
      try {
        // Cut off (no answer in a while): the headers it was sent with, as far as known.
        headers = await orAfterAWhile(r.allHeaders(), () => r.headers());
      } catch {
        headers = r.headers();
      }
      const ticketRequest =
        r.method() === 'POST' && TICKET_PATH.test(URL.parse(r.url())?.pathname ?? '');
      const responseBody = ticketRequest
        ? await orAfterAWhile(
            r
              .response()
              .then((res) => res?.body() ?? null)
              .catch(() => null),
            () => null,
          )
        : undefined;
      requests.push({
        method: r.method(),
        url: r.url(),
        headers,
        body: r.postDataBuffer(),
        from: r.serviceWorker() ? 'service-worker' : origin(r),
        ...(responseBody !== undefined && { responseBody }),
      });
    })();
    pending.add(p);
    void p.finally(() => pending.delete(p));
  };
  context.on('request', onRequest);
  const watchPage = (page: Page) =>
    page.on('websocket', (ws) => {
      websocketFrames.push(`open ${ws.url()}`);
      ws.on('framesent', (f) => websocketFrames.push(String(f.payload)));
    });
  context.pages().forEach(watchPage);
  context.on('page', watchPage);
  return {
    requests,
    websocketFrames,
    async settle() {
      while (pending.size > 0) await Promise.all([...pending]);
    },
  };
}

/** What the visitor did, to look for in what was sent. */
export interface VisitorTrace {
  /** Ids of items the visitor interacted with (numeric ids are checked as whole tokens). */
  itemIds: string[];
  /** Titles of those items. */
  titles: string[];
}

/** The only request shapes allowed besides the app's own files (no query strings anywhere). */
const BLOB_PATH = /^\/v1\/blobs\/[0-9a-f]{64}$/;
const DELTA_PATH = /^\/v1\/rounds\/[1-9][0-9]{0,9}\/updates$/;
const TICKET_PATH = /^\/v1\/rounds\/[1-9][0-9]{0,9}\/tickets$/;

/** Headers a browser sends by itself; anything else is a violation. */
const ALLOWED_HEADERS = new Set([
  'accept',
  'accept-encoding',
  'accept-language',
  'cache-control',
  'connection',
  'content-length',
  'content-type',
  'host',
  'if-modified-since',
  'if-none-match',
  'origin',
  'pragma',
  'priority',
  'range',
  'referer',
  'service-worker',
  'upgrade-insecure-requests',
  'user-agent',
]);
/** Words that would mean an event or a profile left the device. */
const FORBIDDEN_WORDS =
  /\b(?:view|click|like|dislike|dwell|purchase|cart|history|profile|events?|timestamps?|sessions?)\b/i;

/**
 * The violations in `traffic` (empty: the rule holds). `origin` is the site's origin (the
 * only host anything may go to); delta posts are allowed only when `federated` is true.
 */
export function privacyViolations(
  requests: readonly SentRequest[],
  opts: {
    origin: string;
    trace: VisitorTrace;
    federated: boolean;
    modelVersion: string;
    /** True for a path that names one of the built app's files (fixed before any visitor came). */
    isAppFile: (path: string) => boolean;
  },
): string[] {
  const out: string[] = [];
  const ids = opts.trace.itemIds.map(
    (id) =>
      new RegExp(
        `(?:^|[^0-9A-Za-z])${id.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?:$|[^0-9A-Za-z])`,
      ),
  );
  const titles = opts.trace.titles.filter((t) => t.length >= 4);
  // The tickets the server handed out in this traffic: the only ones a delta post may carry.
  const issued = new Set<string>();
  for (const r of requests) {
    try {
      const t = (JSON.parse(r.responseBody?.toString('utf8') ?? 'null') as { ticket?: unknown })
        ?.ticket;
      if (typeof t === 'string') issued.add(t);
    } catch {
      // Not a ticket answer.
    }
  }
  for (const r of requests) {
    const where = `${r.method} ${r.url} (${r.from})`;
    let url: URL;
    try {
      url = new URL(r.url);
    } catch {
      out.push(`${where}: not a URL`);
      continue;
    }
    if (url.protocol === 'data:' || url.protocol === 'blob:') continue; // never leaves the browser
    if (url.origin !== opts.origin) {
      out.push(`${where}: goes to another origin than the site's (${opts.origin})`);
      continue;
    }
    if (url.search !== '' || url.hash !== '') out.push(`${where}: carries a query string`);
    const path = url.pathname;
    if (r.method === 'GET') {
      // The open round (the trainer asks for it, with federated consent only): no body, no query.
      const round = path === '/v1/rounds/current';
      const ok =
        path === '/v1/manifest' ||
        BLOB_PATH.test(path) ||
        round ||
        (!path.startsWith('/v1/') && opts.isAppFile(path));
      if (!ok) out.push(`${where}: a GET of something other than the app, the manifest or a blob`);
      if (round && !opts.federated)
        out.push(`${where}: asks for the federated round without federated consent`);
      if (r.body && r.body.length > 0) out.push(`${where}: a GET with a body`);
    } else if (r.method === 'POST' && TICKET_PATH.test(path)) {
      if (!opts.federated) out.push(`${where}: a ticket request without federated consent`);
      if (r.body && r.body.length > 0) out.push(`${where}: a ticket request with a body`);
    } else if (r.method === 'POST' && DELTA_PATH.test(path)) {
      if (!opts.federated) out.push(`${where}: a delta post without federated consent`);
      try {
        const d = decodeDelta(new Uint8Array(r.body ?? Buffer.alloc(0)));
        if (d.baseVersion !== opts.modelVersion)
          out.push(`${where}: a delta whose base version is not the model's`);
      } catch (e) {
        out.push(`${where}: a post that is not a valid delta (${String(e)})`);
      }
    } else {
      out.push(`${where}: a ${r.method} request; only GETs and delta posts may be sent`);
    }
    for (const [name, value] of Object.entries(r.headers)) {
      const n = name.toLowerCase();
      if (n.startsWith('sec-')) continue; // set by the browser, not scriptable
      if (n === 'authorization') {
        const t = /^Ticket ([A-Za-z0-9_-]{43})$/.exec(value)?.[1];
        if (!(r.method === 'POST' && DELTA_PATH.test(path)))
          out.push(`${where}: an authorization header on something other than a delta post`);
        else if (t === undefined || !issued.has(t))
          out.push(`${where}: an authorization header that is not a ticket the server issued here`);
        continue;
      }
      if (!ALLOWED_HEADERS.has(n)) {
        out.push(`${where}: header ${name} is not one a browser sends by itself`);
        continue;
      }
      if (n === 'referer' && value !== '') {
        const ref = URL.parse(value);
        if (!ref) out.push(`${where}: the referer is not a URL (${value})`);
        else if (ref.search !== '' || ref.hash !== '')
          out.push(`${where}: the referer carries a query string or fragment (${value})`);
      }
      if (n === 'content-length' || n === 'range' || n === 'if-none-match') continue;
      if (n !== 'user-agent' && FORBIDDEN_WORDS.test(value))
        out.push(`${where}: header ${name} mentions behaviour (${value})`);
      for (const re of ids)
        if (n === 'referer' && re.test(URL.parse(value)?.pathname ?? value))
          out.push(`${where}: the referer's path carries a history item id (${value})`);
    }
    // (A ticket was checked above to be the server's own: random, it may hold any letters.)
    const headerText = Object.entries(r.headers)
      .filter(([k]) => k.toLowerCase() !== 'authorization')
      .map(([, v]) => v)
      .join('\n');
    const text = `${decodeURIComponent(r.url)}\n${headerText}\n${
      r.body && !DELTA_PATH.test(path) ? r.body.toString('latin1') : ''
    }`;
    for (const t of titles) if (text.includes(t)) out.push(`${where}: carries the title "${t}"`);
  }
  return out;
}

/**
 * The federated outbox's sender: posts queued deltas (src/core/delta.ts, already clipped and
 * noised by whoever made them) to `POST {server}/v1/rounds/{id}/updates`, and only while the
 * visitor's consent allows it.
 *
 * - Each post carries a round ticket (`Authorization: Ticket …`): one report in that round,
 *   fetched from `POST {server}/v1/rounds/{id}/tickets` just before the update's first post and
 *   kept with the queued update, so that a retry (after a network error or a reload) presents
 *   the same ticket and the server can tell it from a second report. A ticket the server no
 *   longer knows (401: expired, or never committed) is forgotten and another one fetched.
 *
 * - Deltas wait in IndexedDB (memory `outbox`), so they survive reloads and offline periods; a
 *   flush runs at start, after a new delta is queued, when the browser comes back online
 *   (`online` event, in a page or a worker) and on a backoff timer after a failure.
 * - Consent is checked before every post. Without it (withdrawn, or Global Privacy Control on)
 *   nothing is posted and queued deltas are deleted: consent given later never sends deltas
 *   computed while it was off.
 * - What a post carries is the delta bytes and nothing else: no credentials, no referrer, no
 *   cookies; the round id in the URL is public.
 * - Outcomes: 2xx (accepted, or a replay of an update the server already counted) removes the
 *   delta; an answer that can never change (400/404/409/413/415: malformed, no such round,
 *   round closed, too large) drops it with a warning; 429 and 5xx and network failures keep
 *   it and retry with exponential backoff (honouring `Retry-After`), until
 *   {@link MAX_ATTEMPTS} or {@link MAX_AGE_MS}, after which it is dropped with a warning.
 */
import { DELTA_MEDIA_TYPE } from '../../core/delta.ts';
import type { MemoryOutbox } from '../memory/memory-api.ts';
import type { OutboxRecord } from '../memory/records.ts';
import type { RecommenderWarning } from '../api.ts';

/** Post attempts before a delta is given up. */
export const MAX_ATTEMPTS = 8;
/** A delta older than this is given up (its round has long closed). */
export const MAX_AGE_MS = 7 * 24 * 3_600_000;
/** First retry delay after a failed flush; doubles per consecutive failure up to {@link MAX_BACKOFF_MS}. */
export const FIRST_BACKOFF_MS = 30_000;
export const MAX_BACKOFF_MS = 30 * 60_000;

/** What a flush did. */
export interface OutboxFlushResult {
  /** Deltas the server took (or had already counted). */
  posted: number;
  /** Deltas given up: refused for good, too old, too many attempts, or consent withdrawn. */
  dropped: number;
  /** Deltas still waiting. */
  pending: number;
  /** Why a flush stopped early: `'offline'`, `'consent'`, `'retry'` (server busy or unreachable), or null. */
  stopped: 'offline' | 'consent' | 'retry' | null;
}

export interface OutboxSenderOptions {
  /** Base URL of the server (no trailing slash). */
  server: string;
  fetch: typeof fetch;
  /** The outbox, or undefined while there is no memory (no IndexedDB, or after forget()). */
  outbox: () => MemoryOutbox | undefined;
  /** True while the visitor's consent (and Global Privacy Control) allows posting deltas. */
  allowed: () => boolean;
  now: () => number;
  onWarning: (w: RecommenderWarning) => void;
  /** Hears the result of every flush that posted or dropped something. */
  onFlushed?: (r: OutboxFlushResult) => void;
  /** Where `online` events come from (default: `globalThis`; null: none). */
  events?: Pick<EventTarget, 'addEventListener' | 'removeEventListener'> | null;
  /** Whether the browser says it is online (default: `navigator.onLine`, true when unknown). */
  online?: () => boolean;
}

type Outcome = 'posted' | 'drop' | 'retry';

/** Status codes that will not change however often the same delta is posted. */
const FINAL_REFUSALS = new Set([400, 403, 404, 409, 410, 413, 415, 422]);

/** A round ticket as the server issues it (32 random bytes, base64url). */
const TICKET = /^[A-Za-z0-9_-]{43}$/;

/** What a request to the server came to. */
interface Answer {
  outcome: Outcome;
  why: string;
  retryAfterMs?: number;
}

function defaultOnline(): boolean {
  const nav = (globalThis as { navigator?: { onLine?: boolean } }).navigator;
  return nav?.onLine !== false;
}

export class OutboxSender {
  private running: Promise<OutboxFlushResult> | undefined;
  private again = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private failures = 0;
  private closed = false;
  private readonly onOnline = () => this.schedule(0);
  private readonly events: OutboxSenderOptions['events'];

  constructor(private readonly o: OutboxSenderOptions) {
    this.events = o.events === undefined ? (globalThis as unknown as EventTarget) : o.events;
    this.events?.addEventListener?.('online', this.onOnline);
  }

  /**
   * Posts what can be posted now. Concurrent calls share one run (a call during a run makes it
   * go round once more, so a delta queued meanwhile is not left behind).
   */
  flush(): Promise<OutboxFlushResult> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    const run = (async () => {
      let total: OutboxFlushResult = { posted: 0, dropped: 0, pending: 0, stopped: null };
      try {
        do {
          this.again = false;
          const r = await this.flushOnce();
          total = { ...r, posted: total.posted + r.posted, dropped: total.dropped + r.dropped };
        } while (this.again && !this.closed && total.stopped === null);
      } finally {
        this.running = undefined;
      }
      if (total.posted > 0 || total.dropped > 0) this.o.onFlushed?.(total);
      return total;
    })();
    this.running = run;
    return run;
  }

  /** Runs a flush after `ms` (replacing a later scheduled one); failures go to onWarning. */
  schedule(ms: number): void {
    if (this.closed) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush().catch((e: unknown) =>
        this.o.onWarning({
          code: 'outbox',
          message: `sending queued federated updates failed: ${e instanceof Error ? e.message : String(e)}`,
        }),
      );
    }, ms);
  }

  /** Deletes every queued delta (consent withdrawn); returns how many there were. */
  async clear(): Promise<number> {
    const outbox = this.o.outbox();
    if (!outbox) return 0;
    const all = await outbox.list();
    for (const r of all) await outbox.remove(r.id);
    return all.length;
  }

  /** Queued deltas. */
  async pending(): Promise<number> {
    return (await this.o.outbox()?.list())?.length ?? 0;
  }

  close(): void {
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.events?.removeEventListener?.('online', this.onOnline);
  }

  private async flushOnce(): Promise<OutboxFlushResult> {
    const outbox = this.o.outbox();
    const result: OutboxFlushResult = { posted: 0, dropped: 0, pending: 0, stopped: null };
    if (!outbox) return result;
    let queue = await outbox.list();
    if (queue.length === 0) return result;
    if (!this.o.allowed()) {
      // Consent is gone: what was computed under it is not sent later.
      result.dropped = await this.clear();
      result.stopped = 'consent';
      return result;
    }
    const drop = async (r: OutboxRecord, why: string) => {
      await outbox.remove(r.id);
      result.dropped++;
      this.o.onWarning({ code: 'outbox', message: `federated update ${r.id} dropped: ${why}` });
    };
    const now = this.o.now();
    const fresh: OutboxRecord[] = [];
    for (const r of queue) {
      if (now - r.createdAt > MAX_AGE_MS) await drop(r, 'older than 7 days');
      else fresh.push(r);
    }
    queue = fresh;
    for (let i = 0; i < queue.length; i++) {
      if (this.closed) break;
      if (!(this.o.online ?? defaultOnline)()) {
        // No point trying: the `online` event starts the next flush.
        result.stopped = 'offline';
        result.pending = queue.length - i;
        return result;
      }
      if (!this.o.allowed()) {
        result.dropped += await this.clear();
        result.stopped = 'consent';
        return result;
      }
      const r = queue[i]!;
      const { outcome, why, retryAfterMs } = await this.send(outbox, r);
      if (outcome === 'posted') {
        await outbox.remove(r.id);
        result.posted++;
        continue;
      }
      if (outcome === 'drop') {
        await drop(r, why);
        continue;
      }
      const counted = await outbox.markAttempt(r.id, this.o.now());
      if (counted && counted.attempts >= MAX_ATTEMPTS) {
        await drop(r, `${why}; gave up after ${counted.attempts} attempts`);
        continue;
      }
      // The server is busy or unreachable: the rest waits for the backoff timer.
      this.failures++;
      const backoff = Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** (this.failures - 1));
      this.schedule(Math.max(backoff, retryAfterMs ?? 0));
      result.stopped = 'retry';
      result.pending = queue.length - i;
      return result;
    }
    this.failures = 0;
    result.pending = (await outbox.list()).length;
    return result;
  }

  /**
   * Posts one queued update with its ticket, fetching one first if it has none; a ticket the
   * server refuses as unknown or expired is replaced once.
   */
  private async send(outbox: MemoryOutbox, r: OutboxRecord): Promise<Answer> {
    let ticket = r.ticket ?? null;
    for (let round = 0; ; round++) {
      const fresh = ticket === null;
      if (ticket === null) {
        const t = await this.fetchTicket(r);
        if (typeof t !== 'string') return t;
        ticket = t;
        await outbox.setTicket(r.id, ticket);
      }
      const { answer, staleTicket } = await this.post(r, ticket);
      if (!staleTicket) return answer;
      await outbox.setTicket(r.id, null);
      // A ticket fetched a moment ago and already refused: the server is confused; later.
      if (fresh || round > 0) return { ...answer, outcome: 'retry' };
      ticket = null;
    }
  }

  /** A new round ticket for `r`'s round, or why there is none. */
  private async fetchTicket(r: OutboxRecord): Promise<string | Answer> {
    let res: Response;
    try {
      res = await this.o.fetch(
        `${this.o.server}/v1/rounds/${encodeURIComponent(r.roundId)}/tickets`,
        {
          method: 'POST',
          credentials: 'omit',
          referrerPolicy: 'no-referrer',
          cache: 'no-store',
        },
      );
    } catch (e) {
      return { outcome: 'retry', why: `network error asking for a round ticket (${message(e)})` };
    }
    if (res.ok) {
      const ticket = await res
        .json()
        .then((b: { ticket?: unknown }) => b.ticket)
        .catch(() => undefined);
      if (typeof ticket === 'string' && TICKET.test(ticket)) return ticket;
      return { outcome: 'retry', why: 'the server answered a ticket request without a ticket' };
    }
    return this.refusal(res, 'its round ticket');
  }

  private async post(
    r: OutboxRecord,
    ticket: string,
  ): Promise<{ answer: Answer; staleTicket: boolean }> {
    let res: Response;
    try {
      res = await this.o.fetch(
        `${this.o.server}/v1/rounds/${encodeURIComponent(r.roundId)}/updates`,
        {
          method: 'POST',
          headers: { 'Content-Type': DELTA_MEDIA_TYPE, Authorization: `Ticket ${ticket}` },
          body: r.bytes as Uint8Array<ArrayBuffer>,
          credentials: 'omit',
          referrerPolicy: 'no-referrer',
          cache: 'no-store',
        },
      );
    } catch (e) {
      return {
        answer: { outcome: 'retry', why: `network error (${message(e)})` },
        staleTicket: false,
      };
    }
    if (res.ok) {
      await res.body?.cancel().catch(() => undefined);
      return { answer: { outcome: 'posted', why: '' }, staleTicket: false };
    }
    return { answer: await this.refusal(res, 'it'), staleTicket: res.status === 401 };
  }

  /** What a non-2xx answer means for the update: dropped for good, or retried later. */
  private async refusal(res: Response, what: string): Promise<Answer> {
    let detail = '';
    try {
      // The server's error body: { error: { code, message } } (src/server/errors.ts).
      const body = (await res.json()) as { error?: { message?: string }; message?: string };
      const m = body.error?.message ?? body.message;
      if (typeof m === 'string') detail = `: ${m}`;
    } catch {
      // Not JSON: the status says enough.
    }
    if (FINAL_REFUSALS.has(res.status))
      return { outcome: 'drop', why: `the server refused ${what} (HTTP ${res.status}${detail})` };
    const retryAfter = Number(res.headers.get('Retry-After'));
    return {
      outcome: 'retry',
      why: `HTTP ${res.status}${detail}`,
      retryAfterMs: Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : undefined,
    };
  }
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

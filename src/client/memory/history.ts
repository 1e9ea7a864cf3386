/**
 * Sessions and the model's view of history, as pure functions over events (tested in Node).
 *
 * A session is a run of activity without a pause longer than the gap (30 minutes by default,
 * the usual web-analytics rule); the funnel weighs the current session as short-term interest.
 * The history the sequence model reads is the item ids, oldest first, with dislikes left out
 * and repeats in a row collapsed — a page that logs a view and then a click of the same item
 * is one step of interest, not two.
 */
import { LocalrecError } from '../../core/errors.ts';
import type { StoredEvent } from './events.ts';

/** Default inactivity after which the next event starts a new session. */
export const DEFAULT_SESSION_GAP_MS = 30 * 60_000;

/** One visit. */
export interface Session {
  id: string;
  /** Timestamp (ms) of its first event. */
  startedAt: number;
  /** Timestamp (ms) of its latest event. */
  lastEventAt: number;
  /** Events tracked in it (including any since compacted into the profile). */
  events: number;
}

/**
 * The session an event at `timestamp` belongs to: the latest session, extended, when the event
 * is at most `gapMs` after its last event; otherwise a new one. An event older than the latest
 * session's last (a late-reported view) joins that session and does not move its clock back.
 */
export function nextSession(
  latest: Session | undefined,
  timestamp: number,
  gapMs: number,
  newId: () => string,
): Session {
  if (latest && timestamp - latest.lastEventAt <= gapMs) {
    return {
      ...latest,
      lastEventAt: Math.max(latest.lastEventAt, timestamp),
      events: latest.events + 1,
    };
  }
  return { id: newId(), startedAt: timestamp, lastEventAt: timestamp, events: 1 };
}

/** Checks a `limit`-like argument: an integer ≥ 0 (or Infinity). */
export function checkLimit(name: string, n: unknown): number {
  if (typeof n !== 'number' || !(Number.isSafeInteger(n) || n === Infinity) || n < 0)
    throw new LocalrecError('bad-input', `${name} must be an integer ≥ 0, got ${String(n)}`);
  return n;
}

/**
 * Builds the model history from events fed newest first (as a backwards cursor reads them),
 * so a caller can stop reading as soon as {@link add} says the history is full.
 */
export class HistoryCollector {
  private readonly newestFirst: string[] = [];
  constructor(private readonly limit: number) {}

  /** Feeds the next older event; returns false once `limit` items are collected. */
  add(event: Pick<StoredEvent, 'type' | 'itemId'>): boolean {
    if (this.newestFirst.length >= this.limit) return false;
    if (event.type === 'dislike') return true;
    if (this.newestFirst[this.newestFirst.length - 1] !== event.itemId)
      this.newestFirst.push(event.itemId);
    return true;
  }

  /** Item ids, oldest → newest. */
  result(): string[] {
    return [...this.newestFirst].reverse();
  }
}

/** {@link HistoryCollector} over events given oldest first: the last `limit` history items. */
export function collapseHistory(
  oldestFirst: readonly Pick<StoredEvent, 'type' | 'itemId'>[],
  limit = Infinity,
): string[] {
  const c = new HistoryCollector(checkLimit('limit', limit));
  for (let i = oldestFirst.length - 1; i >= 0; i--) if (!c.add(oldestFirst[i]!)) break;
  return c.result();
}

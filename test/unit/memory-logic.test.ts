/**
 * The memory's pure logic in Node: event validation, history collapsing, session splitting,
 * compaction math, profile salvage and snapshot checks. The IndexedDB side is in
 * test/browser/memory.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { isLocalrecError } from '../../src/core/errors.ts';
import {
  readEventRecord,
  validateTrackEvent,
  type StoredEvent,
} from '../../src/client/memory/events.ts';
import { collapseHistory, nextSession, type Session } from '../../src/client/memory/history.ts';
import {
  categoryAffinity,
  emptyProfile,
  foldEvents,
  overflowCompaction,
  profileProblem,
  profileToJson,
  quotaCompaction,
  readProfile,
} from '../../src/client/memory/profile.ts';
import { jsonProblem } from '../../src/client/memory/records.ts';
import { parseSnapshot, type MemorySnapshot } from '../../src/client/memory/snapshot.ts';

function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    return isLocalrecError(e) ? `${e.code}: ${e.message}` : `not a LocalrecError: ${String(e)}`;
  }
  return 'no error';
}

const ev = (itemId: string, type: StoredEvent['type'] = 'view', timestamp = 0): StoredEvent => ({
  itemId,
  type,
  timestamp,
  sessionId: 's',
  ...(type === 'rating' ? { value: 4 } : {}),
});

describe('validateTrackEvent', () => {
  it('keeps the known fields, fills the timestamp, drops strangers', () => {
    const e = validateTrackEvent(
      {
        type: 'view',
        itemId: 'a',
        dwellMs: 1200,
        visibility: 0.5,
        context: { slot: 'recs' },
        x: 1,
      },
      1000,
    );
    expect(e).toEqual({
      type: 'view',
      itemId: 'a',
      timestamp: 1000,
      dwellMs: 1200,
      visibility: 0.5,
      context: { slot: 'recs' },
    });
    expect(
      validateTrackEvent({ type: 'rating', itemId: 'b', value: 4.5, timestamp: 7 }, 1),
    ).toEqual({ type: 'rating', itemId: 'b', value: 4.5, timestamp: 7 });
  });

  it.each([
    [{ type: 'hover', itemId: 'a' }, /unknown event type "hover"/],
    [{ type: 'click' }, /itemId is missing/],
    [{ type: 'click', itemId: '' }, /itemId is missing/],
    [{ type: 'view', itemId: 'a', dwellMs: NaN }, /dwellMs must be a finite/],
    [{ type: 'view', itemId: 'a', visibility: 1.5 }, /visibility must be a finite fraction/],
    [{ type: 'click', itemId: 'a', timestamp: Infinity }, /timestamp must be a finite/],
    [{ type: 'click', itemId: 'a', dwellMs: 3 }, /belong to 'view' events only/],
    [{ type: 'rating', itemId: 'a', value: 6 }, /rating value 6 is out of range \[1, 5\]/],
    [{ type: 'rating', itemId: 'a', value: 0 }, /out of range/],
    [{ type: 'rating', itemId: 'a' }, /needs a finite numeric value/],
    [{ type: 'like', itemId: 'a', value: 3 }, /value belongs to 'rating'/],
    [{ type: 'like', itemId: 'a', context: { p: NaN } }, /context\.p must be finite/],
    [{ type: 'like', itemId: 'a', context: { p: {} } }, /context\.p must be a string/],
    [null, /needs an event object/],
  ])('%j is bad-input', (input, message) => {
    const got = codeOf(() => validateTrackEvent(input, 0));
    expect(got).toMatch(/^bad-input: /);
    expect(got).toMatch(message);
  });
});

describe('readEventRecord', () => {
  it('returns a clean copy of a good record and a reason for a bad one', () => {
    const good = { ...ev('a'), seq: 3, junk: true };
    const r = readEventRecord(good);
    expect(r).toEqual({ ...ev('a'), seq: 3 });
    expect(readEventRecord({ ...ev('a'), sessionId: undefined })).toMatch(/sessionId is missing/);
    expect(readEventRecord({ ...ev('a'), type: 'bogus' })).toMatch(/unknown event type/);
    expect(readEventRecord({ ...ev('a'), timestamp: undefined })).toMatch(/timestamp is missing/);
    expect(readEventRecord('x')).toBe('not an object');
  });
});

describe('collapseHistory', () => {
  const seq = [
    ev('a'),
    ev('a', 'click'),
    ev('b'),
    ev('c', 'dislike'),
    ev('b', 'add-to-cart'),
    ev('a', 'purchase'),
  ];
  it('drops dislikes and collapses repeats in a row, oldest first', () => {
    expect(collapseHistory(seq)).toEqual(['a', 'b', 'a']);
  });
  it('keeps the latest `limit` items', () => {
    expect(collapseHistory(seq, 2)).toEqual(['b', 'a']);
    expect(collapseHistory(seq, 0)).toEqual([]);
    // A dislike between two visits of the same item leaves one step.
    expect(collapseHistory([ev('x'), ev('y', 'dislike'), ev('x')])).toEqual(['x']);
  });
  it('rejects a bad limit', () => {
    expect(codeOf(() => collapseHistory(seq, -1))).toMatch(/^bad-input: limit/);
    expect(codeOf(() => collapseHistory(seq, 1.5))).toMatch(/^bad-input/);
  });
});

describe('nextSession', () => {
  const gap = 30 * 60_000;
  let n = 0;
  const id = () => `s${++n}`;
  const s1: Session = { id: 's0', startedAt: 0, lastEventAt: 1000, events: 2 };
  it('extends the latest session within the gap (inclusive)', () => {
    expect(nextSession(s1, 1000 + gap, gap, id)).toEqual({
      ...s1,
      lastEventAt: 1000 + gap,
      events: 3,
    });
  });
  it('starts a new one after the gap, or when there is none', () => {
    expect(nextSession(s1, 1001 + gap, gap, id)).toMatchObject({
      startedAt: 1001 + gap,
      lastEventAt: 1001 + gap,
      events: 1,
    });
    expect(nextSession(undefined, 5, gap, id).events).toBe(1);
  });
  it('a late event joins the latest session without moving its clock back', () => {
    expect(nextSession(s1, 10, gap, id)).toEqual({ ...s1, events: 3 });
  });
});

describe('compaction math', () => {
  it('compacts only over the bound, down to 90 % (at least one kept)', () => {
    expect(overflowCompaction(5000, 5000)).toBe(0);
    expect(overflowCompaction(5001, 5000)).toBe(501);
    expect(overflowCompaction(11, 10)).toBe(2);
    expect(overflowCompaction(2, 1)).toBe(1);
    expect(quotaCompaction(10)).toBe(3);
    expect(quotaCompaction(0)).toBe(0);
  });

  it('foldEvents keeps counts, category stats and still-disliked items, without mutating', () => {
    const cats: Record<string, string[]> = {
      a: ['drama', '__proto__'],
      b: ['comedy'],
      c: ['drama'],
    };
    const before = emptyProfile();
    const events: StoredEvent[] = [
      { ...ev('a', 'view', 10), dwellMs: 5000 },
      // Impressions (a short view; a card seen in a list) are counted, but not as category interest.
      { ...ev('c', 'view', 12), dwellMs: 300 },
      { ...ev('c', 'view', 14), dwellMs: 9000, context: { slot: 'home' } },
      { ...ev('a', 'rating', 20), value: 5 },
      ev('b', 'dislike', 30),
      ev('c', 'dislike', 40),
      ev('c', 'like', 50),
      ev('zz', 'click', 60), // no categories: counted, no category stats
    ];
    const problems: string[] = [];
    const p = foldEvents(before, events, {
      categoriesOf: (id) => {
        if (id === 'zz') throw new Error('catalog not loaded');
        return cats[id];
      },
      corrupt: 2,
      onProblem: (m) => problems.push(m),
    });
    expect(before).toEqual(emptyProfile());
    expect(p.counts).toEqual({
      compactedByType: { view: 3, rating: 1, dislike: 2, like: 1, click: 1 },
      compactedEvents: 8,
      compactedSessions: 0,
      corruptDropped: 2,
    });
    expect(p.categories.drama).toEqual({
      byType: { view: 1, rating: 1, dislike: 1, like: 1 },
      ratingSum: 5,
      dwellMs: 5000,
      lastAt: 50,
    });
    expect(Object.hasOwn(p.categories, '__proto__')).toBe(true);
    expect(Object.getPrototypeOf(p.categories)).toBe(Object.prototype);
    expect(p.disliked).toEqual(['b']);
    expect(problems).toEqual(['categoriesOf("zz") threw: catalog not loaded']);
    // A second fold adds to the first.
    const q = foldEvents(p, [ev('b', 'purchase', 70)], { categoriesOf: (id) => cats[id] });
    expect(q.counts.compactedEvents).toBe(9);
    expect(q.categories.comedy!.byType).toEqual({ dislike: 1, purchase: 1 });
    expect(categoryAffinity(q.categories.comedy!)).toBe(-4 + 5);
    expect(categoryAffinity(p.categories.drama!)).toBe(1 + 2 - 4 + 4);
  });
});

describe('profile checks', () => {
  it('readProfile keeps what checks out and reports the rest', () => {
    const stored = {
      ...emptyProfile(),
      vector: new Float32Array([1, 2]),
      categories: {
        good: { byType: { view: 2 }, ratingSum: 0, dwellMs: 0, lastAt: 5 },
        bad: { byType: { view: -1 }, ratingSum: 0, dwellMs: 0, lastAt: 5 },
      },
      bandits: { good: { alpha: 2, beta: 1 }, bad: { alpha: 0, beta: 1 } },
      disliked: ['x', 7],
      updatedAt: 9,
    };
    const { profile, problems } = readProfile(stored);
    expect(Object.keys(profile.categories)).toEqual(['good']);
    expect(Object.keys(profile.bandits)).toEqual(['good']);
    expect(profile.disliked).toEqual(['x']);
    expect(profile.vector).toEqual(new Float32Array([1, 2]));
    expect(problems).toEqual([
      'categories["bad"] byType .view is not a count',
      'bandits["bad"] alpha is not a finite number > 0',
      'disliked is not an array of item ids',
    ]);
    expect(readProfile(undefined)).toEqual({ profile: emptyProfile(), problems: [] });
    expect(readProfile(42).problems).toEqual(['the profile record is not an object']);
  });

  it('profileProblem is strict', () => {
    expect(profileProblem(emptyProfile())).toBeNull();
    expect(profileProblem({ ...emptyProfile(), vector: [1, 2] })).toMatch(
      /vector is not a Float32Array/,
    );
    expect(profileProblem({ ...emptyProfile(), vector: new Float32Array([NaN]) })).toMatch(
      /non-finite/,
    );
    expect(profileProblem({ ...emptyProfile(), bandits: { x: { alpha: 1 } } })).toMatch(
      /bandits\["x"\] beta/,
    );
  });

  it('jsonProblem accepts plain JSON only', () => {
    expect(jsonProblem({ a: [1, 'x', null, { b: true }] })).toBeNull();
    expect(jsonProblem({ a: NaN })).toMatch(/non-finite/);
    expect(jsonProblem({ a: new Date(0) })).toMatch(/JSON cannot carry/);
    expect(jsonProblem({ f: () => 1 })).toMatch(/JSON cannot carry/);
    let deep: unknown = 1;
    for (let i = 0; i < 40; i++) deep = [deep];
    expect(jsonProblem(deep)).toMatch(/nested too deeply/);
  });
});

describe('parseSnapshot', () => {
  const snapshot = (): MemorySnapshot => ({
    format: 'localrec-memory',
    version: 1,
    exportedAt: 5,
    events: [ev('a', 'view', 1), ev('b', 'rating', 2)],
    sessions: [{ id: 's', startedAt: 1, lastEventAt: 2, events: 2 }],
    profile: profileToJson({ ...emptyProfile(), vector: new Float32Array([0.5]) }),
    consent: { personalization: true, federated: false, updatedAt: 3 },
    settings: [{ key: 'theme', value: { dark: true } }],
  });

  it('round-trips through JSON into the memory types', () => {
    const parsed = parseSnapshot(JSON.parse(JSON.stringify(snapshot())));
    expect(parsed.events).toEqual(snapshot().events);
    expect(parsed.profile.vector).toEqual(new Float32Array([0.5]));
    expect(parsed.consent).toEqual({ personalization: true, federated: false, updatedAt: 3 });
    expect(parsed.settings).toEqual([{ key: 'theme', value: { dark: true } }]);
  });

  it.each([
    [
      'wrong format',
      (s: MemorySnapshot) => ({ ...s, format: 'x' }),
      /^bad-format: .*format must be/,
    ],
    [
      'a newer version',
      (s: MemorySnapshot) => ({ ...s, version: 2 }),
      /^unsupported-version: .*version 2/,
    ],
    [
      'a bad event',
      (s: MemorySnapshot) => ({ ...s, events: [s.events[0], { ...s.events[1], type: 'nope' }] }),
      /^bad-format: .*events\[1\]: unknown event type "nope"/,
    ],
    [
      'a bad profile',
      (s: MemorySnapshot) => ({ ...s, profile: { ...s.profile, vector: ['x'] } }),
      /^bad-format: .*profile: vector has a non-finite value/,
    ],
    [
      'consent among settings',
      (s: MemorySnapshot) => ({ ...s, settings: [{ key: 'consent', value: true }] }),
      /settings\[0\]: 'consent' belongs in consent/,
    ],
    [
      'duplicate sessions',
      (s: MemorySnapshot) => ({ ...s, sessions: [s.sessions[0], s.sessions[0]] }),
      /sessions\[1\]: duplicate id/,
    ],
  ])('rejects %s, saying nothing changed', (_name, mutate, message) => {
    const got = codeOf(() => parseSnapshot(mutate(snapshot())));
    expect(got).toMatch(message);
    expect(got).toMatch(/nothing was changed/);
  });
});

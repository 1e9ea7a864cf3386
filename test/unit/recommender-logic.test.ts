/**
 * The SDK's pure decisions, in Node: the load plan read from a manifest, the visitor's interests
 * (history, session, dislikes, affinities, the long-term vector, skips and the bandit), the
 * funnel's weights and rank adjustment, the catalog's popular/fresh lists, and explanations.
 */
import { describe, expect, it } from 'vitest';
import { isLocalrecError } from '../../src/core/errors.ts';
import type { Manifest } from '../../src/core/manifest.ts';
import { Rng } from '../../src/core/random.ts';
import type { StoredEvent } from '../../src/client/memory/events.ts';
import { emptyProfile } from '../../src/client/memory/profile.ts';
import { planFromManifest } from '../../src/client/loader/plan.ts';
import { ItemCatalog, LIST_SIZE } from '../../src/client/recommender/catalog.ts';
import { explanationText, listWords, sharedCategories } from '../../src/client/funnel/explain.ts';
import {
  adjustedRank,
  categorySource,
  itemAffinity,
  rankedSource,
  rerank,
  sourceWeights,
} from '../../src/client/funnel/blend.ts';
import {
  applyBanditCounts,
  categoryAffinities,
  INTEREST_HALF_LIFE_MS,
  interestFrom,
  isEngagement,
  replayLongTerm,
  skipsSince,
  stepLongTerm,
  unit,
} from '../../src/client/funnel/interest.ts';

const SHA = (c: string) => c.repeat(64);
const T0 = 1_700_000_000_000;
const MIN = 60_000;
const GAP = 30 * MIN;

let seq = 0;
function ev(
  type: StoredEvent['type'],
  itemId: string,
  at: number,
  extra: Partial<StoredEvent> = {},
): StoredEvent {
  return { type, itemId, timestamp: at, sessionId: extra.sessionId ?? 's1', seq: ++seq, ...extra };
}

function manifest(extra: Record<string, unknown> = {}): Manifest {
  return {
    formatVersion: 1,
    modelVersion: 'm1',
    createdAt: '2026-11-22T00:00:00Z',
    version: 4,
    models: {
      sasrec: { encoder: { sha256: SHA('a'), bytes: 10 }, config: { maxLen: 50 } },
    },
    shards: [
      { sha256: SHA('b'), bytes: 20, count: 100, baseIndex: 1 },
      { sha256: SHA('c'), bytes: 20, count: 50, baseIndex: 101 },
    ],
    metadata: [{ sha256: SHA('d'), bytes: 5, count: 150, baseIndex: 1 }],
    llm: null,
    federated: null,
    signature: { alg: 'Ed25519', keyId: 'k', value: 'SIG' },
    ...extra,
  } as Manifest;
}

function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    return isLocalrecError(e) ? e.code : `not a LocalrecError: ${String(e)}`;
  }
  return 'no error';
}

describe('load plan', () => {
  it('reads the SASRec model, its shards, the metadata and the identity', () => {
    const p = planFromManifest(manifest());
    expect(p.sasrec).toMatchObject({ name: 'sasrec', maxLen: 50, encoder: { sha256: SHA('a') } });
    expect(p.sasrec.shards.map((s) => s.count)).toEqual([100, 50]);
    expect(p.totalItems).toBe(150);
    expect(p.twoTower).toBeNull();
    expect(p.metadata).toHaveLength(1);
    expect(p.blobs.map((b) => b.sha256)).toEqual([SHA('a'), SHA('b'), SHA('c'), SHA('d')]);
    expect(p.identity).toBe('SIG');
    expect(p.manifestVersion).toBe(4);
  });

  it('takes a two-tower model with its own encoder (or userTower) and shards', () => {
    const m = manifest();
    (m.models as Record<string, unknown>)['two-tower'] = {
      userTower: { sha256: SHA('e'), bytes: 7 },
      config: { maxLen: 30 },
      shards: [{ sha256: SHA('b'), bytes: 20, count: 100 }],
    };
    const p = planFromManifest(m);
    expect(p.twoTower).toMatchObject({
      name: 'two-tower',
      maxLen: 30,
      encoder: { sha256: SHA('e') },
    });
    // Shared blobs are listed once.
    expect(p.blobs.map((b) => b.sha256)).toEqual([
      SHA('a'),
      SHA('b'),
      SHA('c'),
      SHA('e'),
      SHA('d'),
    ]);
  });

  it("carries a two-tower model's context features; one without (older) plans with none", () => {
    const spec = {
      features: ['hour', 'weekday', 'gap', 'type'],
      eventTypes: ['click', 'purchase'],
      trainingUtcOffsetMinutes: -300,
    };
    const withTt = (config: Record<string, unknown>) => {
      const m = manifest();
      (m.models as Record<string, unknown>)['two-tower'] = {
        encoder: { sha256: SHA('e'), bytes: 7 },
        config,
        shards: [{ sha256: SHA('b'), bytes: 20, count: 100 }],
      };
      return m;
    };
    const p = planFromManifest(withTt({ maxLen: 30, context: spec }));
    expect(p.twoTower!.context).toEqual(spec);
    expect(p.sasrec.context).toBeNull();
    expect(planFromManifest(withTt({ maxLen: 30 })).twoTower!.context).toBeNull();
    // A feature this version does not know (a newer model): a clear bad-format, not a wrong vector.
    const future = withTt({ maxLen: 30, context: { ...spec, features: ['hour', 'weather'] } });
    expect(codeOf(() => planFromManifest(future))).toBe('bad-format');
    expect(() => planFromManifest(future)).toThrow(
      /"two-tower"\]\.config\.context: unknown feature "weather"/,
    );
  });

  it('names what is missing', () => {
    expect(codeOf(() => planFromManifest(manifest({ shards: [] })))).toBe('bad-format');
    const noMaxLen = manifest();
    (noMaxLen.models as Record<string, unknown>)['sasrec'] = {
      encoder: { sha256: SHA('a'), bytes: 1 },
      config: {},
    };
    expect(() => planFromManifest(noMaxLen)).toThrow(/models.sasrec.config.maxLen/);
    const badTt = manifest();
    (badTt.models as Record<string, unknown>)['two-tower'] = {
      encoder: { sha256: 'x', bytes: 1 },
      config: { maxLen: 5 },
      shards: [],
    };
    expect(() => planFromManifest(badTt)).toThrow(/two-tower.*sha256/);
  });
});

describe('interests', () => {
  it('impressions are not interest; a later like clears a dislike; the session is the open one', () => {
    const events = [
      ev('view', 'old', T0, { sessionId: 's0' }),
      ev('view', 'a', T0 + 60 * MIN),
      ev('view', 'shown', T0 + 61 * MIN, { dwellMs: 200 }),
      ev('click', 'a', T0 + 62 * MIN),
      ev('dislike', 'b', T0 + 63 * MIN),
      ev('view', 'b', T0 + 63.5 * MIN),
      ev('dislike', 'c', T0 + 64 * MIN),
      ev('like', 'c', T0 + 65 * MIN),
      ev('view', 'd', T0 + 66 * MIN, { dwellMs: 30_000 }),
      // A recommendation card seen for a while in a list (the widget's view) is an impression.
      ev('view', 'card', T0 + 66.5 * MIN, {
        dwellMs: 15_000,
        context: { slot: 'home', position: 2 },
      }),
    ];
    const v = interestFrom(events, ['gone'], T0 + 70 * MIN, GAP);
    expect(v.history).toEqual(['old', 'a', 'c', 'd']);
    expect(v.session).toEqual(['a', 'c', 'd']);
    expect([...v.disliked].sort()).toEqual(['b', 'gone']);
    expect(v.seen.has('shown')).toBe(false);
    expect(v.seen.has('card')).toBe(false);
    expect(v.seen.has('b') && v.seen.has('gone') && v.seen.has('a')).toBe(true);
    expect(v.lastInterestAt).toBe(T0 + 66 * MIN);
    expect(v.lastInterestType).toBe('view'); // the two-tower's "previous event type" context
    expect(interestFrom([], [], T0, GAP).lastInterestType).toBeNull();
    // After the gap there is no open session, the history stays.
    const later = interestFrom(events, [], T0 + 200 * MIN, GAP);
    expect(later.session).toEqual([]);
    expect(later.history).toHaveLength(4);
  });

  it('engagement: clicks, carts, purchases, likes, good ratings, long views', () => {
    expect(isEngagement({ type: 'click' })).toBe(true);
    expect(isEngagement({ type: 'rating', value: 4 })).toBe(true);
    expect(isEngagement({ type: 'rating', value: 3 })).toBe(false);
    expect(isEngagement({ type: 'view', dwellMs: 12_000 })).toBe(true);
    expect(isEngagement({ type: 'view', dwellMs: 3_000 })).toBe(false);
    // A list card that stayed on screen is not engagement; only a click on it is.
    expect(isEngagement({ type: 'view', dwellMs: 12_000, context: { slot: 'home' } })).toBe(false);
    expect(isEngagement({ type: 'dislike' })).toBe(false);
  });

  it('category affinity: views raise it, dislikes lower it, old events count less', () => {
    const cats: Record<string, string[]> = {
      w1: ['Western'],
      w2: ['Western', 'Drama'],
      c1: ['Crime'],
    };
    const of = (id: string) => cats[id];
    const now = T0;
    const views = ['w1', 'w2', 'w1', 'w2'].map((id, i) => ev('view', id, now - i * MIN));
    const a = categoryAffinities(views, emptyProfile(), of, now);
    expect(a.get('Western')).toBeCloseTo(Math.tanh(4 / 4), 3);
    expect(a.get('Drama')).toBeCloseTo(Math.tanh(2 / 4), 3);
    const withDislikes = [...views, ev('dislike', 'w1', now), ev('dislike', 'w2', now)];
    expect(categoryAffinities(withDislikes, emptyProfile(), of, now).get('Western')).toBeCloseTo(
      Math.tanh(-4 / 4),
      3,
    );
    const old = categoryAffinities(
      [ev('click', 'c1', now - INTEREST_HALF_LIFE_MS)],
      emptyProfile(),
      of,
      now,
    );
    expect(old.get('Crime')).toBeCloseTo(Math.tanh(1 / 4), 3); // a click (2) halved
    // Compacted statistics count too.
    const p = emptyProfile();
    p.categories['Crime'] = { byType: { view: 8 }, ratingSum: 0, dwellMs: 0, lastAt: now };
    expect(categoryAffinities([], p, of, now).get('Crime')).toBeCloseTo(Math.tanh(2), 3);
  });

  it('the long-term vector: a mean of unit item vectors that fades with time; dislikes push away', () => {
    const x = [3, 4, 0];
    const y = [0, 0, 2];
    const v1 = stepLongTerm(null, x, { type: 'view' }, 0)!;
    expect(Array.from(v1)).toEqual([0.6000000238418579, 0.800000011920929, 0]);
    const v2 = stepLongTerm(v1, y, { type: 'view' }, 0)!;
    // One view moves the vector by 15 % of the way.
    expect(v2[2]).toBeCloseTo(0.15, 5);
    expect(v2[0]).toBeCloseTo(0.6 * 0.85, 5);
    // A purchase moves it further than a view.
    expect(stepLongTerm(v1, y, { type: 'purchase' }, 0)![2]!).toBeGreaterThan(0.4);
    // After a year away, the new item dominates.
    expect(stepLongTerm(v1, y, { type: 'view' }, 365 * 86_400_000)![2]!).toBeGreaterThan(0.99);
    // An impression changes nothing; a dislike removes part of the component along the item.
    expect(stepLongTerm(v1, y, { type: 'view', dwellMs: 100 }, 0)).toBe(v1);
    const d = stepLongTerm(v1, x, { type: 'dislike' }, 0)!;
    expect(Math.hypot(...d)).toBeLessThan(0.8);
    // Replaying events gives the same as stepping through them.
    const events = [
      ev('view', 'x', T0),
      ev('click', 'y', T0 + MIN),
      ev('dislike', 'x', T0 + 2 * MIN),
    ];
    const vec: Record<string, number[]> = { x, y };
    let manual = stepLongTerm(null, x, events[0]!, 0);
    manual = stepLongTerm(manual, y, events[1]!, MIN);
    manual = stepLongTerm(manual, x, events[2]!, 0);
    expect(Array.from(replayLongTerm(events, (id) => vec[id])!)).toEqual(Array.from(manual!));
    expect(Array.from(unit([0, 0]))).toEqual([0, 0]);
  });

  it('skips: shown (a view after the list) and not engaged with', () => {
    const list = { ids: ['a', 'b', 'c', 'd'], at: T0 };
    const events = [
      ev('view', 'a', T0 - MIN), // before the list: not an answer to it
      ev('view', 'b', T0 + 1, { dwellMs: 500 }),
      ev('view', 'c', T0 + 2, { dwellMs: 500 }),
      ev('click', 'c', T0 + 3),
      ev('view', 'e', T0 + 4),
    ];
    expect(skipsSince(list, events)).toEqual(['b']);
  });

  it('bandit counts decay the old posterior and add engagements and skips', () => {
    const counts = new Map([
      ['Drama', { engaged: 2, skipped: 0 }],
      ['Crime', { engaged: 0, skipped: 3 }],
    ]);
    const b = applyBanditCounts({ Drama: { alpha: 11, beta: 1 } }, counts);
    expect(b['Drama']!.alpha).toBeCloseTo(1 + 10 * 0.98 + 2, 6);
    expect(b['Crime']).toEqual({ alpha: 1, beta: 4 });
  });
});

describe('funnel weights and rank adjustment', () => {
  it('cold: popular and fresh only; warm: the session leads right after an event, then fades', () => {
    expect(sourceWeights({ personal: false, historyLength: 9, sinceLastMs: 0 })).toEqual({
      popular: 1,
      fresh: 0.4,
    });
    const now = sourceWeights({ personal: true, historyLength: 10, sinceLastMs: 0 });
    expect(now['sasrec']).toBe(1);
    expect(now['long-term']).toBeCloseTo(0.8);
    expect(now['popular']).toBeLessThan(now['long-term']!);
    const later = sourceWeights({ personal: true, historyLength: 2, sinceLastMs: 30 * MIN });
    expect(later['sasrec']).toBeCloseTo(0.75);
    expect(later['long-term']).toBeCloseTo(0.16);
    expect(later['two-tower']).toBeCloseTo(0.32);
    expect(later['categories']).toBe(0);
    const fan = sourceWeights({
      personal: true,
      historyLength: 5,
      sinceLastMs: 0,
      strongestAffinity: 0.75,
    });
    expect(fan['categories']).toBeCloseTo(0.45);
  });

  it('affinity moves liked categories up a source and disliked ones down', () => {
    const aff = new Map([
      ['Western', 0.9],
      ['Crime', -0.9],
    ]);
    expect(itemAffinity(['Western', 'Drama'], aff)).toBeCloseTo(0.45);
    const cats = [['Crime'], ['Drama'], ['Western']];
    const s = rankedSource('sasrec', [0, 1, 2], 1, (n) => itemAffinity(cats[n]!, aff));
    const order = [...s.items].sort((a, b) => b.score - a.score).map((x) => x.index);
    expect(order).toEqual([2, 1, 0]);
    // A disliked category's top item drops most of a list; a liked one's rank shrinks.
    expect(adjustedRank(0, -0.9)).toBeCloseTo(90);
    expect(adjustedRank(10, 1)).toBeCloseTo(10 / Math.E);
    expect(adjustedRank(4, 0)).toBe(4);
  });

  it('the categories source: affine items of the pool, most affine first, pool order on ties', () => {
    const aff = [0, 0.5, 0.9, 0.5, -1, 0.2];
    expect(categorySource([0, 1, 2, 3, 4, 5, 2], (n) => aff[n]!)).toEqual([2, 1, 3]);
    expect(categorySource([3, 1], (n) => aff[n]!, 1)).toEqual([3]);
  });

  it('rerank diversifies by embedding cosine and fills exploration slots', () => {
    // Items 0-3 nearly identical and top-ranked; 4 and 5 different.
    const vec = [
      [1, 0],
      [1, 0.01],
      [1, 0.02],
      [1, 0.03],
      [0, 1],
      [-1, 0],
    ].map((v) => unit(v));
    const src = rankedSource('popular', [0, 1, 2, 3, 4, 5], 1, () => 0);
    const common = {
      k: 3,
      exclude: new Set<number>(),
      vectorOf: (n: number) => vec[n],
      categoryOf: () => 'x',
      posteriors: {},
      rng: new Rng(1),
      explorationSlots: 0,
    };
    expect(rerank([src], { ...common, lambda: 1 }).map((x) => x.index)).toEqual([0, 1, 2]);
    const diverse = rerank([src], { ...common, lambda: 0.3 }).map((x) => x.index);
    expect(diverse[0]).toBe(0);
    expect(diverse).toContain(4);
    expect(diverse).toContain(5);
    const explored = rerank([src], { ...common, lambda: 1, explorationSlots: 1 });
    expect(explored.map((x) => x.reason)).toEqual(['popular', 'popular', 'explore']);
  });
});

describe('catalog', () => {
  it('keeps popular and fresh lists across metadata shards, best first', () => {
    const c = new ItemCatalog();
    const item = (id: string, popularity?: number, addedAt?: number) => ({
      id,
      title: `T${id}`,
      categories: ['G'],
      ...(popularity === undefined ? {} : { popularity }),
      ...(addedAt === undefined ? {} : { addedAt }),
    });
    c.addMetadata({ items: [item('1', 5, 10), item('2', 50, 5), item('3', 7)] });
    expect(c.popular().map((n) => c.idOf(n))).toEqual(['2', '3', '1']);
    c.addMetadata({ items: [item('4', 20, 30), item('5', undefined, 1)] });
    expect(c.popular().map((n) => c.idOf(n))).toEqual(['2', '4', '3', '1', '5']);
    expect(c.fresh().map((n) => c.idOf(n))).toEqual(['4', '1', '2', '5']);
    expect(c.size).toBe(5);
    expect(c.summary('4')).toEqual({
      id: '4',
      title: 'T4',
      categories: ['G'],
      popularity: 20,
      addedAt: 30,
    });
    expect(c.summary('zz')).toEqual({ id: 'zz', title: 'zz', categories: [] });
    const big = new ItemCatalog();
    big.addMetadata({ items: Array.from({ length: 1500 }, (_, i) => item(`i${i}`, i)) });
    expect(big.popular()).toHaveLength(LIST_SIZE);
    expect(big.idOf(big.popular()[0]!)).toBe('i1499');
  });
});

describe('explanations', () => {
  const item = { id: '9', title: 'Red River', categories: ['Western', 'Drama'] };
  it('say why, with the recent items and shared categories', () => {
    expect(listWords(['A', 'B', 'C'])).toBe('A, B and C');
    expect(
      sharedCategories(['Western', 'Drama', 'Crime'], [['Drama'], ['Drama', 'Western']]),
    ).toEqual(['Drama', 'Western']);
    const becauseOf = [{ id: '1', title: 'Blue Thief' }];
    expect(
      explanationText({ item, reason: 'sasrec', sharedCategories: ['Western'], becauseOf }),
    ).toBe('Because you recently looked at Blue Thief: more Western.');
    expect(explanationText({ item, reason: 'popular', sharedCategories: [], becauseOf: [] })).toBe(
      'Popular with other visitors in Western.',
    );
    expect(
      explanationText({ item, reason: 'explore', sharedCategories: [], becauseOf: [] }),
    ).toMatch(/^Something different from Western/);
    expect(explanationText({ item, reason: 'unknown', sharedCategories: [], becauseOf })).toBe(
      'Like Blue Thief, which you looked at.',
    );
  });
});

import { describe, expect, it } from 'vitest';
import { DEFAULT_GENRES, generateSyntheticCatalog } from '../../src/core/synthetic.ts';
import { leaveOneOut } from '../../src/core/split.ts';
import { evaluateRanking } from '../../src/core/metrics.ts';
import { isLocalrecError } from '../../src/core/errors.ts';
import type { Interaction } from '../../src/core/types.ts';

function byUser(events: Interaction[]): Map<string, Interaction[]> {
  const m = new Map<string, Interaction[]>();
  for (const e of events) {
    let l = m.get(e.user);
    if (l === undefined) m.set(e.user, (l = []));
    l.push(e);
  }
  return m;
}

describe('generateSyntheticCatalog', () => {
  it('is deterministic given the seed', () => {
    const opts = { items: 500, users: 200, seed: 7, minEvents: 3, maxEvents: 30 };
    const a = generateSyntheticCatalog(opts);
    expect(generateSyntheticCatalog(opts)).toEqual(a);
    const b = generateSyntheticCatalog({ ...opts, seed: 8 });
    expect(b.events).not.toEqual(a.events);
  });

  it('has the requested counts and well-formed items and sequences', () => {
    const genres = ['Jazz', 'Rock', 'Folk', 'Pop'];
    const d = generateSyntheticCatalog({
      items: 1000,
      users: 300,
      seed: 1,
      minEvents: 5,
      maxEvents: 40,
      genres,
    });
    expect(d.name).toBe('synthetic');
    expect(d.items.map((i) => i.id)).toEqual(Array.from({ length: 1000 }, (_, i) => String(i + 1)));
    for (const it of d.items) {
      expect(it.title).toMatch(/^\S.* \(\d{4}\)$/);
      expect(it.categories.length).toBeGreaterThanOrEqual(1);
      expect(it.categories.length).toBeLessThanOrEqual(3);
      expect(new Set(it.categories).size).toBe(it.categories.length);
      for (const g of it.categories) expect(genres).toContain(g);
    }
    const users = byUser(d.events);
    expect(users.size).toBe(300);
    for (const evs of users.values()) {
      expect(evs.length).toBeGreaterThanOrEqual(5);
      expect(evs.length).toBeLessThanOrEqual(40);
      expect(new Set(evs.map((e) => e.item)).size).toBe(evs.length); // no repeats
      for (let k = 1; k < evs.length; k++)
        expect(evs[k]!.timestamp).toBeGreaterThan(evs[k - 1]!.timestamp);
      for (const e of evs) expect(Number(e.item)).toBeGreaterThanOrEqual(1);
    }
    expect(
      generateSyntheticCatalog({ items: 10, users: 5, seed: 2, minEvents: 5, maxEvents: 50 })
        .items[0]!.categories[0],
    ).toSatisfy((g: string) => DEFAULT_GENRES.includes(g));
  });

  it('copes with catalogs smaller than the sequences', () => {
    const d = generateSyntheticCatalog({
      items: 6,
      users: 20,
      seed: 3,
      minEvents: 10,
      maxEvents: 20,
    });
    for (const evs of byUser(d.events).values()) {
      expect(evs.length).toBe(6);
      expect(new Set(evs.map((e) => e.item)).size).toBe(6);
    }
  });

  it('has a skewed popularity', () => {
    const d = generateSyntheticCatalog({
      items: 5000,
      users: 3000,
      seed: 4,
      minEvents: 5,
      maxEvents: 50,
    });
    const counts = new Map<string, number>();
    for (const e of d.events) counts.set(e.item, (counts.get(e.item) ?? 0) + 1);
    const sorted = [...counts.values()].sort((x, y) => y - x);
    const top1pc = sorted.slice(0, 50).reduce((a, b) => a + b, 0);
    expect(top1pc / d.events.length).toBeGreaterThan(0.1); // 10× their uniform share
  });

  it('is learnable: a bigram next-item predictor far beats popularity', async () => {
    const d = generateSyntheticCatalog({
      items: 2000,
      users: 3000,
      seed: 11,
      minEvents: 5,
      maxEvents: 50,
    });
    const split = leaveOneOut(d.events);
    const n = split.numItems;
    const pop = new Float32Array(n + 1);
    const next = new Map<number, Map<number, number>>();
    for (const u of split.users) {
      const seq = u.train; // only training data, as a model would see
      for (let k = 0; k < seq.length; k++) {
        pop[seq[k]!]!++;
        if (k === 0) continue;
        let m = next.get(seq[k - 1]!);
        if (m === undefined) next.set(seq[k - 1]!, (m = new Map()));
        m.set(seq[k]!, (m.get(seq[k]!) ?? 0) + 1);
      }
    }
    const popScorer = (inputs: Int32Array[]): Float32Array[] => inputs.map(() => pop.slice());
    const bigramScorer = (inputs: Int32Array[]): Float32Array[] =>
      inputs.map((x) => {
        // Popularity breaks ties (scaled below 1 so any bigram count wins).
        const s = pop.map((p) => p / (1 + d.events.length));
        for (const [j, c] of next.get(x[x.length - 1]!) ?? []) s[j]! += c;
        return s;
      });
    const p = await evaluateRanking(split, 'test', popScorer);
    const b = await evaluateRanking(split, 'test', bigramScorer);
    expect(p.full.users).toBe(3000);
    expect(b.full.hr10).toBeGreaterThan(0.3);
    expect(b.full.hr10).toBeGreaterThan(4 * p.full.hr10);
    expect(b.full.ndcg10).toBeGreaterThan(4 * p.full.ndcg10);
    expect(b.s100.hr10).toBeGreaterThan(p.s100.hr10 + 0.2);
  });

  it('generates 100k items × 50k users in a few seconds', () => {
    const t0 = performance.now();
    const d = generateSyntheticCatalog({
      items: 100_000,
      users: 50_000,
      seed: 5,
      minEvents: 5,
      maxEvents: 50,
    });
    const ms = performance.now() - t0;
    expect(d.items.length).toBe(100_000);
    expect(d.events.length).toBeGreaterThan(50_000 * 5);
    // ~1 s on a quiet machine; generous because CI machines are shared and noisy.
    expect(ms).toBeLessThan(15_000);
  });

  it('rejects invalid options', () => {
    for (const o of [
      { items: 0, users: 1, seed: 1 },
      { items: 10, users: -1, seed: 1 },
      { items: 10, users: 1, seed: 1, minEvents: 5, maxEvents: 3 },
      { items: 10, users: 1, seed: 1, minEvents: 0 },
      { items: 10, users: 1, seed: 1, genres: [] },
    ]) {
      let err: unknown;
      try {
        generateSyntheticCatalog(o);
      } catch (e) {
        err = e;
      }
      expect(isLocalrecError(err) && err.code === 'bad-input').toBe(true);
    }
  });
});

import { describe, expect, it } from 'vitest';
import {
  RankAccumulator,
  evaluateRanking,
  fullRanks,
  hitAt,
  ndcgAt,
  rankFull,
  rankSampled,
  recallAt,
  retrievalMetrics,
  sampleNegatives,
} from '../../src/core/metrics.ts';
import { Rng } from '../../src/core/random.ts';
import { isLocalrecError } from '../../src/core/errors.ts';
import type { SplitData } from '../../src/core/types.ts';

// Index 0 is padding with a huge score: it must never count.
const S = new Float32Array([99, 0.1, 0.6, 0.5, 0.4, 0.3, 0.2]);

describe('rankFull', () => {
  it('counts strictly higher items and ignores padding', () => {
    expect(rankFull(S, 2, [])).toBe(0);
    expect(rankFull(S, 4, [])).toBe(2); // items 2 (0.6), 3 (0.5)
    expect(rankFull(S, 1, [])).toBe(5);
  });

  it('counts ties as half: the expected rank under random tie-breaking', () => {
    const s = new Float32Array([0, 0.5, 0.5, 0.5, 0.7]);
    expect(rankFull(s, 2, [])).toBe(2); // item 4 above, items 1 and 3 tied: 1 + 2/2
    expect(rankFull(new Float32Array([0, 1, 1, 1]), 3, [])).toBe(1);
    // A model that scores every item alike ranks the target mid-catalog, not first.
    const flat = new Float32Array(101).fill(0.25);
    expect(rankFull(flat, 37, [])).toBe(49.5);
    // Excluded items leave the tie count too (once each), and padding never ties.
    expect(rankFull(s, 2, [1, 1])).toBe(1.5);
    expect(rankFull(new Float32Array([0.5, 0.5, 0.5]), 1, [])).toBe(0.5);
  });

  it('ranks tied at the cut-off feed NDCG@10 and HR@10 at the expected rank', () => {
    // Target tied with 3 others right below 8 better items: rank 8 + 3/2 = 9.5.
    const s = new Float32Array(21).fill(0);
    for (let j = 1; j <= 8; j++) s[j] = 2;
    for (const j of [9, 10, 11, 12]) s[j] = 1;
    const r = rankFull(s, 10, []);
    expect(r).toBe(9.5);
    expect(ndcgAt(r, 10)).toBeCloseTo(1 / Math.log2(11.5), 12);
    expect(hitAt(r, 10)).toBe(1);
    // The old rule (ties for the target) said rank 8, NDCG 1/log2(10).
    expect(ndcgAt(r, 10)).toBeLessThan(1 / Math.log2(10));
    const acc = new RankAccumulator();
    acc.add(r);
    acc.add(rankFull(s, 12, [9]));
    expect(acc.result().ndcg10).toBeCloseTo((1 / Math.log2(11.5) + 1 / Math.log2(11)) / 2, 12);
  });

  it('excludes the history, once per item, and never the target', () => {
    expect(rankFull(S, 4, [2])).toBe(1);
    expect(rankFull(S, 4, [2, 2, 2])).toBe(1);
    expect(rankFull(S, 4, [2, 4, 3])).toBe(0); // target 4 inside the history stays in
    expect(rankFull(S, 1, [4, 5, 6, 1])).toBe(2); // items 2, 3 remain above
    expect(rankFull(S, 4, [0, 0, 7, -1, 100])).toBe(2); // padding / out of range ignored
  });

  it('ranks a NaN target below every real score', () => {
    const s = new Float32Array([0, NaN, 0.1, -5, NaN]);
    expect(rankFull(s, 1, [])).toBe(2);
    // −∞ ties with a NaN target (which counts as −∞); NaN items never count.
    expect(rankFull(new Float32Array([0, NaN, -Infinity, 1, NaN]), 1, [])).toBe(1.5);
  });

  it('rejects targets outside 1..N', () => {
    for (const t of [0, 7, 1.5]) {
      let err: unknown;
      try {
        rankFull(S, t, []);
      } catch (e) {
        err = e;
      }
      expect(isLocalrecError(err) && err.code === 'bad-input').toBe(true);
    }
  });
});

describe('rankSampled', () => {
  it('uses the same rule over the sampled items only, ties as half', () => {
    expect(rankSampled(S, 4, new Int32Array([1, 5, 6]))).toBe(0);
    expect(rankSampled(S, 4, new Int32Array([1, 2, 3, 5]))).toBe(2);
    expect(rankSampled(S, 5, new Int32Array([5, 1]))).toBe(0); // the target itself never counts
    const tie = new Float32Array([0, 0.5, 0.5, 0.5, 0.9]);
    expect(rankSampled(tie, 1, new Int32Array([2, 3]))).toBe(1);
    expect(rankSampled(tie, 1, new Int32Array([2, 4, 1]))).toBe(1.5);
    const nan = new Float32Array([0, NaN, -Infinity, 0]);
    expect(rankSampled(nan, 1, new Int32Array([2, 3]))).toBe(1.5);
  });
});

describe('ndcgAt / hitAt / RankAccumulator', () => {
  it('matches hand-computed values', () => {
    expect(ndcgAt(0, 10)).toBe(1);
    expect(ndcgAt(1, 10)).toBeCloseTo(0.6309297535714575, 9);
    expect(ndcgAt(2, 10)).toBeCloseTo(0.5, 9);
    expect(ndcgAt(9, 10)).toBeCloseTo(0.2890648263178879, 9);
    expect(ndcgAt(10, 10)).toBe(0);
    expect(hitAt(9, 10)).toBe(1);
    expect(hitAt(10, 10)).toBe(0);
  });

  it('averages over users', () => {
    const acc = new RankAccumulator();
    expect(acc.result()).toEqual({ hr10: 0, ndcg10: 0, users: 0 });
    for (const r of [0, 1, 12, 2]) acc.add(r);
    const m = acc.result();
    expect(m.users).toBe(4);
    expect(m.hr10).toBeCloseTo(0.75, 12);
    expect(m.ndcg10).toBeCloseTo((1 + 0.6309297535714575 + 0 + 0.5) / 4, 9);
  });
});

describe('sampleNegatives', () => {
  it('draws distinct items outside the user sequence, deterministically', () => {
    const user = new Set([3, 7, 9, 500]);
    const a = sampleNegatives(new Rng(5), 1000, user);
    const b = sampleNegatives(new Rng(5), 1000, [3, 7, 9, 500]);
    expect(a).toEqual(b);
    expect(a.length).toBe(100);
    expect(new Set(a).size).toBe(100);
    for (const j of a) {
      expect(j).toBeGreaterThanOrEqual(1);
      expect(j).toBeLessThanOrEqual(1000);
      expect(user.has(j)).toBe(false);
    }
    expect(sampleNegatives(new Rng(6), 1000, user)).not.toEqual(a);
  });

  it('handles dense catalogs and returns every candidate when fewer than count exist', () => {
    const few = sampleNegatives(new Rng(1), 10, [1, 2, 3, 0, 99], 100);
    expect([...few].sort((x, y) => x - y)).toEqual([4, 5, 6, 7, 8, 9, 10]);
    const dense = sampleNegatives(new Rng(1), 150, [1, 2], 100);
    expect(new Set(dense).size).toBe(100);
    expect(dense.includes(1) || dense.includes(2) || dense.includes(0)).toBe(false);
  });

  it('is roughly uniform', () => {
    const counts = new Int32Array(21);
    const rng = new Rng(9);
    for (let r = 0; r < 2000; r++) for (const j of sampleNegatives(rng, 20, [10], 5)) counts[j]!++;
    expect(counts[0]).toBe(0);
    expect(counts[10]).toBe(0);
    // 2000·5/19 ≈ 526 expected per item.
    for (let j = 1; j <= 20; j++) if (j !== 10) expect(Math.abs(counts[j]! - 526)).toBeLessThan(90);
  });
});

describe('evaluateRanking', () => {
  // scores: item1 0.1, item2 0.6, item3 0.5, item4 0.4, item5 0.3, item6 0.2
  const split: SplitData = {
    numItems: 6,
    itemIds: ['', 'a', 'b', 'c', 'd', 'e', 'f'],
    users: [
      { user: 'A', train: Int32Array.of(2), valid: 4, test: 6 },
      { user: 'B', train: Int32Array.of(1, 3), valid: 2, test: 3 },
      { user: 'C', train: Int32Array.of(5), valid: 0, test: 0 },
      { user: 'D', train: Int32Array.of(1, 5), valid: 6, test: 1 },
    ],
  };

  it('matches hand-computed full and sampled ranks on both stages', async () => {
    const seen: number[][] = [];
    const scorer = (inputs: Int32Array[]): Float32Array[] => {
      for (const x of inputs) seen.push([...x]);
      return inputs.map(() => S.slice());
    };
    const v = await evaluateRanking(split, 'valid', scorer);
    expect(seen).toEqual([[2], [1, 3], [1, 5]]);
    // valid ranks: A 1 (item 3 above; 2 excluded), B 0, D 3 (2,3,4 above; 5 excluded)
    const ndcgV = (1 / Math.log2(3) + 1 + 1 / Math.log2(5)) / 3;
    expect(v.full.users).toBe(3);
    expect(v.full.hr10).toBe(1);
    expect(v.full.ndcg10).toBeCloseTo(ndcgV, 9);
    // With 6 items every user's negatives are all items outside their sequence: same ranks.
    expect(v.s100.users).toBe(3);
    expect(v.s100.ndcg10).toBeCloseTo(ndcgV, 9);

    seen.length = 0;
    const t = await evaluateRanking(split, 'test', async (x) => scorer(x), { batchSize: 2 });
    expect(seen).toEqual([
      [2, 4],
      [1, 3, 2],
      [1, 5, 6],
    ]);
    // test ranks: A 2 (3,5 above; 2,4 excluded), B 0 (target 3 is in its history), D 3
    const ndcgT = (0.5 + 1 + 1 / Math.log2(5)) / 3;
    expect(t.full.ndcg10).toBeCloseTo(ndcgT, 9);
    expect(t.s100.ndcg10).toBeCloseTo(ndcgT, 9);
  });

  it('does not depend on batch size or on the other users evaluated', async () => {
    const rng = new Rng(3);
    const n = 300;
    const users = Array.from({ length: 40 }, (_, u) => ({
      user: String(u),
      train: Int32Array.from({ length: 5 }, () => 1 + rng.int(n)),
      valid: 1 + rng.int(n),
      test: 1 + rng.int(n),
    }));
    const big: SplitData = { numItems: n, itemIds: [], users };
    // A deterministic scorer that depends on the input, so ranks vary per user.
    const scorer = (inputs: Int32Array[]): Float32Array[] =>
      inputs.map((x) => {
        const s = new Float32Array(n + 1);
        const r = new Rng(x[0]! * 31 + x.length);
        for (let j = 1; j <= n; j++) s[j] = r.next();
        return s;
      });
    const a = await evaluateRanking(big, 'test', scorer, { batchSize: 1 });
    const b = await evaluateRanking(big, 'test', scorer, { batchSize: 1000 });
    expect(b).toEqual(a);
    expect(a.full.users).toBe(40);
    const odd = users.map((_, i) => i).filter((i) => i % 2 === 1);
    const even = users.map((_, i) => i).filter((i) => i % 2 === 0);
    const mo = await evaluateRanking(big, 'test', scorer, { users: odd });
    const me = await evaluateRanking(big, 'test', scorer, { users: even, batchSize: 7 });
    expect(mo.s100.users + me.s100.users).toBe(40);
    expect((mo.s100.ndcg10 * 20 + me.s100.ndcg10 * 20) / 40).toBeCloseTo(a.s100.ndcg10, 9);
    const other = await evaluateRanking(big, 'test', scorer, { seed: 7 });
    expect(other.s100).not.toEqual(a.s100);
    expect(other.full).toEqual(a.full);
  });

  it('rejects a scorer with the wrong output shape', async () => {
    await expect(
      evaluateRanking(split, 'valid', (x) => x.map(() => new Float32Array(3))),
    ).rejects.toThrow(/expected numItems \+ 1 = 7/);
    await expect(evaluateRanking(split, 'valid', () => [])).rejects.toThrow(
      /0 score vectors for 3 inputs/,
    );
  });
});

describe('recallAt / retrievalMetrics / fullRanks', () => {
  it('Recall@100 counts ranks below 100, next to HR@10 and NDCG@10', () => {
    expect(recallAt(99, 100)).toBe(1);
    expect(recallAt(100, 100)).toBe(0);
    expect(retrievalMetrics([])).toEqual({ recall100: 0, hr10: 0, ndcg10: 0, users: 0 });
    const m = retrievalMetrics(Int32Array.of(0, 5, 99, 100, 1000));
    expect(m.users).toBe(5);
    expect(m.recall100).toBeCloseTo(3 / 5, 12);
    expect(m.hr10).toBeCloseTo(2 / 5, 12);
    expect(m.ndcg10).toBeCloseTo((1 + 1 / Math.log2(7)) / 5, 12);
  });

  it('gives the per-user ranks evaluateRanking averages (same inputs and exclusions)', async () => {
    const split: SplitData = {
      numItems: 6,
      itemIds: ['', 'a', 'b', 'c', 'd', 'e', 'f'],
      users: [
        { user: 'A', train: Int32Array.of(2), valid: 4, test: 6 },
        { user: 'B', train: Int32Array.of(1, 3), valid: 2, test: 3 },
        { user: 'C', train: Int32Array.of(5), valid: 0, test: 0 },
        { user: 'D', train: Int32Array.of(1, 5), valid: 6, test: 1 },
      ],
    };
    const scorer = (inputs: Int32Array[]) => inputs.map(() => S.slice());
    const v = await fullRanks(split, 'valid', scorer, { batchSize: 2 });
    expect([...v.users]).toEqual([0, 1, 3]); // C is train-only
    expect([...v.ranks]).toEqual([1, 0, 3]);
    const t = await fullRanks(split, 'test', scorer);
    expect([...t.ranks]).toEqual([2, 0, 3]);
    const ref = await evaluateRanking(split, 'test', scorer);
    const m = retrievalMetrics(t.ranks);
    expect(m.ndcg10).toBeCloseTo(ref.full.ndcg10, 12);
    expect(m.hr10).toBe(ref.full.hr10);
    expect(m.recall100).toBe(1);
    // Tied scores give half ranks, kept as they are (not truncated to integers).
    const flat = await fullRanks(split, 'test', (inputs) => inputs.map(() => new Float32Array(7)));
    expect([...flat.ranks]).toEqual([1.5, 1.5, 1.5]); // 3 tied items left after the exclusions
    const only = await fullRanks(split, 'test', scorer, { users: [3, 2] });
    expect([...only.users]).toEqual([3]);
    await expect(fullRanks(split, 'test', scorer, { users: [9] })).rejects.toThrow(/outside 0..3/);
    await expect(fullRanks(split, 'test', () => [])).rejects.toThrow(/0 score vectors/);
  });
});

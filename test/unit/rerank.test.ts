import { describe, expect, it } from 'vitest';
import { sampleBeta, sampleGamma, thompsonPick, updatePosterior } from '../../src/core/bandit.ts';
import { isLocalrecError } from '../../src/core/errors.ts';
import { cosine, mmr } from '../../src/core/mmr.ts';
import { Rng } from '../../src/core/random.ts';

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return isLocalrecError(e) ? e.code : `not a LocalrecError: ${String(e)}`;
  }
  return 'no error';
}

function meanVar(xs: number[]): [number, number] {
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  return [m, xs.reduce((a, b) => a + (b - m) ** 2, 0) / xs.length];
}

describe('Beta / Gamma sampling', () => {
  it('Gamma draws have mean = shape and variance = shape (shapes below and above 1)', () => {
    const rng = new Rng(7);
    for (const shape of [0.3, 1, 2.5, 20]) {
      const [m, v] = meanVar(Array.from({ length: 40_000 }, () => sampleGamma(rng, shape)));
      expect(m, `mean, shape ${shape}`).toBeCloseTo(shape, shape < 1 ? 1 : 0);
      expect(Math.abs(v - shape) / shape, `variance, shape ${shape}`).toBeLessThan(0.06);
    }
  });

  it('Beta draws match the mean α/(α+β) and variance αβ/((α+β)²(α+β+1))', () => {
    const rng = new Rng(3);
    for (const p of [
      { alpha: 1, beta: 1 },
      { alpha: 2, beta: 8 },
      { alpha: 30, beta: 5 },
      { alpha: 0.5, beta: 0.5 },
    ]) {
      const xs = Array.from({ length: 40_000 }, () => sampleBeta(rng, p));
      expect(xs.every((x) => x >= 0 && x <= 1)).toBe(true);
      const s = p.alpha + p.beta;
      const [m, v] = meanVar(xs);
      expect(m).toBeCloseTo(p.alpha / s, 2);
      expect(v).toBeCloseTo((p.alpha * p.beta) / (s * s * (s + 1)), 2);
    }
  });

  it('posteriors count engagements and skips, with decay toward the prior', () => {
    expect(updatePosterior({ alpha: 1, beta: 1 }, 3, 1)).toEqual({ alpha: 4, beta: 2 });
    expect(updatePosterior({ alpha: 5, beta: 3 }, 0, 0, 0.5)).toEqual({ alpha: 3, beta: 2 });
    expect(codeOf(() => updatePosterior({ alpha: 0, beta: 1 }, 1, 0))).toBe('bad-input');
    expect(codeOf(() => updatePosterior({ alpha: 1, beta: 1 }, -1, 0))).toBe('bad-input');
    expect(codeOf(() => updatePosterior({ alpha: 1, beta: 1 }, 1, 0, 2))).toBe('bad-input');
  });
});

describe('thompsonPick', () => {
  const candidates = [
    { key: 'a1', category: 'A', score: 0.9 },
    { key: 'a2', category: 'A', score: 0.8 },
    { key: 'b1', category: 'B', score: 0.5 },
    { key: 'b2', category: 'B', score: 0.7 },
    { key: 'c1', category: 'C', score: 0.1 },
  ];

  it('follows the posteriors: a loved category wins most slots, a skipped one almost never', () => {
    const post = new Map([
      ['A', { alpha: 40, beta: 2 }],
      ['B', { alpha: 2, beta: 40 }],
    ]);
    const rng = new Rng(11);
    const wins: Record<string, number> = { A: 0, B: 0, C: 0 };
    for (let t = 0; t < 2000; t++) wins[thompsonPick(candidates, post, 1, rng)[0]!.category]!++;
    expect(wins.A).toBeGreaterThan(1600);
    expect(wins.B).toBeLessThan(20);
    expect(wins.C).toBeGreaterThan(40); // unseen category (uniform prior) still gets explored
  });

  it('takes the best remaining item of the winning category, never one twice, and is seeded', () => {
    const post = {
      A: { alpha: 1000, beta: 1 },
      B: { alpha: 1, beta: 1000 },
      C: { alpha: 1, beta: 1000 },
    };
    const picks = thompsonPick(candidates, post, 10, new Rng(1));
    expect(picks.map((p) => p.key).slice(0, 2)).toEqual(['a1', 'a2']);
    expect(new Set(picks.map((p) => p.key)).size).toBe(5);
    expect(picks.length).toBe(5);
    expect(picks.filter((p) => p.category === 'B').map((p) => p.key)).toEqual(['b2', 'b1']);
    expect(thompsonPick(candidates, {}, 3, new Rng(5))).toEqual(
      thompsonPick(candidates, {}, 3, new Rng(5)),
    );
    expect(codeOf(() => thompsonPick(candidates, {}, -1, new Rng(1)))).toBe('bad-input');
  });
});

describe('mmr', () => {
  // Items 0 and 1 are near-duplicates; 2 is different but a bit less relevant.
  const vecs = [
    [1, 0],
    [0.99, 0.1],
    [0, 1],
    [0.7, 0.7],
  ];
  const sim = (a: number, b: number) => cosine(vecs[a]!, vecs[b]!);
  const rel = [1.0, 0.95, 0.8, 0.2];

  it('λ = 1 is the relevance order; lower λ lifts the dissimilar item above the duplicate', () => {
    expect(mmr(rel, sim, { k: 4, lambda: 1 })).toEqual([0, 1, 2, 3]);
    expect(mmr(rel, sim, { k: 3, lambda: 0.5 })).toEqual([0, 2, 1]);
    // Hand-computed second pick at λ = 0.5: normalised rel [1, .9375, .75, 0];
    // item 1: .5·.9375 − .5·cos(1,0)=.995 → −0.029; item 2: .5·.75 − 0 = .375; item 3: 0 − .5·.707.
    expect(mmr(rel, sim, { k: 2, lambda: 0.5 })[1]).toBe(2);
  });

  it('skips NaN candidates, stops when none are left, and checks its options', () => {
    expect(mmr([NaN, 0.5, 0.4], () => 0, { k: 5 })).toEqual([1, 2]);
    expect(mmr([], () => 0, { k: 3 })).toEqual([]);
    expect(mmr([2, 2, 2], () => 0, { k: 3, lambda: 0.3 })).toEqual([0, 1, 2]);
    expect(codeOf(() => mmr(rel, sim, { k: 2, lambda: 1.5 }))).toBe('bad-input');
    expect(codeOf(() => mmr(rel, sim, { k: -2 }))).toBe('bad-input');
    expect(cosine([0, 0], [1, 1])).toBe(0);
    expect(codeOf(() => cosine([1], [1, 2]))).toBe('bad-input');
  });
});

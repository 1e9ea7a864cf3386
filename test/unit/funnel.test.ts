import { describe, expect, it } from 'vitest';
import { isLocalrecError } from '../../src/core/errors.ts';
import { runFunnel, type CandidateSource } from '../../src/core/funnel.ts';
import { Rng } from '../../src/core/random.ts';

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return isLocalrecError(e) ? e.code : `not a LocalrecError: ${String(e)}`;
  }
  return 'no error';
}

const src = (name: string, scores: Record<number, number>, weight?: number): CandidateSource => ({
  name,
  items: Object.entries(scores).map(([i, s]) => ({ index: Number(i), score: s })),
  ...(weight === undefined ? {} : { weight }),
});

describe('runFunnel: blend', () => {
  it('fuses ranks, not raw scores: an item two sources agree on beats one source’s favourite', () => {
    const sasrec = src('sasrec', { 1: 900, 2: 800, 3: 700 }); // huge dot products
    const tt = src('two-tower', { 3: 0.9, 4: 0.8, 1: 0.1 }); // cosine-like
    const out = runFunnel([sasrec, tt], { k: 4 });
    // 1: 1/60 + 1/62; 3: 1/62 + 1/60 → tie broken by lower index; 2: 1/61; 4: 1/61.
    expect(out.map((x) => x.index)).toEqual([1, 3, 2, 4]);
    expect(out[0]!.score).toBeCloseTo(1 / 60 + 1 / 62, 12);
    expect(out[0]!.sources).toEqual(['sasrec', 'two-tower']);
    expect(out[1]!.reason).toBe('two-tower');
  });

  it('weights move a source up or down; weight 0 only labels', () => {
    const a = src('a', { 1: 2, 2: 1 });
    const b = src('b', { 3: 2, 4: 1 }, 3);
    expect(runFunnel([a, b], { k: 2 }).map((x) => x.index)).toEqual([3, 4]);
    const z = runFunnel([a, src('b', { 3: 2 }, 0)], { k: 3 });
    expect(z.map((x) => x.index)).toEqual([1, 2, 3]);
    expect(z[2]!.score).toBe(0);
  });

  it('filters excluded items and a predicate; NaN scores and duplicates count once', () => {
    const s: CandidateSource = {
      name: 's',
      items: [
        { index: 5, score: 3 },
        { index: 5, score: 2 },
        { index: 6, score: NaN },
        { index: 7, score: 1 },
        { index: 8, score: 0 },
      ],
    };
    const out = runFunnel([s], { k: 5, exclude: new Set([7]), filter: (i) => i !== 8 });
    expect(out.map((x) => x.index)).toEqual([5]);
    expect(out[0]!.score).toBeCloseTo(1 / 60, 12);
  });
});

describe('runFunnel: rerank', () => {
  // Items 1 and 2 are twins (same category, similarity 1); 3 differs.
  const sim = (a: number, b: number) => (a === b ? 1 : a <= 2 && b <= 2 ? 1 : 0);
  const s = src('s', { 1: 3, 2: 2, 3: 1 });

  it('MMR lifts the different item above the twin', () => {
    expect(runFunnel([s], { k: 3 }).map((x) => x.index)).toEqual([1, 2, 3]);
    expect(runFunnel([s], { k: 3, similarity: sim, lambda: 0.5 }).map((x) => x.index)).toEqual([
      1, 3, 2,
    ]);
    expect(runFunnel([s], { k: 3, similarity: sim, lambda: 1 }).map((x) => x.index)).toEqual([
      1, 2, 3,
    ]);
  });

  it('exploration slots go to the category the posteriors favour, from outside the main list', () => {
    const many = src(
      'sasrec',
      Object.fromEntries(Array.from({ length: 30 }, (_, i) => [i + 1, 100 - i])),
    );
    const categoryOf = (i: number) => (i <= 10 ? 'drama' : i <= 20 ? 'comedy' : 'horror');
    const posteriors = { comedy: { alpha: 1, beta: 200 }, horror: { alpha: 200, beta: 1 } };
    const out = runFunnel([many], {
      k: 6,
      explorationSlots: 2,
      categoryOf,
      posteriors,
      rng: new Rng(4),
    });
    expect(out.map((x) => x.index).slice(0, 4)).toEqual([1, 2, 3, 4]);
    expect(out.slice(4).map((x) => [x.index, x.reason])).toEqual([
      [21, 'explore'],
      [22, 'explore'],
    ]);
    // Same seed, same list; fewer explorable candidates than slots → filled by blend order.
    expect(
      runFunnel([many], { k: 6, explorationSlots: 2, categoryOf, posteriors, rng: new Rng(4) }),
    ).toEqual(out);
    const few = runFunnel([src('s', { 1: 3, 2: 2, 3: 1 })], {
      k: 3,
      explorationSlots: 2,
      categoryOf: (i) => (i === 3 ? 'x' : undefined),
      rng: new Rng(1),
    });
    expect(few.map((x) => x.index)).toEqual([1, 3, 2]);
  });

  it('answers bad options with bad-input', () => {
    expect(codeOf(() => runFunnel([s], { k: -1 }))).toBe('bad-input');
    expect(codeOf(() => runFunnel([s], { k: 2, explorationSlots: 3 }))).toBe('bad-input');
    expect(codeOf(() => runFunnel([s], { k: 2, explorationSlots: 1 }))).toBe('bad-input');
    expect(codeOf(() => runFunnel([s], { k: 2, lambda: 2 }))).toBe('bad-input');
    expect(codeOf(() => runFunnel([src('s', { 1: 1 }, -1)], { k: 1 }))).toBe('bad-input');
    expect(
      codeOf(() => runFunnel([{ name: 'x', items: [{ index: 1.5, score: 1 }] }], { k: 1 })),
    ).toBe('bad-input');
    expect(runFunnel([], { k: 3 })).toEqual([]);
  });
});

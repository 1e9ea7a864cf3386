/**
 * Exploration by Thompson sampling over category-level Beta posteriors.
 *
 * Each category c keeps Beta(α_c, β_c) over "the visitor engages with an item of c when shown
 * one": a click (or like, purchase) adds to α, a skip (shown, not engaged) adds to β. To fill an
 * exploration slot, draw θ_c ~ Beta(α_c, β_c) for every category with a candidate left and take
 * the best remaining candidate of the category with the largest draw — categories the visitor
 * has not seen get drawn high now and then (their prior is wide), categories they keep skipping
 * fade out. Seeded, so the same posteriors and seed give the same picks.
 */
import { LocalrecError } from './errors.ts';
import type { Rng } from './random.ts';

/** One category's posterior. */
export interface BetaPosterior {
  alpha: number;
  beta: number;
}

/** The prior every category starts from: uniform on [0, 1]. */
export const UNIFORM_PRIOR: Readonly<BetaPosterior> = Object.freeze({ alpha: 1, beta: 1 });

function checkPosterior(p: BetaPosterior, what: string): void {
  if (!(Number.isFinite(p.alpha) && p.alpha > 0 && Number.isFinite(p.beta) && p.beta > 0))
    throw new LocalrecError(
      'bad-input',
      `${what}: a Beta posterior needs finite alpha > 0 and beta > 0, got alpha ${p.alpha}, beta ${p.beta}`,
    );
}

/**
 * A Gamma(shape, 1) draw (Marsaglia & Tsang 2000; shape < 1 by the boost
 * Gamma(a) = Gamma(a + 1) · U^(1/a)).
 */
export function sampleGamma(rng: Rng, shape: number): number {
  if (!(Number.isFinite(shape) && shape > 0))
    throw new LocalrecError('bad-input', `sampleGamma: shape must be finite and > 0, got ${shape}`);
  if (shape < 1) {
    let u = 0;
    while (u === 0) u = rng.next();
    return sampleGamma(rng, shape + 1) * Math.pow(u, 1 / shape);
  }
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = rng.normal();
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = rng.next();
    if (u < 1 - 0.0331 * x * x * x * x) return d * v;
    if (u > 0 && Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
  }
}

/** A Beta(α, β) draw, as X / (X + Y) with X ~ Gamma(α), Y ~ Gamma(β). */
export function sampleBeta(rng: Rng, p: BetaPosterior): number {
  checkPosterior(p, 'sampleBeta');
  const x = sampleGamma(rng, p.alpha);
  const y = sampleGamma(rng, p.beta);
  return x + y === 0 ? 0.5 : x / (x + y);
}

/**
 * The posterior after `engaged` engagements and `skipped` skips, optionally decayed first
 * (both counts above the prior shrink by `decay` in [0, 1]: 1 keeps everything, 0.9 forgets a
 * tenth) so that tastes can change.
 */
export function updatePosterior(
  p: BetaPosterior,
  engaged: number,
  skipped: number,
  decay = 1,
  prior: BetaPosterior = UNIFORM_PRIOR,
): BetaPosterior {
  checkPosterior(p, 'updatePosterior');
  if (!(engaged >= 0 && skipped >= 0 && Number.isFinite(engaged + skipped)))
    throw new LocalrecError(
      'bad-input',
      `updatePosterior: engaged and skipped must be finite and >= 0, got ${engaged}, ${skipped}`,
    );
  if (!(decay >= 0 && decay <= 1))
    throw new LocalrecError('bad-input', `updatePosterior: decay must be in [0, 1], got ${decay}`);
  return {
    alpha: prior.alpha + (p.alpha - prior.alpha) * decay + engaged,
    beta: prior.beta + (p.beta - prior.beta) * decay + skipped,
  };
}

/** A candidate for an exploration slot. */
export interface BanditCandidate {
  /** Caller's key (e.g. internal index or item id). */
  key: number | string;
  /** Its category (an item with several: the caller picks the one to learn about). */
  category: string;
  /** Relevance, to order candidates within a category. */
  score: number;
}

/**
 * Picks up to `slots` candidates by Thompson sampling: per slot, one Beta draw per category that
 * still has candidates; the best-scored remaining candidate of the winning category is taken.
 * Categories without a posterior use `prior`. Returns the picks in order, with their draws.
 */
export function thompsonPick(
  candidates: readonly BanditCandidate[],
  posteriors: ReadonlyMap<string, BetaPosterior> | Record<string, BetaPosterior>,
  slots: number,
  rng: Rng,
  prior: BetaPosterior = UNIFORM_PRIOR,
): { key: number | string; category: string; draw: number }[] {
  if (!Number.isInteger(slots) || slots < 0)
    throw new LocalrecError(
      'bad-input',
      `thompsonPick: slots must be a non-negative integer, got ${slots}`,
    );
  const get = (c: string): BetaPosterior =>
    (posteriors instanceof Map
      ? posteriors.get(c)
      : (posteriors as Record<string, BetaPosterior>)[c]) ?? prior;
  // Per category, its candidates best first (ties: earlier in the input first).
  const byCategory = new Map<string, BanditCandidate[]>();
  for (const c of candidates) {
    const list = byCategory.get(c.category);
    if (list) list.push(c);
    else byCategory.set(c.category, [c]);
  }
  for (const list of byCategory.values()) list.sort((a, b) => b.score - a.score);
  // Categories in first-seen order so a seed gives the same draws whatever the Map internals.
  const categories = [...byCategory.keys()];
  const out: { key: number | string; category: string; draw: number }[] = [];
  while (out.length < slots) {
    let best: string | null = null;
    let bestDraw = -1;
    for (const c of categories) {
      if (byCategory.get(c)!.length === 0) continue;
      const draw = sampleBeta(rng, get(c));
      if (draw > bestDraw) {
        bestDraw = draw;
        best = c;
      }
    }
    if (best === null) break;
    const pick = byCategory.get(best)!.shift()!;
    out.push({ key: pick.key, category: best, draw: bestDraw });
  }
  return out;
}

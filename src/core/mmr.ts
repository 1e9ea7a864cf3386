/**
 * Maximal marginal relevance (Carbonell & Goldstein 1998): re-ranks candidates so that the list
 * stays relevant but does not repeat itself. Greedily, each next item maximises
 *
 *   λ · relevance(i) − (1 − λ) · max_{j already chosen} similarity(i, j)
 *
 * λ = 1 is the plain relevance order; λ = 0 picks the most dissimilar items. Relevance is
 * min-max normalised over the candidates first, so λ means the same whatever the score scale
 * (dot products, probabilities, blended ranks).
 */
import { LocalrecError } from './errors.ts';

/** Options of {@link mmr}. */
export interface MmrOptions {
  /** How many to pick. */
  k: number;
  /** Trade-off in [0, 1] (see above); default 0.7. */
  lambda?: number;
}

/**
 * Picks `k` of `n` candidates by MMR, returning their positions (0..n-1) in pick order.
 * Ties go to the earlier candidate, so the result is deterministic.
 *
 * @param relevance - (n) scores, higher is better; NaN candidates are never picked.
 * @param similarity - similarity of candidates a and b (positions), typically cosine in [-1, 1].
 *   Called O(n·k) times, each pair at most once per pick.
 */
export function mmr(
  relevance: ArrayLike<number>,
  similarity: (a: number, b: number) => number,
  options: MmrOptions,
): number[] {
  const { k } = options;
  const lambda = options.lambda ?? 0.7;
  if (!Number.isInteger(k) || k < 0)
    throw new LocalrecError('bad-input', `mmr: k must be a non-negative integer, got ${k}`);
  if (!(lambda >= 0 && lambda <= 1))
    throw new LocalrecError('bad-input', `mmr: lambda must be in [0, 1], got ${lambda}`);
  const n = relevance.length;
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < n; i++) {
    const r = relevance[i]!;
    if (r !== r) continue;
    if (r < lo) lo = r;
    if (r > hi) hi = r;
  }
  const span = hi > lo ? hi - lo : 1;
  const rel = Float64Array.from({ length: n }, (_, i) => {
    const r = relevance[i]!;
    return r !== r ? NaN : (r - lo) / span;
  });
  // maxSim[i]: the largest similarity of candidate i to anything picked so far.
  const maxSim = new Float64Array(n).fill(-Infinity);
  const taken = new Uint8Array(n);
  const out: number[] = [];
  while (out.length < k) {
    let best = -1;
    let bestValue = -Infinity;
    for (let i = 0; i < n; i++) {
      if (taken[i] || rel[i] !== rel[i]) continue;
      const penalty = out.length === 0 ? 0 : maxSim[i]!;
      const v = lambda * rel[i]! - (1 - lambda) * penalty;
      if (v > bestValue) {
        bestValue = v;
        best = i;
      }
    }
    if (best < 0) break;
    taken[best] = 1;
    out.push(best);
    for (let i = 0; i < n; i++) {
      if (taken[i] || rel[i] !== rel[i]) continue;
      const s = similarity(i, best);
      if (s > maxSim[i]!) maxSim[i] = s;
    }
  }
  return out;
}

/** Cosine similarity of two vectors (0 when either is all zeros). */
export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length)
    throw new LocalrecError('bad-input', `cosine: lengths differ (${a.length} vs ${b.length})`);
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}

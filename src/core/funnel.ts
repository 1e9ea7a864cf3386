/**
 * The last two stages of the recommend funnel (retrieve → **blend → rerank**), as pure functions
 * so they run in the recommender worker and in Node tests alike.
 *
 * 1. Sources: each retriever hands in its own best candidates with its own scores — SASRec's
 *    next-item scores (short-term: the session), the two-tower user tower (long-term), a
 *    long-term profile vector, popular and fresh items (cold start). Their scores live on
 *    different scales, so they are blended by weighted reciprocal-rank fusion (Cormack et al.
 *    2009): `blend(i) = Σ_s w_s / (c + rank_s(i))`, rank from 0, c = 60 by default — robust to
 *    scale, and an item several sources agree on rises.
 * 2. Filters: excluded items (already seen, disliked, blocked) and a custom predicate drop out
 *    before anything is ranked.
 * 3. Rerank: MMR (mmr.ts) over the best blended candidates for diversity, then exploration
 *    slots filled by Thompson sampling over category posteriors (bandit.ts) from the candidates
 *    MMR did not take — so a visitor's list keeps probing categories they might like.
 */
import { LocalrecError } from './errors.ts';
import { thompsonPick, type BetaPosterior } from './bandit.ts';
import { mmr } from './mmr.ts';
import type { Rng } from './random.ts';

/** One retriever's candidates: internal item indices with that retriever's scores. */
export interface CandidateSource {
  /** Name for weights and reasons: `sasrec`, `two-tower`, `long-term`, `popular`, `fresh`, … */
  name: string;
  /** Best first is not required; they are ranked by score here (ties: lower index first). */
  items: { index: number; score: number }[];
  /** Blend weight (default 1). 0 keeps the source for reasons only. */
  weight?: number;
}

/** What {@link runFunnel} takes. */
export interface FunnelOptions {
  /** How many items to return. */
  k: number;
  /** Items never to return (seen, disliked, blocked). */
  exclude?: ReadonlySet<number>;
  /** A custom filter: return false to drop an item. */
  filter?: (index: number) => boolean;
  /** MMR trade-off in [0, 1]: 1 = pure relevance (default 0.7). */
  lambda?: number;
  /** Similarity of two items for MMR (e.g. cosine of their embeddings). Without it, no MMR. */
  similarity?: (a: number, b: number) => number;
  /** Candidates MMR considers: the best `poolSize` blended ones (default 4k, at least k). */
  poolSize?: number;
  /** Slots (out of k) filled by exploration (default 0). */
  explorationSlots?: number;
  /** The category an item is explored under (its first category, say); undefined = never explored. */
  categoryOf?: (index: number) => string | undefined;
  /** Per-category Beta posteriors from the visitor's own clicks and skips. */
  posteriors?: ReadonlyMap<string, BetaPosterior> | Record<string, BetaPosterior>;
  /** Seeded randomness for exploration. */
  rng?: Rng;
  /** Reciprocal-rank constant c (default 60). */
  rrfConstant?: number;
}

/** One recommended item. */
export interface FunnelItem {
  index: number;
  /** Blended score (reciprocal-rank fusion); exploration picks keep theirs. */
  score: number;
  /** Sources that proposed it, strongest contribution first. */
  sources: string[];
  /** Why it is here: the strongest source, or `explore` for an exploration slot. */
  reason: string;
}

function bad(message: string): LocalrecError {
  return new LocalrecError('bad-input', `runFunnel: ${message}`);
}

/**
 * Blends, filters and reranks candidates into at most `k` items.
 *
 * @throws LocalrecError `bad-input` for a bad k, λ, slot count, weight or candidate.
 */
export function runFunnel(sources: readonly CandidateSource[], o: FunnelOptions): FunnelItem[] {
  const { k } = o;
  if (!Number.isInteger(k) || k < 0) throw bad(`k must be a non-negative integer, got ${k}`);
  const slots = o.explorationSlots ?? 0;
  if (!Number.isInteger(slots) || slots < 0 || slots > k)
    throw bad(`explorationSlots must be an integer in 0..k (${k}), got ${slots}`);
  if (slots > 0 && (!o.categoryOf || !o.rng))
    throw bad('exploration slots need categoryOf and rng');
  if (o.lambda !== undefined && !(o.lambda >= 0 && o.lambda <= 1))
    throw bad(`lambda must be in [0, 1], got ${o.lambda}`);
  const c = o.rrfConstant ?? 60;
  if (!(c >= 0 && Number.isFinite(c))) throw bad(`rrfConstant must be finite and >= 0, got ${c}`);

  // Blend: weighted reciprocal-rank fusion, remembering each source's contribution.
  const blended = new Map<number, { score: number; parts: { name: string; part: number }[] }>();
  for (const s of sources) {
    const w = s.weight ?? 1;
    if (!(w >= 0 && Number.isFinite(w)))
      throw bad(`source '${s.name}' has weight ${w}; weights are finite and >= 0`);
    const ranked = s.items
      .filter((it) => {
        if (!Number.isInteger(it.index) || it.index < 0)
          throw bad(`source '${s.name}' has a bad item index ${it.index}`);
        return it.score === it.score; // NaN scores never rank
      })
      .sort((a, b) => b.score - a.score || a.index - b.index);
    const seen = new Set<number>();
    let rank = 0;
    for (const it of ranked) {
      if (seen.has(it.index)) continue; // a source proposing an item twice counts it once
      seen.add(it.index);
      const part = w / (c + rank++);
      const e = blended.get(it.index);
      if (e) {
        e.score += part;
        e.parts.push({ name: s.name, part });
      } else blended.set(it.index, { score: part, parts: [{ name: s.name, part }] });
    }
  }

  // Filters, then the blended order (ties: lower index first).
  const pool = [...blended.entries()]
    .filter(([i]) => !o.exclude?.has(i) && (o.filter ? o.filter(i) : true))
    .sort((a, b) => b[1].score - a[1].score || a[0] - b[0]);

  const toItem = (i: number, e: { score: number; parts: { name: string; part: number }[] }) => {
    const parts = [...e.parts].sort((a, b) => b.part - a.part);
    return {
      index: i,
      score: e.score,
      sources: parts.map((p) => p.name),
      reason: parts[0]?.name ?? 'blend',
    };
  };

  // Rerank for diversity: MMR over the best `poolSize` candidates.
  const main = k - slots;
  const poolSize = Math.max(k, o.poolSize ?? 4 * k);
  const head = pool.slice(0, poolSize);
  const order =
    o.similarity && head.length > 1
      ? mmr(
          head.map(([, e]) => e.score),
          (a, b) => o.similarity!(head[a]![0], head[b]![0]),
          { k: main, lambda: o.lambda ?? 0.7 },
        )
      : head.slice(0, main).map((_, n) => n);
  const out: FunnelItem[] = order.map((n) => toItem(head[n]![0], head[n]![1]));

  // Exploration: Thompson sampling over categories among the candidates not yet taken.
  if (slots > 0) {
    const taken = new Set(out.map((it) => it.index));
    const rest = pool
      .filter(([i]) => !taken.has(i))
      .flatMap(([i, e]) => {
        const category = o.categoryOf!(i);
        return category === undefined ? [] : [{ key: i, category, score: e.score }];
      });
    const picks = thompsonPick(rest, o.posteriors ?? {}, slots, o.rng!);
    for (const p of picks) {
      const e = blended.get(p.key as number)!;
      out.push({ ...toItem(p.key as number, e), reason: 'explore' });
      taken.add(p.key as number);
    }
    // Not enough explorable candidates: fill with the next best by blend.
    for (const [i, e] of pool) {
      if (out.length >= k) break;
      if (!taken.has(i)) {
        out.push(toItem(i, e));
        taken.add(i);
      }
    }
  }
  return out.slice(0, k);
}

/**
 * The questions a page asks of one loaded model version (models.ts) and the visitor's mirror
 * (visitor.ts): what they share, and similar() and explain(). recommend() is in recommend.ts.
 */
import { LocalrecError } from '../../core/errors.ts';
import type { Rng } from '../../core/random.ts';
import type { Explanation, ReasonCode, Recommendation, RecommendedItem } from '../api.ts';
import { explain, sharedCategories } from '../funnel/explain.ts';
import { interestFrom, unit, type ShownList } from '../funnel/interest.ts';
import type { ExplainPromptInput } from '../language/prompts.ts';
import type { ActiveModel } from './models.ts';
import type { Visitor } from './visitor.ts';
import type { Ranker } from '../ranker/api.ts';

/** Most items one call returns. */
export const MAX_K = 1000;
/** Reasons remembered for explain(), most recent lists first. */
const MAX_REASONS = 2000;

/** What the queries share. */
export interface QueryContext {
  ranker: Ranker;
  visitor: Visitor;
  now: () => number;
  lambda: number;
  explorationPer10: number;
  rng: Rng;
  /** Each slot's last list, for counting skips. */
  shown: Map<string, ShownList>;
  /** Why recently recommended items were picked, for explain(). */
  reasons: Map<string, { reason: ReasonCode; sources: string[] }>;
  /** The visitor's stated category interests (onboarding), as the mirror holds them. */
  stated?: () => Readonly<Record<string, number>>;
}

/** The tag of the long-term vector for a model version (profile.vectorModel). */
export const vectorTag = (m: ActiveModel): string => `sasrec@${m.plan.modelVersion}`;

export function bad(message: string): LocalrecError {
  return new LocalrecError('bad-input', message);
}

export const isStringArray = (v: unknown): v is string[] =>
  Array.isArray(v) && v.every((x) => typeof x === 'string');

/** Unit item embeddings of the model's SASRec item table, by id. */
export async function unitVectors(
  ranker: Ranker,
  model: string,
  ids: string[],
): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  if (ids.length === 0) return out;
  const r = await ranker.itemVectors({ model, ids });
  r.ids.forEach((id, i) => out.set(id, unit(r.vectors.subarray(i * r.dim, (i + 1) * r.dim))));
  return out;
}

/** The SASRec item vectors of a version (for the visitor's long-term vector), not normalised. */
export function vectorsOfModel(ranker: Ranker, m: ActiveModel) {
  return async (ids: string[]): Promise<Map<string, Float32Array>> => {
    const out = new Map<string, Float32Array>();
    const r = await ranker.itemVectors({ model: m.sasrec, ids });
    r.ids.forEach((id, i) => out.set(id, r.vectors.slice(i * r.dim, (i + 1) * r.dim)));
    return out;
  };
}

/** Keeps why each item of a list was picked, for explain() (most recent lists first). */
export function remember(c: QueryContext, items: RecommendedItem[]): void {
  for (const it of items) {
    c.reasons.delete(it.id);
    c.reasons.set(it.id, { reason: it.reason, sources: it.sources });
  }
  for (const id of c.reasons.keys()) {
    if (c.reasons.size <= MAX_REASONS) break;
    c.reasons.delete(id);
  }
}

export async function similar(
  c: QueryContext,
  m: ActiveModel,
  itemId: string,
  k: number,
): Promise<Recommendation> {
  const t0 = performance.now();
  if (typeof itemId !== 'string' || itemId === '')
    throw bad('similar: itemId must be a non-empty string');
  if (!Number.isInteger(k) || k < 0 || k > MAX_K)
    throw bad(`similar: k must be an integer in 0..${MAX_K}, got ${String(k)}`);
  const { ranker, visitor } = c;
  // The two-tower item vectors are trained for retrieval (content features included): prefer them.
  let model = m.sasrec;
  let query = (await unitVectors(ranker, model, [itemId])).get(itemId);
  if (m.twoTower) {
    const tt = (await unitVectors(ranker, m.twoTower, [itemId])).get(itemId);
    if (tt) [model, query] = [m.twoTower, tt];
  }
  if (!query)
    throw new LocalrecError('not-found', `similar: the model does not know item '${itemId}'`);
  const disliked = visitor.personal
    ? interestFrom(visitor.recent, visitor.profile.disliked, c.now(), visitor.gapMs).disliked
    : new Set<string>();
  const t1 = performance.now();
  // Dot products find the neighbourhood; cosine orders it (popular items have longer vectors).
  const r = await ranker.searchVector({
    model,
    vector: query,
    k: Math.max(50, 5 * k),
    exclude: [itemId, ...disliked],
  });
  const vectors = await unitVectors(
    ranker,
    model,
    r.items.map((x) => x.id),
  );
  const t2 = performance.now();
  const ranked = r.items
    .map((x) => {
      const v = vectors.get(x.id);
      let s = 0;
      if (v) for (let j = 0; j < v.length; j++) s += v[j]! * query[j]!;
      return { id: x.id, score: s };
    })
    .sort((a, b) => b.score - a.score)
    .slice(0, k);
  const items: RecommendedItem[] = ranked.map((x) => ({
    ...m.catalog.summary(x.id),
    score: x.score,
    reason: 'similar',
    sources: [model.split('#')[0]!],
  }));
  remember(c, items);
  const t3 = performance.now();
  return {
    items,
    modelVersion: m.plan.modelVersion,
    coldStart: false,
    itemsSearched: r.itemsSearched,
    totalItems: m.plan.totalItems,
    timings: { stateMs: t1 - t0, retrieveMs: t2 - t1, rerankMs: t3 - t2, totalMs: t3 - t0 },
  };
}

/**
 * What explain() rests on: the template's sentence, and the facts an LLM may be given (the
 * funnel's reason and sources, the shared categories, the recent items ranked by similarity).
 */
export async function explainFacts(
  c: QueryContext,
  m: ActiveModel,
  itemId: string,
): Promise<{ template: Explanation; input: ExplainPromptInput }> {
  if (typeof itemId !== 'string' || itemId === '')
    throw bad('explain: itemId must be a non-empty string');
  const { visitor } = c;
  const cat = m.catalog;
  const item = cat.summary(itemId);
  const view = visitor.personal
    ? interestFrom(visitor.recent, visitor.profile.disliked, c.now(), visitor.gapMs)
    : undefined;
  const recent = [...new Set([...(view?.history ?? [])].reverse())]
    .filter((id) => id !== itemId)
    .slice(0, 20);
  const vectors = await unitVectors(c.ranker, m.sasrec, [itemId, ...recent]);
  const q = vectors.get(itemId);
  const ranked = q
    ? recent
        .map((id) => {
          const v = vectors.get(id);
          let s = 0;
          if (v) for (let j = 0; j < v.length; j++) s += v[j]! * q[j]!;
          return { id, s };
        })
        .sort((a, b) => b.s - a.s)
    : [];
  const becauseOf = ranked
    .filter((x) => x.s > 0.2)
    .slice(0, 2)
    .map((x) => ({ id: x.id, title: cat.summary(x.id).title }));
  const why = c.reasons.get(itemId);
  const shared = sharedCategories(
    item.categories,
    recent.map((id) => cat.categories(id)),
  );
  const template = explain({
    item,
    reason: why?.reason ?? 'unknown',
    sharedCategories: shared,
    becauseOf,
  });
  const input: ExplainPromptInput = {
    candidate: { id: item.id, title: item.title, categories: item.categories },
    reason: why?.reason ?? 'unknown',
    sources: why?.sources ?? [],
    sharedCategories: shared,
    history: ranked.map((x) => {
      const h = cat.summary(x.id);
      return { id: h.id, title: h.title, categories: h.categories, similarity: x.s };
    }),
  };
  return { template, input };
}

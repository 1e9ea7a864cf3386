/**
 * recommend(), over one loaded model version (models.ts) and the visitor's mirror (visitor.ts):
 * retrieve (SASRec over the short-term sequence, two-tower over the history, the long-term
 * profile vector, popular, fresh; each the top {@link CANDIDATES_PER_SOURCE} after exclusions)
 * → blend (weighted reciprocal-rank fusion, category affinity) → filters → MMR → exploration
 * slots. The weights are in ../funnel/blend.ts.
 *
 * A read: it writes nothing. What it finds due in the profile (the skips of the list it
 * supersedes, a long-term vector for a new model version) it uses at once and hands to the
 * visitor to store later (Visitor.deferProfile).
 */
import type {
  ReasonCode,
  Recommendation,
  RecommendFilters,
  RecommendOptions,
  RecommendedItem,
} from '../api.ts';
import {
  CANDIDATES_PER_SOURCE,
  COLD_START_LAMBDA,
  categorySource,
  itemAffinity,
  rankedSource,
  rerank,
  sourceWeights,
} from '../funnel/blend.ts';
import { categoryAffinities, interestFrom } from '../funnel/interest.ts';
import { strongestStated, withStated } from '../assistant/interests.ts';
import type { ActiveModel } from './models.ts';
import {
  MAX_K,
  bad,
  isStringArray,
  remember,
  unitVectors,
  vectorTag,
  vectorsOfModel,
  type QueryContext,
} from './queries.ts';

/** Checks a recommend() request and fills in defaults. */
export function checkRecommendOptions(o: RecommendOptions | undefined): Required<
  Pick<RecommendOptions, 'k' | 'exclude'>
> & {
  filters: RecommendFilters;
  itemId?: string;
  slot: string;
} {
  if (o !== undefined && (typeof o !== 'object' || o === null))
    throw bad('recommend() takes { k?, context?, exclude?, filters? }');
  const k = o?.k ?? 10;
  if (!Number.isInteger(k) || k < 0 || k > MAX_K)
    throw bad(`recommend: k must be an integer in 0..${MAX_K}, got ${String(k)}`);
  const exclude = o?.exclude ?? [];
  if (!isStringArray(exclude)) throw bad('recommend: exclude must be an array of item ids');
  const filters = o?.filters ?? {};
  if (typeof filters !== 'object' || filters === null)
    throw bad('recommend: filters must be an object');
  const cats = filters.categories;
  if (
    cats !== undefined &&
    (typeof cats !== 'object' ||
      cats === null ||
      (cats.include !== undefined && !isStringArray(cats.include)) ||
      (cats.exclude !== undefined && !isStringArray(cats.exclude)))
  )
    throw bad('recommend: filters.categories is { include?: string[], exclude?: string[] }');
  for (const key of ['excludeSeen', 'excludeDisliked'] as const)
    if (filters[key] !== undefined && typeof filters[key] !== 'boolean')
      throw bad(`recommend: filters.${key} must be a boolean`);
  if (filters.predicate !== undefined && typeof filters.predicate !== 'function')
    throw bad('recommend: filters.predicate must be a function');
  const ctx = o?.context ?? {};
  if (typeof ctx !== 'object' || ctx === null) throw bad('recommend: context must be an object');
  if (ctx.itemId !== undefined && typeof ctx.itemId !== 'string')
    throw bad('recommend: context.itemId must be a string');
  if (ctx.slot !== undefined && (typeof ctx.slot !== 'string' || ctx.slot === ''))
    throw bad('recommend: context.slot must be a non-empty string');
  return { k, exclude, filters, itemId: ctx.itemId, slot: ctx.slot ?? 'default' };
}

/** recommend(): the funnel over one model version and the visitor's mirror. */
export async function recommend(
  c: QueryContext,
  m: ActiveModel,
  options: RecommendOptions | undefined,
): Promise<Recommendation> {
  const t0 = performance.now();
  const o = checkRecommendOptions(options);
  const { visitor, ranker } = c;
  const cat = m.catalog;
  const primary = (id: string) => cat.categories(id)[0];
  const personal = visitor.personal;
  const now = c.now();
  const events = personal ? visitor.recent : [];
  // A read: what it finds due in the profile (the skips of the list this one supersedes, a
  // long-term vector for a new model) is used now and stored later (Visitor.deferProfile).
  const skips = visitor.skipsChange(c.shown.get(o.slot), primary);
  if (skips) visitor.deferProfile(skips);
  const view = interestFrom(events, personal ? visitor.profile.disliked : [], now, visitor.gapMs);
  if (personal && view.history.length > 0) {
    const rebuilt = await visitor.longTermChange(vectorTag(m), vectorsOfModel(ranker, m));
    if (rebuilt) visitor.deferProfile(rebuilt);
  }
  // Stated interests (onboarding) are personal: the mirror holds none without consent.
  const stated = personal ? (c.stated?.() ?? {}) : {};
  const affinity = personal
    ? withStated(
        categoryAffinities(events, visitor.profile, (id) => cat.categories(id), now),
        stated,
      )
    : new Map<string, number>();
  const exclude = new Set<string>(o.exclude);
  if (o.filters.excludeSeen !== false) for (const id of view.seen) exclude.add(id);
  if (o.filters.excludeDisliked !== false) for (const id of view.disliked) exclude.add(id);
  if (o.itemId !== undefined) exclude.add(o.itemId);
  const excludeList = [...exclude];
  const t1 = performance.now();

  // Retrieve.
  const short = view.session.length > 0 ? view.session : view.history;
  // The page's current item is context, not memory: it is used even without consent.
  const input = o.itemId !== undefined ? [...short, o.itemId] : short;
  const weights = sourceWeights({
    personal: input.length > 0,
    historyLength: view.history.length,
    sinceLastMs: view.lastInterestAt === null ? null : now - view.lastInterestAt,
    strongestAffinity: Math.max(0, ...affinity.values()),
    strongestStated: strongestStated(stated),
  });
  const lists: Record<string, string[]> = {};
  const k = CANDIDATES_PER_SOURCE;
  if (weights['sasrec'] && input.length > 0 && m.encoder) {
    const r = await ranker.recommend({
      model: m.sasrec,
      history: input.slice(-m.plan.sasrec.maxLen),
      k,
      exclude: excludeList,
    });
    if (!r.coldStart) lists['sasrec'] = r.items.map((x) => x.id);
  }
  if (weights['two-tower'] && m.twoTower && view.history.length > 0) {
    const r = await ranker.recommend({
      model: m.twoTower,
      history: view.history,
      k,
      exclude: excludeList,
      // The moment, for a user tower with context features (hour, weekday, gap, last type):
      // the visitor's local clock, as in training's "now = the predicted event's time".
      context: {
        time: now,
        previousTime: view.lastInterestAt,
        previousType: view.lastInterestType,
      },
    });
    if (!r.coldStart) lists['two-tower'] = r.items.map((x) => x.id);
  }
  const longTerm = visitor.profile.vector;
  if (weights['long-term'] && longTerm && visitor.profile.vectorModel === vectorTag(m)) {
    const r = await ranker.searchVector({
      model: m.sasrec,
      vector: longTerm,
      k,
      exclude: excludeList,
    });
    lists['long-term'] = r.items.map((x) => x.id);
  }
  const fromList = (numbers: readonly number[]) => {
    const out: string[] = [];
    for (const n of numbers) {
      if (out.length >= k) break;
      const id = cat.idOf(n);
      if (!exclude.has(id)) out.push(id);
    }
    return out;
  };
  if (cat.popular().length > 0) lists['popular'] = fromList(cat.popular());
  else {
    // No metadata: the shards' own order (exports put the most popular items first).
    const r = await ranker.recommend({ model: m.sasrec, history: [], k, exclude: excludeList });
    lists['popular'] = r.items.map((x) => x.id);
  }
  if (cat.fresh().length > 0) lists['fresh'] = fromList(cat.fresh());
  const affinityOf = (n: number) => itemAffinity(cat.categories(cat.idOf(n)), affinity);
  if (weights['categories']) {
    const pool = [...Object.values(lists).flat(), ...fromList(cat.popular().slice(0, 3 * k))];
    const numbers = categorySource(
      pool.map((id) => cat.intern(id)),
      affinityOf,
    );
    if (numbers.length > 0) lists['categories'] = numbers.map((n) => cat.idOf(n));
  }
  const t2 = performance.now();

  // Blend and rerank.
  const candidates = [...new Set(Object.values(lists).flat())];
  const vectors = await unitVectors(ranker, m.sasrec, candidates);
  const byNumber = new Map<number, Float32Array>();
  for (const [id, v] of vectors) byNumber.set(cat.intern(id), v);
  const sources = Object.entries(lists)
    .filter(([name]) => (weights[name] ?? 0) > 0)
    .map(([name, ids]) =>
      rankedSource(
        name,
        ids.map((id) => cat.intern(id)),
        weights[name]!,
        affinityOf,
      ),
    );
  const include = o.filters.categories?.include;
  const excludeCats = o.filters.categories?.exclude;
  const predicate = o.filters.predicate;
  const filter =
    include || excludeCats || predicate
      ? (n: number) => {
          const id = cat.idOf(n);
          const cats = cat.categories(id);
          if (include && !cats.some((x) => include.includes(x))) return false;
          if (excludeCats && cats.some((x) => excludeCats.includes(x))) return false;
          return predicate ? predicate(cat.summary(id)) : true;
        }
      : undefined;
  const excludeNumbers = new Set<number>();
  for (const id of exclude) {
    const n = cat.numberOf(id);
    if (n !== undefined) excludeNumbers.add(n);
  }
  const picked = rerank(sources, {
    k: o.k,
    exclude: excludeNumbers,
    filter,
    lambda: personal && view.history.length > 0 ? c.lambda : Math.min(c.lambda, COLD_START_LAMBDA),
    explorationSlots: Math.round((o.k * c.explorationPer10) / 10),
    vectorOf: (n) => byNumber.get(n),
    categoryOf: (n) => primary(cat.idOf(n)),
    posteriors: personal ? visitor.profile.bandits : {},
    rng: c.rng,
  });
  const items: RecommendedItem[] = picked.map((p) => ({
    ...cat.summary(cat.idOf(p.index)),
    score: p.score,
    reason: p.reason as ReasonCode,
    sources: p.sources,
  }));
  c.shown.set(o.slot, { ids: items.map((x) => x.id), at: now });
  remember(c, items);
  const t3 = performance.now();
  return {
    items,
    modelVersion: m.plan.modelVersion,
    coldStart: !(personal && view.history.length > 0),
    itemsSearched: m.items,
    totalItems: m.plan.totalItems,
    timings: { stateMs: t1 - t0, retrieveMs: t2 - t1, rerankMs: t3 - t2, totalMs: t3 - t0 },
  };
}

/**
 * Catalog features of every item, shared by both models: the two-tower item tower embeds
 * them (models/two-tower/model.ts) and SASRec adds a learned mix of them to its item
 * embeddings (models/sasrec/item-features.ts). Pure TypeScript (no tfjs): typed arrays
 * indexed by internal item index 0..numItems (0 = padding, all-zero features).
 *
 * - categories: the item's categories (genres) as ids into a vocabulary built from the
 *   catalog (most frequent first, ties by name), at most `maxCategories` per item;
 * - title tokens: lower-cased letter/digit runs of the title, minus a few stop words, plus a
 *   decade token for a year ("1995" → "1990s"), deduplicated, hashed (FNV-1a) into
 *   `titleBuckets` buckets, at most `maxTitleTokens` per item. Hashing keeps the table a fixed
 *   size however many distinct words a catalog has; collisions only share an embedding. Only
 *   tokens found in at least `minTokenItems` titles of the catalog are kept: a word of one
 *   title alone can teach nothing about another item, and for an item without training events
 *   its bucket would hold only what colliding words learned (noise);
 * - popularity bucket: 0 when the item has no training event (a new item), else
 *   1 + floor(log2(training events)), capped at `popBuckets` − 1;
 * - known: 1 when the item has a training event, i.e. its id embedding was ever trained.
 *
 * Categories and titles are catalog metadata, so they are used for every item; popularity and
 * `known` come from the training sequences only (never from validation or test events).
 */
import { LocalrecError } from '../../src/core/errors.ts';
import type { ItemInfo, SplitData } from '../../src/core/types.ts';

/** How {@link buildItemFeatures} tokenises, buckets and caps the features. */
export interface FeatureOptions {
  /** Hash buckets of title tokens (ids 1..titleBuckets; 0 = none). */
  titleBuckets: number;
  maxTitleTokens: number;
  /** Keep a title token only when at least this many catalog titles have it. */
  minTokenItems: number;
  /** Categories kept per item. */
  maxCategories: number;
  /** Largest category vocabulary; rarer categories are dropped. */
  maxCategoryVocab: number;
  /** Popularity buckets, bucket 0 = no training events. */
  popBuckets: number;
}

/** The options {@link buildItemFeatures} uses where none is given. */
export const defaultFeatureOptions: FeatureOptions = {
  titleBuckets: 1024,
  maxTitleTokens: 8,
  minTokenItems: 2,
  maxCategories: 6,
  maxCategoryVocab: 512,
  popBuckets: 16,
};

/** Every item's features, as {@link buildItemFeatures} builds them (see this module's header). */
export interface ItemFeatures {
  numItems: number;
  /** Category vocabulary: category id k (1-based) is `categoryVocab[k - 1]`. */
  categoryVocab: string[];
  maxCategories: number;
  /** (numItems+1, maxCategories) category ids, 0 = none. */
  categories: Int32Array;
  titleBuckets: number;
  maxTitleTokens: number;
  /** (numItems+1, maxTitleTokens) token buckets 1..titleBuckets, 0 = none. */
  titleTokens: Int32Array;
  popBuckets: number;
  /** (numItems+1) training events per item (also the popularity baseline's score). */
  counts: Float32Array;
  /** (numItems+1) popularity bucket. */
  popBucket: Int32Array;
  /** (numItems+1) 1 when the item has a training event, else 0. */
  known: Float32Array;
}

const STOP_WORDS = new Set(['the', 'a', 'an', 'of', 'and', 'la', 'le', 'les', 'el', 'il']);

/** The title's tokens (before hashing), in order, deduplicated. */
export function titleTokens(title: string): string[] {
  const out: string[] = [];
  for (const raw of title.toLowerCase().split(/[^\p{L}\p{N}]+/u)) {
    if (raw === '' || STOP_WORDS.has(raw)) continue;
    out.push(raw);
    // A year also gives its decade, which items of neighbouring years share.
    if (/^(18|19|20)\d\d$/.test(raw)) out.push(`${raw.slice(0, 3)}0s`);
  }
  return [...new Set(out)];
}

/** FNV-1a over UTF-16 code units, as an unsigned 32-bit integer. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** A token's bucket in 1..buckets. */
export function tokenBucket(token: string, buckets: number): number {
  return 1 + (fnv1a(token) % buckets);
}

/** 0 for no events, else 1 + floor(log2(count)), capped at popBuckets − 1. */
export function popularityBucket(count: number, popBuckets: number): number {
  return count <= 0 ? 0 : Math.min(popBuckets - 1, 1 + Math.floor(Math.log2(count)));
}

/** Training events per item: every occurrence in the split's training sequences. */
export function trainCounts(split: SplitData): Float32Array {
  const counts = new Float32Array(split.numItems + 1);
  for (const u of split.users) for (const i of u.train) counts[i]! += 1;
  counts[0] = 0;
  return counts;
}

/**
 * Builds the features of every item of the split. `items` is the catalog metadata (matched by
 * external id; items without metadata get no categories and no title tokens).
 */
export function buildItemFeatures(
  split: SplitData,
  items: ItemInfo[],
  opts: Partial<FeatureOptions> = {},
): ItemFeatures {
  const o: FeatureOptions = { ...defaultFeatureOptions };
  for (const [k, x] of Object.entries(opts)) if (x !== undefined) o[k as keyof FeatureOptions] = x;
  for (const k of Object.keys(defaultFeatureOptions) as (keyof FeatureOptions)[]) {
    if (!Number.isInteger(o[k]) || o[k] < 1)
      throw new LocalrecError('bad-input', `${k} must be a positive integer, got ${o[k]}`);
  }
  if (o.popBuckets < 2)
    throw new LocalrecError('bad-input', `popBuckets must be ≥ 2, got ${o.popBuckets}`);
  const N = split.numItems;
  const byId = new Map(items.map((i) => [i.id, i]));

  const freq = new Map<string, number>();
  for (const it of items)
    for (const c of new Set(it.categories)) freq.set(c, (freq.get(c) ?? 0) + 1);
  const categoryVocab = [...freq.entries()]
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .slice(0, o.maxCategoryVocab)
    .map(([c]) => c);
  const catId = new Map(categoryVocab.map((c, k) => [c, k + 1]));

  const tokensOf = (info: ItemInfo | undefined) => (info ? titleTokens(info.title) : []);
  const df = new Map<string, number>();
  for (const it of items) for (const t of tokensOf(it)) df.set(t, (df.get(t) ?? 0) + 1);

  const categories = new Int32Array((N + 1) * o.maxCategories);
  const tokens = new Int32Array((N + 1) * o.maxTitleTokens);
  for (let i = 1; i <= N; i++) {
    const info = byId.get(split.itemIds[i]!);
    if (!info) continue;
    let k = 0;
    for (const c of new Set(info.categories)) {
      const id = catId.get(c);
      if (id === undefined || k >= o.maxCategories) continue;
      categories[i * o.maxCategories + k++] = id;
    }
    const buckets = [
      ...new Set(
        tokensOf(info)
          .filter((t) => (df.get(t) ?? 0) >= o.minTokenItems)
          .map((t) => tokenBucket(t, o.titleBuckets)),
      ),
    ];
    buckets.slice(0, o.maxTitleTokens).forEach((b, j) => (tokens[i * o.maxTitleTokens + j] = b));
  }

  const counts = trainCounts(split);
  const popBucket = new Int32Array(N + 1);
  const known = new Float32Array(N + 1);
  for (let i = 1; i <= N; i++) {
    popBucket[i] = popularityBucket(counts[i]!, o.popBuckets);
    known[i] = counts[i]! > 0 ? 1 : 0;
  }
  return {
    numItems: N,
    categoryVocab,
    maxCategories: o.maxCategories,
    categories,
    titleBuckets: o.titleBuckets,
    maxTitleTokens: o.maxTitleTokens,
    titleTokens: tokens,
    popBuckets: o.popBuckets,
    counts,
    popBucket,
    known,
  };
}

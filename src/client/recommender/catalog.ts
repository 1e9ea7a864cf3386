/**
 * The item catalog one model version ships, as the funnel reads it: metadata (titles,
 * categories, links, popularity, addedAt) by item id, the dense item numbers the funnel ranks
 * with, and the popular and fresh lists for cold starts. Metadata shards arrive one by one;
 * every view here covers what has arrived. Pure: tested in Node.
 */
import type { MetadataShard } from '../../core/metadata.ts';
import type { ItemInfo } from '../../core/types.ts';
import type { ItemSummary } from '../api.ts';

/** How many items the popular and fresh lists keep (enough for any k plus exclusions). */
export const LIST_SIZE = 1000;

export class ItemCatalog {
  private readonly numbers = new Map<string, number>();
  private readonly ids: string[] = [];
  private readonly infos: (ItemInfo | undefined)[] = [];
  private popularList: number[] = [];
  private freshList: number[] = [];
  private withMetadata = 0;

  /** Items with metadata. */
  get size(): number {
    return this.withMetadata;
  }

  /** The dense number of an item id, assigned on first sight (metadata or a model's answer). */
  intern(id: string): number {
    let n = this.numbers.get(id);
    if (n === undefined) {
      n = this.ids.length;
      this.numbers.set(id, n);
      this.ids.push(id);
      this.infos.push(undefined);
    }
    return n;
  }

  numberOf(id: string): number | undefined {
    return this.numbers.get(id);
  }

  idOf(n: number): string {
    return this.ids[n]!;
  }

  info(id: string): ItemInfo | undefined {
    const n = this.numbers.get(id);
    return n === undefined ? undefined : this.infos[n];
  }

  /** What a page renders; an item without metadata gets its id as title. */
  summary(id: string): ItemSummary {
    const i = this.info(id);
    if (!i) return { id, title: id, categories: [] };
    const out: ItemSummary = { id, title: i.title, categories: [...i.categories] };
    for (const k of ['url', 'image', 'popularity', 'addedAt'] as const)
      if (i[k] !== undefined) (out as unknown as Record<string, unknown>)[k] = i[k];
    return out;
  }

  /** Every item with metadata, in the order first seen. */
  *items(): IterableIterator<ItemInfo> {
    for (const i of this.infos) if (i) yield i;
  }

  categories(id: string): readonly string[] {
    return this.info(id)?.categories ?? [];
  }

  /** Adds a metadata shard (items already known keep their numbers). */
  addMetadata(shard: Pick<MetadataShard, 'items'>): void {
    const added: number[] = [];
    for (const item of shard.items) {
      const n = this.intern(item.id);
      if (!this.infos[n]) this.withMetadata++;
      this.infos[n] = item;
      added.push(n);
    }
    const pop = (n: number) => this.infos[n]?.popularity ?? -1;
    const age = (n: number) => this.infos[n]?.addedAt ?? -1;
    this.popularList = mergeTop(this.popularList, added, pop);
    this.freshList = mergeTop(
      this.freshList,
      added.filter((n) => this.infos[n]?.addedAt !== undefined),
      age,
    );
  }

  /** Item numbers by popularity (interactions in the training data), most first; ties by number. */
  popular(): readonly number[] {
    return this.popularList;
  }

  /** Item numbers newest first by `addedAt`; ties by number. */
  fresh(): readonly number[] {
    return this.freshList;
  }
}

/** The best {@link LIST_SIZE} of `list ∪ added` by `key` (descending; ties: lower number). */
function mergeTop(list: number[], added: number[], key: (n: number) => number): number[] {
  const floor = list.length >= LIST_SIZE ? key(list[list.length - 1]!) : -Infinity;
  let fresh = added.filter((n) => key(n) >= floor);
  if (fresh.length > LIST_SIZE) {
    // A native numeric sort finds the cut; only what reaches it is sorted with the comparator
    // (a 55,000-item shard would otherwise cost a comparator sort of all of them).
    const keys = Float64Array.from(fresh, key).sort();
    const cut = keys[keys.length - LIST_SIZE]!;
    fresh = fresh.filter((n) => key(n) >= cut);
  }
  const merged = new Set(list);
  for (const n of fresh) merged.add(n);
  return [...merged].sort((a, b) => key(b) - key(a) || a - b).slice(0, LIST_SIZE);
}

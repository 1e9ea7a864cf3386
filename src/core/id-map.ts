/**
 * A bidirectional map between external string ids and dense internal indices 1..size.
 * Index 0 is reserved for padding so that models can use 0 as "no item" in fixed-length
 * sequences; `ids[0]` is therefore the empty string.
 */
export class IdMap {
  /** External id of each internal index; `ids[0] = ''` (padding). */
  readonly ids: string[] = [''];
  private readonly index = new Map<string, number>();

  /** Builds a map whose indices follow the order of `ids` (duplicates keep their first index). */
  static from(ids: Iterable<string>): IdMap {
    const m = new IdMap();
    for (const id of ids) m.add(id);
    return m;
  }

  /** Number of real ids (padding not counted), i.e. the largest index. */
  get size(): number {
    return this.ids.length - 1;
  }

  /** The index of `id`, assigning the next free index on first sight. */
  add(id: string): number {
    let i = this.index.get(id);
    if (i === undefined) {
      i = this.ids.length;
      this.ids.push(id);
      this.index.set(id, i);
    }
    return i;
  }

  /** The index of `id`, or 0 (padding) when it is unknown. */
  get(id: string): number {
    return this.index.get(id) ?? 0;
  }

  has(id: string): boolean {
    return this.index.has(id);
  }

  /** The external id of index `i`, or undefined when out of range (0 gives ''). */
  id(i: number): string | undefined {
    return this.ids[i];
  }
}

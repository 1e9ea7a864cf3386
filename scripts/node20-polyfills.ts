// vitest 5 wants Node 22; on Node 20 its default reporter calls Map.groupBy (Node 21+) when
// it prints failures, and crashes, hiding them. This fills that one gap in the main process.
const M = Map as unknown as { groupBy?: unknown };
if (typeof M.groupBy !== 'function') {
  M.groupBy = function groupBy<K, V>(items: Iterable<V>, key: (v: V, i: number) => K): Map<K, V[]> {
    const out = new Map<K, V[]>();
    let i = 0;
    for (const v of items) {
      const k = key(v, i++);
      const list = out.get(k);
      if (list) list.push(v);
      else out.set(k, [v]);
    }
    return out;
  };
}
const O = Object as unknown as { groupBy?: unknown };
if (typeof O.groupBy !== 'function') {
  O.groupBy = function groupBy<V>(
    items: Iterable<V>,
    key: (v: V, i: number) => PropertyKey,
  ): Record<PropertyKey, V[]> {
    const out: Record<PropertyKey, V[]> = Object.create(null);
    let i = 0;
    for (const v of items) (out[key(v, i++)] ??= []).push(v);
    return out;
  };
}

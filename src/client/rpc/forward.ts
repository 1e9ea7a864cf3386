/**
 * Forwarding layers derived from a list of method names (comlink's `Remote<T>` idea, at run
 * time): each face of the SDK — the page's proxy of the worker, the in-process object's
 * closed-check, the embed's `window.localrec` — is one `forwarders()` call over
 * `RECOMMENDER_METHODS` (../api.ts) instead of a hand-written method per method.
 */

/** Calls method `name` with `args` somewhere (a worker, an implementation, a queue). */
export type Forward<K extends string> = (name: K, args: unknown[]) => Promise<unknown>;

/**
 * An object with one method per name of `names`, each handing its name and arguments to
 * `forward`. `T` gives the methods their types: every listed method of `T` must return a promise.
 *
 * ```ts
 * const face = forwarders<Recommender, RecommenderMethod>(RECOMMENDER_METHODS, (name, args) =>
 *   invoke(remote, name, args),
 * );
 * ```
 */
export function forwarders<T, K extends keyof T & string>(
  names: readonly K[],
  forward: Forward<K>,
): Pick<T, K> {
  const out: Record<string, (...args: unknown[]) => Promise<unknown>> = {};
  for (const name of names) out[name] = (...args: unknown[]) => forward(name, args);
  return out as unknown as Pick<T, K>;
}

/** Calls `target[name](...args)`: the other end of a {@link Forward}, for a method `T` has. */
export function invoke<T, K extends keyof T & string>(
  target: T,
  name: K,
  args: unknown[],
): Promise<unknown> {
  return (target[name] as (...a: unknown[]) => Promise<unknown>)(...args);
}

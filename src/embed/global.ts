/**
 * `window.localrec`: the embed's API for a page's own code (custom events, consent banners), and
 * the command queue a page may fill before the script has loaded:
 *
 * ```js
 * window.localrec = window.localrec || [];
 * localrec.push(['track', { type: 'like', itemId: '42' }]);   // runs once the script is in
 * localrec.push((lr) => lr.on('ready', () => console.log('recommendations work')));
 * ```
 *
 * Every method is safe to call at any time: before the recommender is up it waits for it, and a
 * failure is logged (`[localrec] …`) and handed back as a rejected promise to a caller that
 * asked — a promise nobody handles never becomes an unhandled rejection on the host page.
 */
import {
  RECOMMENDER_METHODS,
  type RecommenderCalls,
  type RecommenderChange,
  type RecommenderMethod,
  type RecommenderWarning,
  type Recommender,
} from '../client/api.ts';
import { forwarders, invoke } from '../client/rpc/forward.ts';
import { logError, logWarning } from './log.ts';

/** What {@link LocalrecGlobal.on} can listen to. */
export interface LocalrecEvents {
  /** The recommender is up: the widget renders and calls are answered. */
  ready: [];
  /** The recommender could not start, or a call failed. */
  error: [error: unknown];
  /** Something was stored, consent changed, a new model version is in, … */
  change: [change: RecommenderChange];
  /** A problem that failed nothing (a cache that could not be written, …). */
  warning: [warning: RecommenderWarning];
}

/** An event {@link LocalrecGlobal.on} takes: `ready`, `error`, `change` or `warning`. */
export type LocalrecEventName = keyof LocalrecEvents;

/** One queued command: `[method, ...arguments]`, or a function called with the API. */
export type LocalrecCommand = [string, ...unknown[]] | ((api: LocalrecGlobal) => unknown);

/**
 * `window.localrec`: every method of the SDK's {@link Recommender} that {@link RECOMMENDER_METHODS}
 * lists (the same calls, answered by the page's recommender once it is up), plus `ready`, `on`
 * and `push`. `setConsent`, `refresh` and `forget` re-render the widgets before they resolve.
 */
export interface LocalrecGlobal extends RecommenderCalls {
  /** Resolves once the recommender is up; rejects (handled: no console noise) if it cannot start. */
  readonly ready: Promise<void>;
  /** Listens to an event; returns the unsubscribe function. `ready` fires late listeners at once. */
  on<E extends LocalrecEventName>(
    event: E,
    listener: (...args: LocalrecEvents[E]) => void,
  ): () => void;
  /** Runs commands now (the same shapes the pre-load queue takes); returns how many ran. */
  push(...commands: LocalrecCommand[]): number;
}

/** What the API runs on (the embed controller, or a test's fake). */
export interface GlobalBackend {
  /** The recommender once started; rejects with why it could not start. */
  recommender: Promise<Recommender>;
  /** Re-renders every mounted widget (never rejects). */
  refreshWidgets(): Promise<void>;
}

/** The API plus the controller's side: emitting events. */
export interface GlobalHandle {
  api: LocalrecGlobal;
  emit<E extends LocalrecEventName>(event: E, ...args: LocalrecEvents[E]): void;
}

/** Calls after which the widgets re-render: what they show may have changed. */
const REFRESHES_WIDGETS: ReadonlySet<RecommenderMethod> = new Set([
  'setConsent',
  'refresh',
  'forget',
]);

/** What a queued `[method, ...args]` command may name. */
const COMMANDS = [...RECOMMENDER_METHODS, 'on'] as const;

function handled<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {});
  return promise;
}

/**
 * Builds `window.localrec` over a backend (see {@link installGlobal} to expose it). The caller
 * keeps `emit`, so only it can say when the recommender is `ready` or what `change`d.
 *
 * ```ts
 * import { createRecommender } from 'localrec';
 * import { createLocalrecGlobal, installGlobal } from 'localrec/embed';
 *
 * const recommender = createRecommender({
 *   server: 'https://recs.example',
 *   publicKey: 'BASE64_PUBLIC_KEY',
 * });
 * const { api, emit } = createLocalrecGlobal({ recommender, refreshWidgets: async () => {} });
 * recommender.then(() => emit('ready'), (e: unknown) => emit('error', e));
 * installGlobal(window, api);
 * ```
 */
export function createLocalrecGlobal(backend: GlobalBackend): GlobalHandle {
  type Listener = (...args: never[]) => void;
  const listeners = new Map<LocalrecEventName, Set<Listener>>();
  let isReady = false;
  let startError: unknown = undefined;

  const emit = <E extends LocalrecEventName>(event: E, ...args: LocalrecEvents[E]): void => {
    if (event === 'ready') isReady = true;
    for (const listener of [...(listeners.get(event) ?? [])]) {
      try {
        (listener as (...a: LocalrecEvents[E]) => void)(...args);
      } catch (e) {
        logWarning(`a '${event}' listener threw:`, e);
      }
    }
  };

  const ready = handled(
    backend.recommender.then(
      () => undefined,
      (e) => {
        startError = e;
        throw e;
      },
    ),
  );

  const call = <T>(name: string, run: (r: Recommender) => Promise<T>): Promise<T> =>
    handled(
      backend.recommender.then(run).catch((e: unknown) => {
        // The start failure was logged once already; every call repeating it would be noise.
        if (e !== startError) {
          logWarning(`${name}() failed:`, e);
          emit('error', e);
        }
        throw e;
      }),
    );

  const thenRefresh = <T>(value: T): Promise<T> => backend.refreshWidgets().then(() => value);

  const api: LocalrecGlobal = {
    ready,
    ...forwarders<RecommenderCalls, RecommenderMethod>(RECOMMENDER_METHODS, (name, args) =>
      call(name, async (r) => {
        const value = await invoke(r, name, args);
        return REFRESHES_WIDGETS.has(name) ? thenRefresh(value) : value;
      }),
    ),
    on(event, listener) {
      if (typeof listener !== 'function') {
        logWarning(`on('${String(event)}') needs a function`);
        return () => {};
      }
      let set = listeners.get(event);
      if (!set) listeners.set(event, (set = new Set()));
      set.add(listener as Listener);
      if (event === 'ready' && isReady) {
        // Late listeners still hear it, asynchronously like everyone else.
        queueMicrotask(() => {
          if (!set.has(listener as Listener)) return;
          try {
            (listener as () => void)();
          } catch (e) {
            logWarning("a 'ready' listener threw:", e);
          }
        });
      }
      return () => void set.delete(listener as Listener);
    },
    push(...commands) {
      let ran = 0;
      for (const command of commands) if (runCommand(api, command)) ran++;
      return ran;
    },
  };
  return { api, emit };
}

function runCommand(api: LocalrecGlobal, command: unknown): boolean {
  try {
    if (typeof command === 'function') {
      const result: unknown = command(api);
      if (result instanceof Promise) handled(result);
      return true;
    }
    if (Array.isArray(command) && typeof command[0] === 'string') {
      const [name, ...args] = command as [string, ...unknown[]];
      const method = COMMANDS.find((m) => m === name);
      if (method) {
        (api[method] as (...a: unknown[]) => unknown)(...args);
        return true;
      }
    }
    logError(
      'unknown command',
      command,
      `(use ['${COMMANDS.join("' | '")}', …args] or a function)`,
    );
  } catch (e) {
    logWarning('a command threw:', e);
  }
  return false;
}

/**
 * Puts `api` at `win.localrec` and replays the commands a page queued there before the script
 * loaded. Refuses (logs, returns false) when `window.localrec` is something else of the page's.
 *
 * ```ts
 * import { createLocalrecGlobal, installGlobal, type GlobalBackend } from 'localrec/embed';
 *
 * declare const backend: GlobalBackend; // your recommender and widgets
 * // The page queued `localrec.push(['track', { type: 'like', itemId: '42' }])` earlier:
 * // installing runs that track() now, against the backend's recommender.
 * const { api } = createLocalrecGlobal(backend);
 * const installed = installGlobal(window, api);
 * ```
 */
export function installGlobal(host: object, api: LocalrecGlobal): boolean {
  // `window` has no `localrec` in its type: the property is the page's and ours to share.
  const win = host as { localrec?: unknown };
  const existing = win.localrec;
  if (existing !== undefined && existing !== null && !Array.isArray(existing)) {
    logError(
      'window.localrec is already used by something else on this page; the API is not exposed',
    );
    return false;
  }
  const queued: unknown[] = Array.isArray(existing) ? existing.slice() : [];
  win.localrec = api;
  for (const command of queued) runCommand(api, command);
  return true;
}

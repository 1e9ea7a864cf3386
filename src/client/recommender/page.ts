/**
 * `createRecommender()`: the SDK's default entry. The recommender runs in a Web Worker
 * (workers/recommender.worker.ts, which runs `createLocalRecommender()` there); this is the
 * page's side — one object with the same {@link Recommender} interface whose calls go through
 * comlink. Callbacks (`onProgress`, `onChange`, `onWarning`, explain()'s `stream`) cross as
 * comlink proxies, and
 * `LocalrecError` keeps its `code` on the way back (../rpc/errors-transfer.ts).
 */
import { proxy, releaseProxy, wrap, type Remote } from 'comlink';
import { LocalrecError } from '../../core/errors.ts';
import { registerErrorTransfer } from '../rpc/errors-transfer.ts';
import { browserGlobalPrivacyControl } from '../federated/gpc.ts';
import { serverBase } from '../loader/loader.ts';
import {
  RECOMMENDER_METHODS,
  type Explanation,
  type Recommender,
  type RecommenderChange,
  type RecommenderMethod,
  type RecommenderOptions,
} from '../api.ts';
import { forwarders, invoke } from '../rpc/forward.ts';
import { ChangeListeners } from './listeners.ts';

/** The options that cross to the worker as data. */
export type PlainRecommenderOptions = Omit<
  RecommenderOptions,
  'onProgress' | 'onChange' | 'onWarning'
>;

/**
 * What the worker exposes: a factory handing back a proxy of the in-process recommender. The
 * callbacks are separate arguments because comlink turns only top-level arguments into proxies.
 */
export interface RecommenderWorkerApi {
  create(
    options: PlainRecommenderOptions,
    onChange: RecommenderOptions['onChange'],
    onProgress: RecommenderOptions['onProgress'],
    onWarning: RecommenderOptions['onWarning'],
  ): Promise<Recommender>;
}

/** Options of {@link createRecommender}. */
export interface WorkerRecommenderOptions extends RecommenderOptions {
  /** A worker already running workers/recommender.worker.ts (default: a new one). */
  worker?: Worker;
}

/**
 * The worker's file by its compiled name: the site's bundler finds it in the installed package
 * (lib/workers/recommender.worker.js), and vite resolves `.js` to the `.ts` in a checkout.
 */
function startWorker(): Worker {
  return new Worker(new URL('../../../workers/recommender.worker.js', import.meta.url), {
    type: 'module',
  });
}

/**
 * Starts the recommender worker, which verifies and loads the model and opens the visitor's
 * memory; resolves once recommendations work (the first shard is in).
 *
 * ```ts
 * import { createRecommender } from 'localrec';
 *
 * const recs = await createRecommender({
 *   server: 'https://recs.example', // your `localrec serve`
 *   publicKey: 'BASE64_PUBLIC_KEY', // the line of your `localrec keygen` .pub file
 *   consent: { personalization: true }, // from your consent banner
 *   onProgress: (p) => console.log(p.text), // "downloading model 1.2/4.0 MB", …
 * });
 * await recs.track({ type: 'view', itemId: '42', dwellMs: 8000 });
 * const { items } = await recs.recommend({ k: 10 });
 * console.log(items.map((item) => `${item.title}: ${item.reason}`));
 * ```
 *
 * @throws LocalrecError as `createLocalRecommender()`; `internal` when the worker cannot start.
 */
export async function createRecommender(options: WorkerRecommenderOptions): Promise<Recommender> {
  registerErrorTransfer();
  if (!options || typeof options !== 'object')
    throw new LocalrecError('bad-input', 'createRecommender() takes { server, publicKey, … }');
  const { worker: given, onProgress, onChange, onWarning, ...plain } = options;
  const worker = given ?? startWorker();
  const listeners = new ChangeListeners((e) =>
    console.warn('[localrec] an onChange listener threw', e),
  );
  listeners.add(onChange);
  const fanout = (c: RecommenderChange) => listeners.emit(c);
  // A worker that fails to load never answers comlink calls: fail instead of hanging.
  let onError: (ev: ErrorEvent) => void = () => {};
  const failed = new Promise<never>((_, reject) => {
    onError = (ev) =>
      reject(
        new LocalrecError(
          'internal',
          `the recommender worker failed: ${ev.message || 'it could not be loaded'}`,
        ),
      );
    worker.addEventListener('error', onError);
  });
  const api = wrap<RecommenderWorkerApi>(worker);
  let remote: Remote<Recommender>;
  try {
    remote = (await Promise.race([
      api.create(
        // A relative server URL means the page's, not the worker script's.
        {
          ...plain,
          server: serverBase(plain.server),
          // The page's signal: a worker may not see the one its page has.
          globalPrivacyControl: plain.globalPrivacyControl ?? browserGlobalPrivacyControl(),
        },
        proxy(fanout),
        onProgress ? proxy(onProgress) : undefined,
        onWarning ? proxy(onWarning) : undefined,
      ),
      failed,
    ])) as unknown as Remote<Recommender>;
  } catch (e) {
    worker.terminate();
    throw e;
  } finally {
    worker.removeEventListener('error', onError);
  }

  // The page hears `online` for sure (a worker's own event depends on the browser): queued
  // federated updates go out as soon as the network is back.
  const onOnline = () => void remote.flushOutbox().catch(() => undefined);
  globalThis.addEventListener?.('online', onOnline);

  let closed = false;
  const calls = forwarders<Recommender, RecommenderMethod>(RECOMMENDER_METHODS, (name, args) =>
    invoke(remote, name, args),
  );
  const recommender: Recommender = {
    ...calls,
    recommend: async (request) => {
      if (request?.filters?.predicate !== undefined)
        throw new LocalrecError(
          'bad-input',
          'filters.predicate is a function and cannot cross to the worker; use filters.categories, exclude, or createLocalRecommender()',
        );
      return calls.recommend(request);
    },
    explain: async (itemId, options) => {
      if (options?.signal !== undefined)
        throw new LocalrecError(
          'bad-input',
          'explain: an AbortSignal cannot cross to the worker; use createLocalRecommender() to cancel',
        );
      if (typeof options?.stream !== 'function') return calls.explain(itemId, options);
      // comlink proxies only top-level arguments: the stream goes as a third one (assistant/calls.ts).
      const { stream, ...rest } = options;
      const explain = remote.explain as unknown as (...a: unknown[]) => Promise<Explanation>;
      return explain(itemId, rest, proxy(stream));
    },
    onChange: (listener) => listeners.add(listener),
    async close() {
      if (closed) return;
      closed = true;
      globalThis.removeEventListener?.('online', onOnline);
      try {
        await remote.close();
      } finally {
        remote[releaseProxy]();
        api[releaseProxy]();
        listeners.clear();
        worker.terminate();
      }
    },
  };
  return recommender;
}

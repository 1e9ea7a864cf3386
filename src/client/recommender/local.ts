/**
 * `createLocalRecommender()`: the recommender in the calling thread. The worker
 * (workers/recommender.worker.ts) runs exactly this for `createRecommender()`; tests use it
 * directly, with an injected `fetch`. See ../api.ts for the contract.
 *
 * Parts: ../loader/ (signed manifest, verified blobs, Cache Storage), models.ts (progressive
 * load, version switches), visitor.ts (memory, consent, the in-memory mirror), queries.ts
 * (recommend, similar, explain) over an in-process ranker (../ranker/).
 */
import { decodeDelta } from '../../core/delta.ts';
import { LocalrecError } from '../../core/errors.ts';
import { parsePublicKey } from '../../core/manifest.ts';
import { Rng } from '../../core/random.ts';
import { DEVICE_CHOICES } from '../ranker/device.ts';
import { BlobCache, type CacheStorageLike } from '../loader/cache.ts';
import { manifestLlmSource } from '../loader/llm-source.ts';
import { Loader, serverBase } from '../loader/loader.ts';
import { keptWith } from '../loader/plan.ts';
import { browserGlobalPrivacyControl } from '../federated/gpc.ts';
import { OutboxSender } from '../federated/outbox.ts';
import { createRanker, type RankerOptions } from '../ranker/ranker.ts';
import {
  RECOMMENDER_METHODS,
  type Recommender,
  type RecommenderCalls,
  type RecommenderChange,
  type RecommenderMethod,
  type RecommenderOptions,
  type RecommenderStatus,
  type RecommenderWarning,
} from '../api.ts';
import { forwarders, invoke } from '../rpc/forward.ts';
import { Activity } from '../trainer/activity.ts';
import { watchPosts } from '../trainer/network.ts';
import { checkTrainerOptions, TRAINER_HEARS, trainingBlockedBy } from '../trainer/rules.ts';
import { FederatedTrainer } from '../trainer/scheduler.ts';
import type { StartTrainerWorker } from '../trainer/worker-client.ts';
import { ChangeListeners } from './listeners.ts';
import { listCatalog } from './listing.ts';
import { ModelManager } from './models.ts';
import { similar, vectorTag, vectorsOfModel, type QueryContext } from './queries.ts';
import { assistantCalls, checkLlmChoice, type AssistantCallsOptions } from '../assistant/calls.ts';
import { recommend } from './recommend.ts';
import { Visitor } from './visitor.ts';

/** Options only the in-process recommender takes (none of them can cross to a worker). */
export interface LocalRecommenderOptions extends RecommenderOptions {
  /** The `fetch` used for the manifest and blobs (default: the global one). Tests inject one. */
  fetch?: typeof fetch;
  /**
   * Where ONNX Runtime's .wasm is (see ../ranker/ranker.ts); the worker passes vite's URL
   * (../ranker/ort-assets.ts).
   */
  wasmPaths?: RankerOptions['wasmPaths'];
  /** Clock in ms since the epoch (default `Date.now`). */
  now?: () => number;
  /** Cache Storage stand-in; null: IndexedDB only (default: `globalThis.caches`). */
  caches?: CacheStorageLike | null;
  /** Inactivity that ends a session (default 30 minutes). */
  sessionGapMs?: number;
  /** Starts the federated trainer's worker (default: workers/trainer.worker.ts); tests inject one. */
  startTrainerWorker?: StartTrainerWorker;
  /** The LLM's models (the manifest's offer), worker, device probe and time limit; tests inject them. */
  llmRuntime?: Pick<AssistantCallsOptions, 'source' | 'startWorker' | 'probe' | 'timeoutMs'>;
}

export const DEFAULT_NAME = 'localrec';

export const DEFAULT_REFRESH_MS = 60 * 60_000;

function checkOptions(o: LocalRecommenderOptions): void {
  if (!o || typeof o !== 'object')
    throw new LocalrecError('bad-input', 'createRecommender() takes { server, publicKey, … }');
  parsePublicKey(o.publicKey);
  if (o.device !== undefined && !DEVICE_CHOICES.includes(o.device))
    throw new LocalrecError(
      'bad-input',
      `unknown device '${String(o.device)}'; valid choices are ${DEVICE_CHOICES.join(', ')}`,
    );
  const lambda = o.rerank?.lambda;
  if (lambda !== undefined && !(lambda >= 0 && lambda <= 1))
    throw new LocalrecError('bad-input', `rerank.lambda must be in [0, 1], got ${lambda}`);
  const per10 = o.rerank?.explorationPer10;
  if (per10 !== undefined && !(per10 >= 0 && per10 <= 10))
    throw new LocalrecError(
      'bad-input',
      `rerank.explorationPer10 must be in [0, 10], got ${per10}`,
    );
  if (o.globalPrivacyControl !== undefined && typeof o.globalPrivacyControl !== 'boolean')
    throw new LocalrecError(
      'bad-input',
      `globalPrivacyControl must be true or false, got ${String(o.globalPrivacyControl)}`,
    );
  checkTrainerOptions(o.trainer);
  checkLlmChoice(o.llm);
  const every = o.refreshIntervalMs;
  if (every !== undefined && !(every >= 0 && Number.isFinite(every)))
    throw new LocalrecError(
      'bad-input',
      `refreshIntervalMs must be a number of ms ≥ 0, got ${every}`,
    );
}

/**
 * Creates a recommender in this thread: verifies and loads the model (resolving once the first
 * shard is in) and opens the visitor's memory. For your own worker, or a page that wants no
 * worker; `createRecommender()` is the same interface off the main thread.
 *
 * ```ts
 * import { createLocalRecommender } from 'localrec';
 *
 * const recs = await createLocalRecommender({
 *   server: 'https://recs.example',
 *   publicKey: 'BASE64_PUBLIC_KEY',
 * });
 * const { items } = await recs.recommend({
 *   k: 5,
 *   filters: { predicate: (item) => !item.title.startsWith('Sequel') }, // in-process only
 * });
 * await recs.close();
 * ```
 *
 * @throws LocalrecError `bad-input` for bad options; `integrity` when the manifest's signature
 *   or a blob fails twice; `not-found` when the server is unreachable and nothing is cached.
 */
export async function createLocalRecommender(
  options: LocalRecommenderOptions,
): Promise<Recommender> {
  checkOptions(options);
  const server = serverBase(options.server);
  const name = options.name ?? DEFAULT_NAME;
  const now = options.now ?? Date.now;
  const warn = (w: RecommenderWarning) => {
    try {
      (options.onWarning ?? ((x) => console.warn(`[localrec] ${x.message}`)))(w);
    } catch {
      // A throwing warning handler must not turn a warning into a failure.
    }
  };
  const listeners = new ChangeListeners((e) =>
    warn({ code: 'listener', message: `an onChange listener threw: ${String(e)}` }),
  );
  listeners.add(options.onChange);
  // Set once the model is up; the changes it must hear reach it here.
  let trainer: FederatedTrainer | undefined;
  let assistant: ReturnType<typeof assistantCalls> | undefined;
  const emit = (c: RecommenderChange) => {
    assistant?.changed(c);
    if (TRAINER_HEARS.has(c.kind)) trainer?.changed();
    else if (c.kind === 'track') trainer?.tracked();
    listeners.emit(c);
  };

  const gpc = options.globalPrivacyControl ?? browserGlobalPrivacyControl();
  // One fetch for the manifest, the blobs and the outbox's posts.
  const fetchFn = options.fetch ?? globalThis.fetch.bind(globalThis);
  const ranker = createRanker({ wasmPaths: options.wasmPaths, kernel: options.kernel });
  let models: ModelManager | undefined;
  const visitor = new Visitor({
    globalPrivacyControl: gpc,
    name,
    now,
    sessionGapMs: options.sessionGapMs,
    categoriesOf: (id) => models?.active?.catalog.categories(id),
    onWarning: warn,
    emit,
  });
  // Memory and model load in parallel: neither needs the other to start (the cache index and
  // the IndexedDB blob fallback wait for the memory where they need it).
  const opened = visitor.open(options.consent);
  const cache = new BlobCache({
    cacheName: `localrec:${name}`,
    server,
    caches: options.caches,
    memory: () => visitor.memory,
    memoryReady: opened,
    onWarning: warn,
  });
  const loader = new Loader({
    server,
    publicKey: options.publicKey,
    fetch: fetchFn,
    cache,
    onWarning: warn,
  });
  const manager = (models = new ModelManager({
    ranker,
    loader,
    device: options.device ?? 'auto',
    kernel: options.kernel,
    onProgress: (p) => {
      try {
        options.onProgress?.(p);
      } catch {
        // The page's progress handler failing must not stop the load.
      }
    },
    onWarning: warn,
    onSwitch: (next, previous) =>
      emit({
        kind: 'model',
        modelVersion: next.plan.modelVersion,
        previous: previous.plan.modelVersion,
      }),
    // Kept too: the trainable weights and LLM files of the version in use (not in plan.blobs).
    retain: (keep) => cache.retain(keptWith(keep, models?.active?.plan)),
  }));

  try {
    await Promise.all([opened, manager.start()]);
  } catch (e) {
    await opened.catch(() => undefined);
    await manager.close().catch(() => undefined);
    await visitor.close().catch(() => undefined);
    throw e;
  }

  const activity = new Activity(now);
  const outbox = new OutboxSender({
    server,
    // The outbox's posts tell the trainer which deltas the server took ("Your data").
    fetch: watchPosts(fetchFn, (id) => void trainer?.posted(id).catch(() => undefined)),
    outbox: () => visitor.memory?.outbox,
    allowed: () => visitor.consent.federated,
    now,
    onWarning: warn,
    onFlushed: (r) =>
      emit({ kind: 'outbox', posted: r.posted, dropped: r.dropped, pending: r.pending }),
  });
  // Whatever waited from an earlier visit (or an offline spell) goes out now, if it may.
  outbox.schedule(0);

  const seed = options.rerank?.seed ?? Math.floor(Math.random() * 2 ** 31);
  const ctx: QueryContext = {
    ranker,
    visitor,
    now,
    lambda: options.rerank?.lambda ?? 0.7,
    explorationPer10: options.rerank?.explorationPer10 ?? 1,
    rng: new Rng(seed),
    shown: new Map(),
    reasons: new Map(),
  };
  const source = manifestLlmSource(() => models?.active?.plan, { loader, cache, server });
  const llmOptions = { source, ...options.llmRuntime, choice: options.llm, ctx, emit, warn };
  const llm = (assistant = assistantCalls({ ...llmOptions, models: manager, activity }));
  await llm.reload().catch(() => undefined);
  let closed = false;
  const open = (what: string) => {
    if (closed) throw new LocalrecError('not-loaded', `${what}(): the recommender is closed`);
  };
  const every = options.refreshIntervalMs ?? DEFAULT_REFRESH_MS;
  const timer =
    every > 0
      ? setInterval(() => {
          manager.refresh().catch((e: unknown) =>
            warn({
              code: 'update',
              message: `checking for a new model failed: ${e instanceof Error ? e.message : String(e)}`,
            }),
          );
        }, every)
      : undefined;

  const status = async (): Promise<RecommenderStatus> => {
    open('status');
    const m = manager.active!;
    return {
      modelVersion: m.plan.modelVersion,
      manifestVersion: m.plan.manifestVersion,
      source: m.source,
      models: m.twoTower ? ['sasrec', 'two-tower'] : ['sasrec'],
      items: m.items,
      totalItems: m.plan.totalItems,
      complete: m.complete,
      device: m.device,
      kernel: m.kernel,
      consent: { ...visitor.consent },
      globalPrivacyControl: gpc,
      pendingUpdates: await outbox.pending(),
      federated: await fed.status(),
      llm: await llm.status(),
    };
  };

  // The implementations; the face below checks the recommender is open before each.
  const calls: RecommenderCalls = {
    // The calls that use the device: the trainer never runs beside one (trainer/scheduler.ts).
    track: (event) =>
      activity.run(() => {
        const m = manager.active;
        return visitor.track(
          event,
          m ? vectorTag(m) : null,
          m ? vectorsOfModel(ranker, m) : null,
          (id) => m?.catalog.categories(id)[0],
        );
      }),
    recommend: (request) => activity.run(() => manager.use((m) => recommend(ctx, m, request))),
    similar: (itemId, k = 10) => activity.run(() => manager.use((m) => similar(ctx, m, itemId, k))),
    ...llm.calls, // explain, ask, onboard, interests, setInterests, loadLlm
    catalog: () => activity.run(() => manager.use((m) => listCatalog(loader, m.plan))),
    refresh: () => manager.refresh(),
    async whenComplete() {
      await manager.whenComplete();
      await loader.flush();
      return status();
    },
    status,
    getConsent: async () => ({ ...visitor.consent }),
    async setConsent(flags) {
      const consent = await visitor.setConsent(flags);
      if (gpc && flags?.federated === true)
        warn({
          code: 'consent',
          message:
            'Global Privacy Control is on: federated learning stays off (on-device personalization is unaffected)',
        });
      // Withdrawn consent: deltas computed under it are deleted, never sent later.
      if (!consent.federated) await outbox.clear();
      return consent;
    },
    async contribute(delta) {
      const bytes =
        delta instanceof Uint8Array
          ? delta
          : delta instanceof ArrayBuffer
            ? new Uint8Array(delta)
            : undefined;
      if (!bytes)
        throw new LocalrecError(
          'bad-input',
          'contribute() takes the delta as a Uint8Array or ArrayBuffer',
        );
      const decoded = decodeDelta(bytes);
      const memory = visitor.memory;
      if (!visitor.consent.federated || !memory)
        return { queued: false, pending: await outbox.pending() };
      await memory.outbox.add({ id: decoded.updateId, roundId: String(decoded.roundId), bytes });
      outbox.schedule(0);
      return { queued: true, updateId: decoded.updateId, pending: await outbox.pending() };
    },
    flushOutbox: () => outbox.flush(),
    contributions: () => fed.contributions(),
    exportMemory: () => visitor.exportMemory(),
    importMemory: (snapshot) => visitor.importMemory(snapshot),
    async forget() {
      await loader.flush();
      await visitor.forget();
      await cache.destroy();
      await source.forget();
      ctx.shown.clear();
      ctx.reasons.clear();
      emit({ kind: 'forget' });
    },
  };
  const fed = (trainer = new FederatedTrainer({
    server,
    fetch: fetchFn,
    options: options.trainer,
    now,
    activity,
    plan: () => manager.active?.plan,
    whenLoaded: () => manager.whenComplete(),
    blob: (ref) => {
      const plan = manager.active?.plan;
      const protect = new Set([ref.sha256, ...(plan?.blobs ?? []).map((b) => b.sha256)]);
      return loader.blob(ref, 'trainable weights', undefined, protect);
    },
    blocked: () =>
      trainingBlockedBy({ gpc, memory: visitor.memory !== undefined, consent: visitor.consent }),
    memory: () => visitor.memory,
    contribute: (bytes) => calls.contribute(bytes),
    emit,
    onWarning: warn,
    startWorker: options.startTrainerWorker,
  }));
  fed.start();

  return {
    ...forwarders<RecommenderCalls, RecommenderMethod>(RECOMMENDER_METHODS, async (name, args) => {
      open(name);
      return invoke(calls, name, args);
    }),
    onChange: (listener) => listeners.add(listener),
    async close() {
      if (closed) return;
      closed = true;
      if (timer !== undefined) clearInterval(timer);
      fed.close();
      outbox.close();
      await llm.close();
      await loader.flush().catch(() => undefined);
      await manager.close();
      await visitor.close();
      listeners.clear();
    },
  };
}

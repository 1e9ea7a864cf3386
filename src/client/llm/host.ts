/**
 * What the llm worker runs (workers/llm.worker.ts exposes it with comlink): it reads the
 * device, picks the engine the `llm` option and the offered models allow (./capability.ts),
 * loads one model at a time, and runs generations that the page can cancel by id — an
 * AbortSignal cannot cross the worker boundary, so the page's signal becomes a `cancel(id)`
 * call (./worker-client.ts).
 */
import { LocalrecError } from '../../core/errors.ts';
import type {
  LlmChoice,
  LlmEngine,
  LlmEngineKind,
  LlmGenerateRequest,
  LlmGeneration,
  LlmLoaded,
  LlmModel,
  LlmProgress,
} from './api.ts';
import { chooseLlmEngine, noEngineError, probeLlmDevice, type LlmDevice } from './capability.ts';
import { WebLlmEngine } from './webllm-engine.ts';
import { WllamaEngine } from './wllama-engine.ts';

/** A generation request as it crosses the worker boundary (no signal, no callback). */
export type LlmWorkerRequest = Omit<LlmGenerateRequest, 'signal' | 'onToken'>;

/** The llm worker's API. Every call that takes an `id` can be stopped with `cancel(id)`. */
export interface LlmWorkerApi {
  /** What this worker's device offers. */
  probe(): Promise<LlmDevice>;
  /**
   * Chooses an engine for `choice` among `models` and loads its model, replacing any loaded one.
   *
   * @throws LocalrecError `llm-unavailable` when no engine fits (the message says why).
   */
  load(
    id: number,
    request: { choice: LlmChoice; models: LlmModel[] },
    onProgress?: (p: LlmProgress) => void,
  ): Promise<LlmLoaded>;
  generate(
    id: number,
    request: LlmWorkerRequest,
    onToken?: (text: string) => void,
  ): Promise<LlmGeneration>;
  /** Stops the load or generation `id` (it rejects with an `AbortError`); unknown ids are ignored. */
  cancel(id: number): void;
  unload(): Promise<void>;
}

export interface LlmHostOptions {
  /** wllama's .wasm (./wllama-assets.ts). */
  wllamaAssets: { default: string };
  /** Tests inject a device or engines. */
  probe?: () => Promise<LlmDevice>;
  engines?: Partial<Record<LlmEngineKind, (threads: number) => LlmEngine>>;
}

/** The llm worker's implementation. */
export function createLlmHost(options: LlmHostOptions): LlmWorkerApi {
  const probe = options.probe ?? probeLlmDevice;
  const make: Record<LlmEngineKind, (threads: number) => LlmEngine> = {
    wllama: (threads) => new WllamaEngine({ assets: options.wllamaAssets, threads }),
    webllm: () => new WebLlmEngine(),
    ...options.engines,
  };
  let engine: LlmEngine | null = null;
  const running = new Map<number, AbortController>();
  let device: Promise<LlmDevice> | undefined;

  /**
   * `callback` for an engine, and a promise of every call to it having returned. Across comlink
   * a callback is a proxy on a port of its own, so its calls may still be in flight when the
   * call's result arrives on the worker's port; a result waits for them, so a caller has every
   * token and progress report by the time its call resolves. (Calls on one port are handled in
   * order: waiting for the last one is waiting for all.)
   */
  function delivered<A>(callback: ((a: A) => unknown) | undefined) {
    let last: Promise<unknown> = Promise.resolve();
    const wrapped =
      callback && ((a: A) => void (last = Promise.resolve(callback(a)).catch(() => undefined)));
    return { wrapped, flushed: () => last };
  }

  /** Runs `f` with a signal that `cancel(id)` aborts. */
  async function cancellable<T>(id: number, f: (signal: AbortSignal) => Promise<T>): Promise<T> {
    if (running.has(id)) throw new LocalrecError('bad-input', `call id ${id} is already running`);
    const ac = new AbortController();
    running.set(id, ac);
    try {
      return await f(ac.signal);
    } finally {
      running.delete(id);
    }
  }

  return {
    probe: () => (device ??= probe()),
    async load(id, request, onProgress) {
      const dev = await (device ??= probe());
      const decision = chooseLlmEngine(request.choice, dev, request.models);
      if (decision.engine === null) throw noEngineError(decision);
      const model = request.models[decision.candidate]!;
      const old = engine;
      engine = null;
      await old?.unload();
      const next = make[decision.engine](decision.threads);
      const progress = delivered(onProgress);
      return cancellable(id, async (signal) => {
        const loaded = await next.load(model, {
          signal,
          ...(progress.wrapped ? { onProgress: progress.wrapped } : {}),
        });
        engine = next;
        await progress.flushed();
        return loaded;
      });
    },
    generate(id, request, onToken) {
      const tokens = delivered(onToken);
      return cancellable(id, async (signal) => {
        if (!engine)
          throw new LocalrecError('not-loaded', 'no LLM model is loaded: call load() first');
        const g = await engine.generate({
          ...request,
          signal,
          ...(tokens.wrapped ? { onToken: tokens.wrapped } : {}),
        });
        await tokens.flushed();
        return g;
      });
    },
    cancel(id) {
      running.get(id)?.abort();
    },
    async unload() {
      for (const ac of running.values()) ac.abort();
      const old = engine;
      engine = null;
      await old?.unload();
    },
  };
}

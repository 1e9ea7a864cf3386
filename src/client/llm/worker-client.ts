/**
 * Starting the llm worker (workers/llm.worker.ts) and calling it as an {@link LlmEngine}-like
 * object from the page or the recommender worker: an AbortSignal becomes the worker's
 * `cancel(id)`, callbacks cross as comlink proxies. Nothing here imports an engine, so this
 * module costs a caller a few hundred bytes; the worker loads wllama or web-llm when it runs.
 */
import { proxy, wrap, type Remote } from 'comlink';
import { LocalrecError } from '../../core/errors.ts';
import { registerErrorTransfer } from '../rpc/errors-transfer.ts';
import type {
  LlmChoice,
  LlmGenerateRequest,
  LlmGeneration,
  LlmLoaded,
  LlmLoadOptions,
  LlmModel,
} from './api.ts';
import type { LlmDevice } from './capability.ts';
import type { LlmWorkerApi } from './host.ts';

/** A started llm worker. */
export interface LlmWorker {
  probe(): Promise<LlmDevice>;
  /** @throws LocalrecError `llm-unavailable` when no engine fits this device. */
  load(
    request: { choice: LlmChoice; models: LlmModel[] },
    options?: LlmLoadOptions,
  ): Promise<LlmLoaded>;
  generate(request: LlmGenerateRequest): Promise<LlmGeneration>;
  unload(): Promise<void>;
  /** Rejects when the worker fails to load or crashes. */
  failed: Promise<never>;
  terminate(): void;
}

/** Calls `api` (a comlink remote, or the host itself in tests) with signals and callbacks. */
export function llmClient(
  api: Remote<LlmWorkerApi> | LlmWorkerApi,
  failed: Promise<never>,
  terminate: () => void,
): LlmWorker {
  let nextId = 1;
  /** Runs a call under `signal`: an abort becomes `cancel(id)`; a crash rejects it. */
  async function call<T>(
    signal: AbortSignal | undefined,
    f: (id: number) => Promise<T>,
  ): Promise<T> {
    signal?.throwIfAborted();
    const id = nextId++;
    const stop = () => void api.cancel(id);
    signal?.addEventListener('abort', stop, { once: true });
    try {
      return await Promise.race([f(id), failed]);
    } finally {
      signal?.removeEventListener('abort', stop);
    }
  }
  return {
    probe: () => Promise.race([api.probe(), failed]),
    load: (request, options = {}) =>
      call(options.signal, (id) =>
        api.load(id, request, options.onProgress ? proxy(options.onProgress) : undefined),
      ),
    generate: ({ signal, onToken, ...request }) =>
      call(signal, (id) => api.generate(id, request, onToken ? proxy(onToken) : undefined)),
    unload: () => Promise.race([api.unload(), failed]),
    failed,
    terminate,
  };
}

/**
 * Starts the llm worker: from `url` when given, else the chunk next to this module (a site's
 * bundler, and vite here, builds it from this `new Worker(new URL(…, import.meta.url))`).
 */
export function startLlmWorker(url?: string): LlmWorker {
  registerErrorTransfer();
  // The literal `new Worker(new URL(…, import.meta.url))` is what bundlers recognise.
  const worker =
    url === undefined
      ? new Worker(new URL('../../../workers/llm.worker.js', import.meta.url), {
          type: 'module',
          name: 'localrec-llm',
        })
      : new Worker(url, { type: 'module', name: 'localrec-llm' });
  const failed = new Promise<never>((_, reject) => {
    worker.addEventListener('error', (ev) =>
      reject(
        new LocalrecError(
          'internal',
          `the llm worker failed: ${ev.message || 'it could not be loaded'}`,
        ),
      ),
    );
  });
  failed.catch(() => undefined);
  return llmClient(wrap<LlmWorkerApi>(worker), failed, () => worker.terminate());
}

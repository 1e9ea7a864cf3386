/**
 * The recommender's hold on the on-device LLM (issue #15): whether one may run and why not (the
 * `llm` option, the manifest's offer, the device — ../llm/capability.ts), the lazy start of the
 * llm worker (only when `loadLlm()` asks for the model: never on the recommend() path, and no
 * weights are fetched before), the load with progress, and generations that end in a timeout.
 *
 * The model files come from an {@link LlmModelSource}: the manifest's `llm` section with its
 * verified blobs plugs in there; without one the recommender reads as having no model.
 */
import { LocalrecError, isLocalrecError } from '../../core/errors.ts';
import type {
  LlmChoice,
  LlmEngineKind,
  LlmGenerateRequest,
  LlmGeneration,
  LlmLoadOptions,
  LlmModel,
} from '../llm/api.ts';
import {
  chooseLlmEngine,
  noEngineError,
  type LlmDecision,
  type LlmDevice,
} from '../llm/capability.ts';
import type { LlmWorker } from '../llm/worker-client.ts';
import type { AnswerSource, LlmStatus } from './api.ts';

/** The owner's models for the version in use, and how their files reach the device. */
export interface LlmModelSource {
  /** The models the manifest offers (empty: none). */
  models(): readonly LlmModel[];
  /** Whether `model`'s files are on this device already (default: no). */
  cached?(model: LlmModel): Promise<boolean>;
  /** Bytes a download of `model` would fetch now (its files not on this device yet), if known. */
  downloadBytes?(model: LlmModel): Promise<number>;
  /**
   * Downloads and verifies `model`'s files and returns what the engine loads (its GGUF as a
   * Blob, say); default: the model as it is (the engine fetches its URLs).
   */
  fetch?(model: LlmModel, options: LlmLoadOptions): Promise<LlmModel>;
}

export interface LlmSessionOptions {
  choice: LlmChoice;
  source: LlmModelSource | undefined;
  /** Starts the llm worker (called at most once a session, at the first load). */
  start: () => LlmWorker;
  /** Reads the device (the same probe the llm worker runs). */
  probe: () => Promise<LlmDevice>;
  /** Hears every change of state (and of progress, by whole percents). */
  onStatus?: (status: LlmStatus) => void;
  /** A generation longer than this is stopped (default 60 s). */
  timeoutMs?: number;
}

export class LlmSession {
  private worker: LlmWorker | undefined;
  private device: Promise<LlmDevice> | undefined;
  private loading: Promise<LlmStatus> | undefined;
  private loaded:
    | { engine: LlmEngineKind; model: string; device: 'webgpu' | 'wasm'; contextSize: number }
    | undefined;
  private failure: string | undefined;
  private progress: number | null = null;
  private readonly running = new Set<AbortController>();
  private closed = false;

  constructor(private readonly o: LlmSessionOptions) {}

  private models(): readonly LlmModel[] {
    return this.o.choice === 'off' ? [] : (this.o.source?.models() ?? []);
  }

  /** The engine `auto` (or the option) picks for the offered models, or why none. */
  private async decide(): Promise<
    { off: string } | { models: readonly LlmModel[]; decision: LlmDecision }
  > {
    const models = this.models();
    if (this.o.choice === 'off') return { off: "the llm option is 'off'" };
    if (models.length === 0) return { off: 'the manifest offers no LLM model' };
    const device = await (this.device ??= this.o.probe());
    return { models, decision: chooseLlmEngine(this.o.choice, device, models) };
  }

  async status(): Promise<LlmStatus> {
    const base = { choice: this.o.choice, engine: null, model: null, device: null, progress: null };
    const d = await this.decide();
    if ('off' in d) return { ...base, state: 'off', reason: d.off };
    if (d.decision.engine === null)
      return { ...base, state: 'unavailable', reason: noEngineError(d.decision).message };
    const model = d.models[d.decision.candidate]!;
    const which = { engine: d.decision.engine, model: model.id, device: d.decision.device };
    if (this.loaded)
      return {
        ...base,
        engine: this.loaded.engine,
        model: this.loaded.model,
        device: this.loaded.device,
        state: 'ready',
        reason: `${this.loaded.model} runs on this device (${this.loaded.engine}, ${this.loaded.device})`,
      };
    if (this.loading)
      return {
        ...base,
        ...which,
        state: 'loading',
        reason: `loading ${model.id}`,
        progress: this.progress ?? 0,
      };
    if (this.failure) return { ...base, ...which, state: 'failed', reason: this.failure };
    const cached = (await this.o.source?.cached?.(model).catch(() => false)) ?? false;
    const bytes = cached ? 0 : await this.o.source?.downloadBytes?.(model).catch(() => undefined);
    return {
      ...base,
      ...which,
      ...(bytes !== undefined ? { downloadBytes: bytes } : {}),
      state: 'not-loaded',
      reason: cached
        ? `${model.id} is downloaded and not loaded yet: loadLlm() loads it`
        : `${model.id} is not downloaded yet: loadLlm() downloads it`,
    };
  }

  /** True once a model is loaded: explain/ask/onboard use it, else the templates. */
  get ready(): boolean {
    return this.loaded !== undefined;
  }

  /** Tokens of context of the loaded model (0 before a load). */
  get contextSize(): number {
    return this.loaded?.contextSize ?? 0;
  }

  /** Who writes answers now. */
  get source(): AnswerSource {
    return this.loaded ? { engine: this.loaded.engine, model: this.loaded.model } : 'template';
  }

  private changed(): void {
    if (!this.o.onStatus) return;
    void this.status().then(
      (s) => this.o.onStatus?.(s),
      () => undefined,
    );
  }

  /**
   * Downloads (through the source) and loads the model the device fits; resolves with the
   * status after it — `ready`, or `off`/`unavailable`/`failed` with the reason. Never rejects
   * for a model that cannot run: the templates go on answering.
   */
  load(): Promise<LlmStatus> {
    if (this.closed) throw new LocalrecError('not-loaded', 'loadLlm(): the recommender is closed');
    if (this.loaded) return this.status();
    return (this.loading ??= this.run()
      .finally(() => {
        this.loading = undefined;
        this.progress = null;
        this.changed();
      })
      .then(() => this.status()));
  }

  private async run(): Promise<void> {
    const d = await this.decide();
    if ('off' in d || d.decision.engine === null) return;
    this.failure = undefined;
    this.progress = 0;
    this.changed();
    const ac = new AbortController();
    this.running.add(ac);
    let last = 0;
    const onProgress: LlmLoadOptions['onProgress'] = (p) => {
      this.progress = p.progress;
      if (Math.floor(p.progress * 100) !== last) {
        last = Math.floor(p.progress * 100);
        this.changed();
      }
    };
    try {
      const offered = d.models[d.decision.candidate]!;
      const fetch = this.o.source?.fetch;
      // The download is half the bar, the engine's own load the other half.
      const model = fetch
        ? await fetch(offered, {
            signal: ac.signal,
            onProgress: (p) => onProgress({ ...p, progress: p.progress / 2 }),
          })
        : offered;
      const worker = (this.worker ??= this.o.start());
      const loaded = await worker.load(
        { choice: this.o.choice, models: [model] },
        {
          signal: ac.signal,
          onProgress: (p) =>
            onProgress({ ...p, progress: fetch ? 0.5 + p.progress / 2 : p.progress }),
        },
      );
      if (this.closed) return;
      this.loaded = {
        engine: loaded.engine,
        model: loaded.modelId,
        device: loaded.device,
        contextSize: model.contextSize,
      };
    } catch (e) {
      this.failure = `loading the LLM failed: ${e instanceof Error ? e.message : String(e)}; answers use the templates`;
      if (isLocalrecError(e) && e.code === 'llm-unavailable') this.failure = e.message;
    } finally {
      this.running.delete(ac);
    }
  }

  /**
   * One generation on the loaded model, stopped by `signal`, by the timeout and by close().
   * @throws LocalrecError `not-loaded` before a load; a `TimeoutError` DOMException past the time limit; the
   *   signal's reason when aborted.
   */
  async generate(request: LlmGenerateRequest): Promise<LlmGeneration> {
    const worker = this.worker;
    if (!this.loaded || !worker) throw new LocalrecError('not-loaded', 'no LLM model is loaded');
    const ac = new AbortController();
    const stop = () => ac.abort(request.signal?.reason);
    request.signal?.throwIfAborted();
    request.signal?.addEventListener('abort', stop, { once: true });
    const ms = this.o.timeoutMs ?? 60_000;
    const timer = setTimeout(
      () =>
        ac.abort(new DOMException(`the LLM took over ${ms} ms and was stopped`, 'TimeoutError')),
      ms,
    );
    this.running.add(ac);
    try {
      return await worker.generate({ ...request, signal: ac.signal });
    } catch (e) {
      // Stopped here (the caller, the timeout, close): our reason, not the worker's AbortError.
      if (ac.signal.aborted) throw ac.signal.reason;
      // A crashed worker cannot answer again: the session goes back to the templates.
      if (isLocalrecError(e) && e.code === 'internal') {
        this.loaded = undefined;
        this.failure = `the LLM stopped: ${(e as Error).message}; answers use the templates`;
        this.changed();
      }
      throw e;
    } finally {
      clearTimeout(timer);
      request.signal?.removeEventListener('abort', stop);
      this.running.delete(ac);
    }
  }

  /** Stops what runs and ends the llm worker. */
  async close(): Promise<void> {
    this.closed = true;
    for (const ac of this.running)
      ac.abort(new LocalrecError('not-loaded', 'the recommender is closed'));
    const worker = this.worker;
    this.worker = undefined;
    this.loaded = undefined;
    if (worker) {
      await Promise.race([worker.unload(), new Promise((r) => setTimeout(r, 1000))]).catch(
        () => undefined,
      );
      worker.terminate();
    }
  }
}

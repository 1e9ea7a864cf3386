/**
 * The WebGPU engine: web-llm's `MLCEngine` inside the llm worker (issue #15), loading an
 * owner-hosted model through web-llm's own loading code (config, model library, tokenizer and
 * weights, each file verified by the `integrity` ./webllm-config.ts writes) and generating
 * with `response_format` for the grounded output's schema or grammar.
 *
 * web-llm is imported only when this engine loads, and the MLC engine is made by an injected
 * factory, so tests drive every path with a scripted engine where no GPU or weights exist.
 */
import type { AppConfig, ChatCompletionChunk, InitProgressReport } from '@mlc-ai/web-llm';
import { LocalrecError } from '../../core/errors.ts';
import {
  abortError,
  generationResult,
  type LlmEngine,
  type LlmGenerateRequest,
  type LlmGeneration,
  type LlmLoaded,
  type LlmLoadOptions,
  type LlmModel,
} from './api.ts';
import { buildWebLlmAppConfig } from './webllm-config.ts';

/** The part of web-llm's `MLCEngineInterface` this engine uses. */
export interface MlcEngineLike {
  reload(modelId: string): Promise<void>;
  chat: {
    completions: {
      create(request: Record<string, unknown>): Promise<AsyncIterable<ChatCompletionChunk>>;
    };
  };
  interruptGenerate(): void | Promise<void>;
  unload(): Promise<void>;
}

/** Makes an MLC engine for an AppConfig; the default is web-llm's `new MLCEngine(…)`. */
export type CreateMlcEngine = (config: {
  appConfig: AppConfig;
  initProgressCallback: (report: InitProgressReport) => void;
}) => Promise<MlcEngineLike>;

const createMlcEngine: CreateMlcEngine = async (config) => {
  const { MLCEngine } = await import('@mlc-ai/web-llm');
  return new MLCEngine(config) as unknown as MlcEngineLike;
};

/** An error of web-llm's as a LocalrecError: integrity failures keep their meaning. */
function fromWebLlm(e: unknown, what: string): unknown {
  if (!(e instanceof Error) || e.name === 'AbortError') return e;
  const code =
    e.name === 'IntegrityError'
      ? 'integrity'
      : /WebGPU|GPU|shader-f16|Feature/i.test(e.name)
        ? 'device-unavailable'
        : 'internal';
  return new LocalrecError(code, `the WebGPU LLM engine failed to ${what}: ${e.message}`, {
    cause: e,
  });
}

export class WebLlmEngine implements LlmEngine {
  readonly kind = 'webllm' as const;
  private engine: MlcEngineLike | null = null;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly create: CreateMlcEngine = createMlcEngine) {}

  async load(model: LlmModel, options: LlmLoadOptions = {}): Promise<LlmLoaded> {
    if (model.engine !== 'webllm')
      throw new LocalrecError(
        'bad-input',
        `the WebGPU engine runs web-llm models, not ${model.engine} ones`,
      );
    if (this.engine) throw new LocalrecError('bad-input', 'a model is loaded: unload() it first');
    const { signal } = options;
    if (signal?.aborted) throw abortError(signal);
    const t0 = performance.now();
    const appConfig = buildWebLlmAppConfig(model);
    const engine = await this.create({
      appConfig,
      initProgressCallback: (r) =>
        options.onProgress?.({
          phase: r.progress < 1 ? 'download' : 'init',
          progress: Math.max(0, Math.min(1, r.progress)),
          text: r.text,
        }),
    });
    // web-llm's unload() aborts a reload in flight (its reloadController); reload then returns.
    const stop = () => void engine.unload();
    signal?.addEventListener('abort', stop, { once: true });
    try {
      await engine.reload(model.id);
    } catch (e) {
      throw fromWebLlm(e, `load ${model.id}`);
    } finally {
      signal?.removeEventListener('abort', stop);
    }
    if (signal?.aborted) {
      await engine.unload();
      throw abortError(signal);
    }
    this.engine = engine;
    return {
      engine: 'webllm',
      modelId: model.id,
      device: 'webgpu',
      threads: 1,
      bytes: 0,
      loadMs: performance.now() - t0,
    };
  }

  generate(request: LlmGenerateRequest): Promise<LlmGeneration> {
    const run = this.queue.then(
      () => this.run(request),
      () => this.run(request),
    );
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async run(req: LlmGenerateRequest): Promise<LlmGeneration> {
    const engine = this.engine;
    if (!engine) throw new LocalrecError('not-loaded', 'no LLM model is loaded');
    const { signal } = req;
    if (signal?.aborted) throw abortError(signal);
    const t0 = performance.now();
    const c = req.constraint;
    const stream = await engine.chat.completions.create({
      messages: [
        ...(req.system ? [{ role: 'system', content: req.system }] : []),
        { role: 'user', content: req.user },
      ],
      stream: true,
      stream_options: { include_usage: true },
      max_tokens: req.maxTokens,
      temperature: req.temperature ?? 0.7,
      ...(req.seed !== undefined ? { seed: req.seed } : {}),
      ...(c
        ? {
            response_format: c.jsonSchema
              ? { type: 'json_object', schema: JSON.stringify(c.jsonSchema) }
              : { type: 'grammar', grammar: c.gbnf },
          }
        : {}),
    });
    const stop = () => void engine.interruptGenerate();
    signal?.addEventListener('abort', stop, { once: true });
    let text = '';
    let ttft = -1;
    let pieces = 0;
    let tokens: number | undefined;
    let decode: number | undefined;
    let finish: LlmGeneration['finish'] = 'stop';
    try {
      for await (const chunk of stream) {
        const choice = chunk.choices[0];
        const piece = choice?.delta?.content;
        if (piece) {
          if (ttft < 0) ttft = performance.now() - t0;
          text += piece;
          pieces++;
          req.onToken?.(piece);
        }
        if (choice?.finish_reason === 'length') finish = 'length';
        if (chunk.usage) {
          tokens = chunk.usage.completion_tokens;
          decode = chunk.usage.extra?.decode_tokens_per_s;
        }
      }
    } catch (e) {
      if (signal?.aborted) throw abortError(signal);
      throw fromWebLlm(e, 'generate');
    } finally {
      signal?.removeEventListener('abort', stop);
    }
    if (signal?.aborted) throw abortError(signal);
    return generationResult({ text, t0, ttft, pieces, tokens, finish, decode });
  }

  async unload(): Promise<void> {
    const e = this.engine;
    this.engine = null;
    await e?.unload();
  }
}

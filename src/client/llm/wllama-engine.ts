/**
 * The WASM engine: llama.cpp through wllama, on the CPU, running GGUF models (issue #15).
 * Single-threaded unless the page is cross-origin isolated (an embed cannot set COOP/COEP);
 * never WebGPU (`n_gpu_layers: 0`: the GPU is web-llm's) and never wllama's CDN (its compat
 * build is switched off; the .wasm comes from the site's origin, ./wllama-assets.ts).
 *
 * A GGUF is checked (src/core/gguf/reader.ts) before llama.cpp sees it, so a corrupt or
 * truncated file is a `bad-format` error naming the fault, not a crash in WebAssembly.
 */
import type { Wllama, WllamaConfig } from '@wllama/wllama';
import { LocalrecError } from '../../core/errors.ts';
import { parseGgufHeader, type GgufHeader } from '../../core/gguf/reader.ts';
import {
  abortError,
  generationResult,
  type LlmEngine,
  type LlmGenerateRequest,
  type LlmGeneration,
  type LlmLoaded,
  type LlmLoadOptions,
  type LlmModel,
  type LlmProgress,
} from './api.ts';

export interface WllamaEngineOptions {
  /** wllama's `AssetsPathConfig`: the URL of `wllama.wasm` (./wllama-assets.ts). */
  assets: { default: string };
  /** CPU threads; more than 1 only works on a cross-origin isolated page (./capability.ts). */
  threads: number;
  /** For the model download; default globalThis.fetch. */
  fetch?: typeof fetch;
  /** llama.cpp's own log lines, for debugging. Default false. */
  nativeLog?: boolean;
}

/** Share of the progress bar the download takes when the model is fetched. */
const DOWNLOAD_SHARE = 0.9;

/** Reads `url` as a Blob, reporting bytes as they arrive. */
async function download(
  url: string,
  fetcher: typeof fetch,
  options: LlmLoadOptions,
): Promise<Blob> {
  const res = await fetcher(url, options.signal ? { signal: options.signal } : {});
  if (!res.ok || !res.body)
    throw new LocalrecError(
      res.status === 404 ? 'not-found' : 'internal',
      `the model ${url} could not be fetched (HTTP ${res.status})`,
    );
  const total = Number(res.headers.get('content-length')) || undefined;
  const parts: Uint8Array<ArrayBuffer>[] = [];
  let loaded = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value as Uint8Array<ArrayBuffer>);
    loaded += value.length;
    const p: LlmProgress = {
      phase: 'download',
      progress: total ? (DOWNLOAD_SHARE * Math.min(loaded, total)) / total : 0,
      text: `downloading the model: ${(loaded / 1e6).toFixed(1)} MB${total ? ` of ${(total / 1e6).toFixed(1)} MB` : ''}`,
      loadedBytes: loaded,
    };
    if (total !== undefined) p.totalBytes = total;
    options.onProgress?.(p);
  }
  return new Blob(parts);
}

/**
 * The header of the GGUF in `blob`, read from a growing prefix (a large model's vocabulary
 * makes headers of several MB).
 *
 * @throws LocalrecError `bad-format` when it is not a llama.cpp model file.
 */
export async function readGgufBlob(blob: Blob): Promise<GgufHeader> {
  for (let n = 1 << 20; ; n *= 4) {
    const prefix = new Uint8Array(await blob.slice(0, Math.min(n, blob.size)).arrayBuffer());
    const h = parseGgufHeader(prefix, blob.size);
    if (h === 'need-more') continue;
    const arch = h.metadata.get('general.architecture');
    if (arch?.type !== 'string')
      throw new LocalrecError(
        'bad-format',
        'not a valid GGUF model: it names no general.architecture',
      );
    return h;
  }
}

const quiet: NonNullable<WllamaConfig['logger']> = {
  debug: () => undefined,
  log: () => undefined,
  warn: (...a: unknown[]) => console.warn('[wllama]', ...a),
  error: (...a: unknown[]) => console.error('[wllama]', ...a),
};

/** An error of wllama's as a LocalrecError (its type says which). */
function fromWllama(e: unknown, what: string): unknown {
  if (!(e instanceof Error) || e.name === 'AbortError') return e;
  const type = (e as { type?: string }).type;
  const code = type === 'load_error' ? 'bad-format' : 'internal';
  return new LocalrecError(code, `the wasm LLM engine failed to ${what}: ${e.message}`, {
    cause: e,
  });
}

/** The wllama engine. */
export class WllamaEngine implements LlmEngine {
  readonly kind = 'wllama' as const;
  private wllama: Wllama | null = null;
  private chat = false;
  /** The generation running (or last run): generations queue behind it. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: WllamaEngineOptions) {}

  async load(model: LlmModel, options: LlmLoadOptions = {}): Promise<LlmLoaded> {
    if (model.engine !== 'wllama')
      throw new LocalrecError(
        'bad-input',
        `the wasm engine runs GGUF models, not ${model.engine} ones`,
      );
    if (this.wllama) throw new LocalrecError('bad-input', 'a model is loaded: unload() it first');
    const t0 = performance.now();
    const { signal } = options;
    if (signal?.aborted) throw abortError(signal);
    const blob =
      'blob' in model.gguf
        ? model.gguf.blob
        : await download(model.gguf.url, this.options.fetch ?? fetch.bind(globalThis), options);
    if (signal?.aborted) throw abortError(signal);
    await readGgufBlob(blob);
    options.onProgress?.({ phase: 'init', progress: DOWNLOAD_SHARE, text: 'starting llama.cpp' });
    const { Wllama } = await import('@wllama/wllama');
    const w = new Wllama(this.options.assets, {
      suppressNativeLog: !this.options.nativeLog,
      logger: this.options.nativeLog ? console : quiet,
    });
    // Never the CDN build wllama falls back to on browsers without JSPI or Memory64.
    w.setCompat(null);
    try {
      await w.loadModel([blob], {
        n_ctx: model.contextSize,
        n_threads: this.options.threads,
        n_gpu_layers: 0,
        n_parallel: 1,
      });
    } catch (e) {
      await w.exit().catch(() => undefined);
      throw fromWllama(e, `load ${model.id}`);
    }
    if (signal?.aborted) {
      await w.exit();
      throw abortError(signal);
    }
    this.wllama = w;
    this.chat = w.getChatTemplate() !== null;
    options.onProgress?.({ phase: 'init', progress: 1, text: 'the model is ready' });
    return {
      engine: 'wllama',
      modelId: model.id,
      device: 'wasm',
      threads: w.getNumThreads(),
      bytes: blob.size,
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
    const w = this.wllama;
    if (!w) throw new LocalrecError('not-loaded', 'no LLM model is loaded');
    if (req.signal?.aborted) throw abortError(req.signal);
    const t0 = performance.now();
    let ttft = -1;
    let text = '';
    let pieces = 0;
    let tokens: number | undefined;
    let finish: LlmGeneration['finish'] = 'stop';
    let decode: number | undefined;
    const take = (
      piece: string | null | undefined,
      reason: string | null | undefined,
      usage?: number,
      timings?: { predicted_per_second?: number },
    ) => {
      if (timings?.predicted_per_second) decode = timings.predicted_per_second;
      if (piece) {
        if (ttft < 0) ttft = performance.now() - t0;
        text += piece;
        pieces++;
        req.onToken?.(piece);
      }
      if (reason === 'length') finish = 'length';
      if (usage !== undefined) tokens = usage;
    };
    const common = {
      max_tokens: req.maxTokens,
      temperature: req.temperature ?? 0.7,
      ...(req.seed !== undefined ? { seed: req.seed } : {}),
      ...(req.constraint ? { grammar: req.constraint.gbnf } : {}),
      ...(req.signal ? { abortSignal: req.signal } : {}),
      stream: true as const,
    };
    try {
      if (this.chat) {
        const messages = [
          ...(req.system ? [{ role: 'system' as const, content: req.system }] : []),
          { role: 'user' as const, content: req.user },
        ];
        await w.createChatCompletion({
          ...common,
          messages,
          onData: (c) =>
            take(
              c.choices[0]?.delta?.content,
              c.choices[0]?.finish_reason,
              c.usage?.completion_tokens,
              c.timings,
            ),
        });
      } else {
        await w.createCompletion({
          ...common,
          prompt: req.system ? `${req.system}\n\n${req.user}` : req.user,
          onData: (c) =>
            take(
              c.choices[0]?.text,
              c.choices[0]?.finish_reason,
              c.usage?.completion_tokens,
              c.timings,
            ),
        });
      }
    } catch (e) {
      if (req.signal?.aborted) throw abortError(req.signal);
      // A fault inside the WebAssembly leaves llama.cpp in an unknown state: start over.
      if (e instanceof Error && e.name === 'RuntimeError') await this.unload();
      throw fromWllama(e, 'generate');
    }
    if (req.signal?.aborted) throw abortError(req.signal);
    return generationResult({ text, t0, ttft, pieces, tokens, finish, decode });
  }

  async unload(): Promise<void> {
    const w = this.wllama;
    this.wllama = null;
    await w?.exit();
  }
}

/**
 * The on-device language model's contract (issue #15): one {@link LlmEngine} interface that
 * the wllama engine (llama.cpp in WebAssembly, CPU) and the web-llm engine (WebGPU) both
 * implement, so the llm worker and its callers never care which one runs — and the models
 * they load, the device they are gated on, and what a generation returns.
 */

/** The `llm` option: which engine may run, `auto` choosing by capability (./capability.ts). */
export type LlmChoice = 'auto' | 'webgpu' | 'wasm' | 'off';

/** The engines, by what they run on: web-llm on WebGPU, wllama on WASM. */
export type LlmEngineKind = 'webllm' | 'wllama';

/** What a model needs from the device, as its owner states it. */
export interface LlmNeeds {
  /** Memory the loaded model takes (weights, KV cache at its context size, scratch), MB. */
  memoryMB: number;
  /** WebGPU: the model's kernels use f16 (web-llm's `q4f16` and `q0f16` builds). */
  shaderF16?: boolean;
  /** WebGPU: the largest buffer it allocates (`maxBufferSize`), bytes. */
  maxBufferSizeBytes?: number;
  /** WebGPU: the largest storage-buffer binding (`maxStorageBufferBindingSize`), bytes. */
  maxStorageBufferBindingBytes?: number;
}

/** A GGUF model for the wllama engine. */
export interface WllamaModel {
  engine: 'wllama';
  /** A name for logs and for "written on your device by …". */
  id: string;
  /** The GGUF file: fetched from `url`, or bytes the caller already holds (verified). */
  gguf: { url: string } | { blob: Blob };
  /** Tokens of context to allocate. */
  contextSize: number;
  needs: LlmNeeds;
}

/** A web-llm (MLC) model: a folder of files on the owner's server and its model library. */
export interface WebLlmModel {
  engine: 'webllm';
  /** web-llm's `model_id`. */
  id: string;
  /**
   * Absolute URL of the folder that serves `mlc-chat-config.json`, the tokenizer files,
   * `tensor-cache.json` and the parameter shards by name (./webllm-config.ts).
   */
  baseUrl: string;
  /** Absolute URL of the model library (.wasm). */
  modelLibUrl: string;
  /** SHA-256 (hex) of the files web-llm verifies itself before use. */
  sha256?: { config?: string; modelLib?: string; tokenizer?: Record<string, string> };
  contextSize: number;
  needs: LlmNeeds;
}

export type LlmModel = WllamaModel | WebLlmModel;

/** Progress of a load, in web-llm's `{ progress, text }` manner plus bytes where known. */
export interface LlmProgress {
  phase: 'download' | 'init';
  /** 0…1 over the whole load. */
  progress: number;
  text: string;
  loadedBytes?: number;
  totalBytes?: number;
}

export interface LlmLoadOptions {
  signal?: AbortSignal;
  onProgress?: (p: LlmProgress) => void;
}

/** A loaded model. */
export interface LlmLoaded {
  engine: LlmEngineKind;
  modelId: string;
  /** Where it computes. */
  device: 'webgpu' | 'wasm';
  /** CPU threads (1 unless the page is cross-origin isolated). */
  threads: number;
  /** Bytes of the model file read (wllama); 0 where the engine does not say (web-llm). */
  bytes: number;
  loadMs: number;
}

/**
 * A constraint on the output: a llama.cpp GBNF grammar, with the same language as a JSON
 * schema where there is one (web-llm takes the schema; wllama the grammar).
 */
export interface LlmConstraint {
  gbnf: string;
  jsonSchema?: Record<string, unknown>;
}

export interface LlmGenerateRequest {
  /** The instructions (the chat template's system turn). */
  system?: string;
  /** The request itself (the user turn). */
  user: string;
  constraint?: LlmConstraint;
  /** Most tokens to write. */
  maxTokens: number;
  /** Default 0.7. */
  temperature?: number;
  seed?: number;
  /** Stops the generation; it then rejects with an `AbortError` DOMException. */
  signal?: AbortSignal;
  /** Each piece of text as it is written. */
  onToken?: (text: string) => void;
}

export interface LlmGeneration {
  text: string;
  /** Tokens written. */
  tokens: number;
  /** `length` when `maxTokens` cut it short. */
  finish: 'stop' | 'length';
  /** Time to the first token, ms. */
  ttftMs: number;
  totalMs: number;
  /**
   * The engine's own decode rate where it reports one (llama.cpp's timings, web-llm's usage),
   * tokens/s: the model's speed without the worker hops and streaming around it.
   */
  decodeTokensPerSecond?: number;
}

/** What an engine counted while a generation streamed, from which {@link generationResult} builds its answer. */
export interface GenerationCounts {
  text: string;
  /** performance.now() when the generation started. */
  t0: number;
  /** ms to the first piece; < 0 when none came. */
  ttft: number;
  /** Pieces streamed (the token count when the engine reports none). */
  pieces: number;
  tokens?: number;
  finish: LlmGeneration['finish'];
  decode?: number;
}

/** Both engines' {@link LlmGeneration} from their counts, timed now. */
export function generationResult(c: GenerationCounts): LlmGeneration {
  const totalMs = performance.now() - c.t0;
  const g: LlmGeneration = {
    text: c.text,
    tokens: c.tokens ?? c.pieces,
    finish: c.finish,
    ttftMs: c.ttft < 0 ? totalMs : c.ttft,
    totalMs,
  };
  if (c.decode !== undefined) g.decodeTokensPerSecond = c.decode;
  return g;
}

/**
 * One engine. A load replaces nothing: call `unload()` before loading another model. One
 * generation at a time; a second call while one runs waits for it.
 */
export interface LlmEngine {
  readonly kind: LlmEngineKind;
  /**
   * @throws LocalrecError `bad-format` for a model file that is not what it claims,
   *   `device-unavailable` when the engine cannot start here; an `AbortError` when aborted.
   */
  load(model: LlmModel, options?: LlmLoadOptions): Promise<LlmLoaded>;
  /** @throws LocalrecError `not-loaded` before a load; an `AbortError` when aborted. */
  generate(request: LlmGenerateRequest): Promise<LlmGeneration>;
  unload(): Promise<void>;
}

/**
 * What a cancelled load or generation rejects with: the signal's reason, as `fetch` does — an
 * `AbortError` DOMException unless the caller aborted with a reason of its own.
 */
export function abortError(signal?: AbortSignal): unknown {
  return signal?.reason ?? new DOMException('the LLM call was cancelled', 'AbortError');
}

/**
 * The assistant's part of the SDK's interface (issue #15): explain() options, ask(), onboard(),
 * the stated interests and the LLM's status — what crosses the interface, declared once and
 * re-exported by ../types.ts (which declares ask()'s options and answer beside recommend()'s). All of it is structured-cloneable except the `stream` callback
 * (which the worker-backed recommender passes as a comlink proxy) and `signal` (in-process only).
 */
import type { LlmChoice, LlmEngineKind } from '../llm/api.ts';

/** Where the LLM is ({@link LlmStatus}). */
export type LlmState =
  /** It will not run: the `llm` option is 'off', or the manifest offers no model. */
  | 'off'
  /** No engine fits this device (the reason says what it lacks). */
  | 'unavailable'
  /** It could run; the model is not loaded (not downloaded yet, or downloaded, not loaded). */
  | 'not-loaded'
  | 'loading'
  | 'ready'
  /** The last load failed, or the engine stopped (the reason says why); `loadLlm()` tries again. */
  | 'failed';

/** What `status().llm` says: which engine is active, or why none. */
export interface LlmStatus {
  state: LlmState;
  /** One sentence a page can show. */
  reason: string;
  /** The `llm` option in effect. */
  choice: LlmChoice;
  /** The engine and model that run (or would run, once loaded); null when none can. */
  engine: LlmEngineKind | null;
  model: string | null;
  device: 'webgpu' | 'wasm' | null;
  /** 0 … 1 while loading, else null. */
  progress: number | null;
  /**
   * In `not-loaded`: the bytes loadLlm() would download (the manifest's sizes of the model's
   * files not on this device yet; 0 when all are). Absent where the sizes are not known.
   */
  downloadBytes?: number;
}

/**
 * Who wrote an answer: `'template'` (the sentence templates and the keyword parser, on every
 * device), or the engine and model that ran on this device.
 */
export type AnswerSource = 'template' | { engine: LlmEngineKind; model: string };

/** Options of explain(). */
export interface ExplainOptions {
  /**
   * Hears the explanation's text as the LLM writes it, piece by piece (nothing when the template
   * answers). The resolved {@link Explanation}'s `text` is what to show in the end: an answer that
   * fails the grounding check is replaced by the template after it streamed.
   */
  stream?: (text: string) => void;
  /**
   * Stops the LLM; the call then rejects with the signal's reason. In-process only
   * (createLocalRecommender): a signal cannot cross to the worker.
   */
  signal?: AbortSignal;
}

/** Structured constraints of a request in plain words (ask() and onboard()). */
export interface AskConstraints {
  /** Keep items with at least one of these categories (none: any). */
  include: string[];
  /** Leave out items with any of these. */
  exclude: string[];
  /** A year range, only where the catalog's titles carry years. */
  yearMin?: number;
  yearMax?: number;
  /** A price range, only where the catalog has prices (no metadata field carries one yet). */
  priceMin?: number;
  priceMax?: number;
  /** Words matched against item titles and categories (a lexical match: no text encoder). */
  query?: string;
  /** One short sentence for the visitor. */
  reply: string;
}

/** Category → stated interest in [−1, 1] (1: likes, −1: would rather avoid). */
export type CategoryInterests = Record<string, number>;

/** The answer to onboard(). */
export interface OnboardResult {
  /** The starting interests read from the sentence (shown and editable: setInterests()). */
  interests: CategoryInterests;
  reply: string;
  source: AnswerSource;
  fallback?: string;
  /**
   * Whether they were stored and steer recommendations: only with personalization consent
   * (without it nothing personal is kept or used).
   */
  stored: boolean;
}

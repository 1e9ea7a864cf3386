/** Every failure localrec reports carries one of these codes; the server maps them to HTTP statuses. */
export type LocalrecErrorCode =
  | 'bad-input' // a malformed file, request, option or argument
  | 'bad-format' // a binary/JSON artifact with wrong magic, version, or truncated contents
  | 'unsupported-version' // a format version this reader does not know
  | 'integrity' // sha256 or signature mismatch
  | 'not-found'
  | 'not-loaded' // an API used before the model/shards it needs were loaded
  | 'device-unavailable' // the requested device (webgpu/wasm) cannot run here
  | 'llm-unavailable' // no on-device LLM engine fits this device (or the llm option is 'off')
  | 'quota' // the browser refused to store more (storage quota exceeded); nothing stored was lost
  | 'internal';

/**
 * The one error type of localrec. `code` survives the worker boundary
 * (src/client/rpc/errors-transfer.ts), and the server maps it to an HTTP status.
 *
 * ```ts
 * import { LocalrecError } from 'localrec';
 *
 * throw new LocalrecError('bad-input', 'k must be an integer in 0..1000, got -1');
 * ```
 */
export class LocalrecError extends Error {
  readonly code: LocalrecErrorCode;
  constructor(code: LocalrecErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LocalrecError';
    this.code = code;
  }
}

/**
 * Whether `e` is a {@link LocalrecError}, also one rebuilt on this side of a worker boundary.
 *
 * ```ts
 * import { createRecommender, isLocalrecError } from 'localrec';
 *
 * try {
 *   await createRecommender({ server: 'https://recs.example', publicKey: 'BASE64_PUBLIC_KEY' });
 * } catch (e) {
 *   if (isLocalrecError(e) && e.code === 'integrity') console.warn('the model failed its check');
 *   else throw e;
 * }
 * ```
 */
export function isLocalrecError(e: unknown): e is LocalrecError {
  return (
    e instanceof Error &&
    e.name === 'LocalrecError' &&
    typeof (e as LocalrecError).code === 'string'
  );
}

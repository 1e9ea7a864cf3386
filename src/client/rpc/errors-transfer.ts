/**
 * Keeps `LocalrecError` intact across a comlink worker boundary.
 *
 * Comlink's built-in "throw" handler sends only `{ message, name, stack }` and rebuilds a
 * plain `Error`, so the `code` callers switch on would be lost. This replaces that handler
 * with one that also sends `code` and rebuilds a real `LocalrecError` on the other side.
 * Both sides must register it: the worker to serialize, the page to deserialize.
 */
import { transferHandlers, type TransferHandler } from 'comlink';
import { LocalrecError, isLocalrecError, type LocalrecErrorCode } from '../../core/errors.ts';

/** The wire shape of a thrown value (structured-cloneable). */
type WireThrown =
  | {
      isError: true;
      value: {
        name: string;
        message: string;
        stack?: string;
        code?: LocalrecErrorCode;
        cause?: string;
      };
    }
  | { isError: false; value: unknown };

let registered = false;

/** Turns a thrown value into something postMessage can carry without losing the error code. */
export function serializeThrown(value: unknown): WireThrown {
  if (value instanceof Error) {
    const out: Extract<WireThrown, { isError: true }>['value'] = {
      name: value.name,
      message: value.message,
    };
    if (value.stack !== undefined) out.stack = value.stack;
    if (isLocalrecError(value)) out.code = value.code;
    // The cause may be anything (an ORT object, a DOMException); its message is what helps.
    if (value.cause !== undefined)
      out.cause = value.cause instanceof Error ? value.cause.message : String(value.cause);
    return { isError: true, value: out };
  }
  return { isError: false, value };
}

/** The inverse of {@link serializeThrown}: a `LocalrecError` when a code came along, else an `Error`. */
export function deserializeThrown(wire: WireThrown): unknown {
  if (!wire.isError) return wire.value;
  const v = wire.value;
  const cause = v.cause === undefined ? undefined : { cause: v.cause };
  const e =
    v.code !== undefined
      ? new LocalrecError(v.code, v.message, cause)
      : new Error(v.message, cause);
  e.name = v.name;
  if (v.stack !== undefined) e.stack = v.stack;
  return e;
}

/**
 * Installs the handler in this realm's comlink (idempotent). Call it in the worker before
 * `expose()` and on the page before calling through `wrap()`.
 */
export function registerErrorTransfer(): void {
  if (registered) return;
  const builtin = transferHandlers.get('throw');
  if (!builtin)
    throw new LocalrecError(
      'internal',
      "comlink has no 'throw' transfer handler to replace (comlink version changed?)",
    );
  const handler: TransferHandler<{ value: unknown }, WireThrown> = {
    // Comlink marks thrown values with a private symbol only its own check knows.
    canHandle: (v): v is { value: unknown } => builtin.canHandle(v),
    serialize: ({ value }) => [serializeThrown(value), []],
    deserialize: (wire) => {
      throw deserializeThrown(wire);
    },
  };
  transferHandlers.set('throw', handler as TransferHandler<unknown, unknown>);
  registered = true;
}

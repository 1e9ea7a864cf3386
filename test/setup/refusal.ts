/**
 * What a refused call said: the LocalrecError's code and message (any other error is rethrown,
 * and a call that is not refused fails the test). The sync form takes a function, the async one
 * a promise.
 */
import { isLocalrecError } from '../../src/core/errors.ts';

/** A LocalrecError's code and message. */
export interface Refusal {
  code: string;
  message: string;
}

/** The LocalrecError that `f` throws. */
export function refusal(f: () => unknown): Refusal {
  try {
    f();
  } catch (e) {
    if (isLocalrecError(e)) return { code: e.code, message: e.message };
    throw e;
  }
  throw new Error('it was accepted');
}

/** The LocalrecError that `p` rejects with (or that `p()` throws or rejects with). */
export async function refusalOf(p: Promise<unknown> | (() => unknown)): Promise<Refusal> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    if (isLocalrecError(e)) return { code: e.code, message: e.message };
    throw e;
  }
  throw new Error('it was accepted');
}

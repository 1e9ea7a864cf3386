/**
 * The embed's console output: everything it says starts with `[localrec]`, and logging itself
 * never throws into the host page (a page may have replaced `console`).
 */
export const LOG_PREFIX = '[localrec]';

function write(level: 'error' | 'warn', args: unknown[]): void {
  try {
    console[level](LOG_PREFIX, ...args);
  } catch {
    // Nothing left to tell.
  }
}

/** Something the site owner must fix, or the embed could not start: one line each. */
export function logError(...args: unknown[]): void {
  write('error', args);
}

/** A call or a render that failed without stopping the embed. */
export function logWarning(...args: unknown[]): void {
  write('warn', args);
}

/**
 * Global Privacy Control (https://privacycg.github.io/gpc-spec/): a visitor's browser-wide
 * "do not sell or share" signal. localrec treats federated learning — the only thing it ever
 * sends that was computed from a visitor's behaviour — as sharing: while the signal is on, no
 * delta is queued or posted, whatever the page's consent banner says. On-device
 * personalization sends nothing and is unaffected.
 */

/** The signal of this context (a page or a worker); false when the browser does not send it. */
export function browserGlobalPrivacyControl(): boolean {
  const nav = (globalThis as { navigator?: { globalPrivacyControl?: unknown } }).navigator;
  return nav?.globalPrivacyControl === true;
}

/**
 * When the LLM's files may be downloaded (issue #15 item 2): a model is tens to thousands of MB,
 * so it is fetched only when the visitor asks (an explicit call, e.g. a download button), or
 * when the page is idle on a connection that does not look metered. Pure: the caller reads
 * `navigator.connection` ({@link connectionInfo}) and its idle state, and this decides.
 *
 * The Network Information API is Chromium's only (Firefox and Safari have none), and gives
 * `type` (`wifi`, `cellular`, …) only on Android and ChromeOS; desktop Chrome gives
 * `effectiveType` and `saveData`. So without the API nothing downloads unasked — we cannot tell
 * it is not metered — and with it: Save-Data, a cellular link or a slow effective type
 * (`slow-2g`, `2g`, `3g`) each keep the download for an explicit call.
 */

/** What `navigator.connection` says, where the browser has it. */
export interface ConnectionInfo {
  saveData?: boolean;
  /** `slow-2g` | `2g` | `3g` | `4g`. */
  effectiveType?: string;
  /** `wifi` | `ethernet` | `cellular` | `none` | `other` | `unknown` | … (Android, ChromeOS). */
  type?: string;
}

export interface LlmDownloadContext {
  /** The visitor asked for the model (a button, an explicit call): download whatever the link. */
  requested: boolean;
  /** The page is idle (no recommend() or interaction running, an idle callback fired). */
  idle: boolean;
  /** `navigator.connection`, or undefined where the browser has no such API. */
  connection: ConnectionInfo | undefined;
}

export type LlmDownloadDecision =
  | { download: true; why: 'requested' | 'idle-unmetered' }
  | {
      download: false;
      why: 'busy' | 'connection-unknown' | 'save-data' | 'cellular' | 'offline' | 'slow-connection';
    };

const SLOW = new Set(['slow-2g', '2g', '3g']);

/**
 * Whether to download the LLM's files now.
 *
 * ```ts
 * const d = llmDownloadDecision({ requested: false, idle: true, connection: connectionInfo() });
 * if (d.download) await loadModel(); // else wait: d.why says what held it back
 * ```
 */
export function llmDownloadDecision(ctx: LlmDownloadContext): LlmDownloadDecision {
  if (ctx.requested) return { download: true, why: 'requested' };
  if (!ctx.idle) return { download: false, why: 'busy' };
  const c = ctx.connection;
  if (!c) return { download: false, why: 'connection-unknown' };
  if (c.saveData === true) return { download: false, why: 'save-data' };
  if (c.type === 'cellular') return { download: false, why: 'cellular' };
  if (c.type === 'none') return { download: false, why: 'offline' };
  if (c.effectiveType !== undefined && SLOW.has(c.effectiveType))
    return { download: false, why: 'slow-connection' };
  if (c.effectiveType === undefined && c.type !== 'wifi' && c.type !== 'ethernet')
    return { download: false, why: 'connection-unknown' };
  return { download: true, why: 'idle-unmetered' };
}

/**
 * This browser's `navigator.connection`, copied to plain fields (undefined without the API).
 *
 * ```ts
 * const c = connectionInfo(); // { saveData: false, effectiveType: '4g' } on desktop Chrome
 * ```
 */
export function connectionInfo(
  nav: { connection?: unknown } | undefined = globalThis.navigator as
    { connection?: unknown } | undefined,
): ConnectionInfo | undefined {
  const c = nav?.connection as Record<string, unknown> | undefined;
  if (!c || typeof c !== 'object') return undefined;
  const info: ConnectionInfo = {};
  if (typeof c['saveData'] === 'boolean') info.saveData = c['saveData'];
  if (typeof c['effectiveType'] === 'string') info.effectiveType = c['effectiveType'];
  if (typeof c['type'] === 'string') info.type = c['type'];
  return info;
}

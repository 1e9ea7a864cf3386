/**
 * The embed's configuration, read from its script tag's `data-*` attributes:
 *
 * ```html
 * <script src="https://recs.example/localrec.js" data-server="https://recs.example"
 *   data-public-key="…" data-target="#recs" data-k="8" async></script>
 * ```
 *
 * Pure (no DOM): the caller hands in an attribute reader, so the rules are tested in Node.
 * Every problem is collected, so a site owner sees them all in one console line.
 */
import type { ConsentFlags } from '../client/api.ts';

/** The attributes the tag reads (without the `data-` prefix). */
export const EMBED_ATTRIBUTES = [
  'server',
  'public-key',
  'target',
  'k',
  'title',
  'slot',
  'item',
  'consent',
] as const;

/** One of {@link EMBED_ATTRIBUTES}: `data-<name>` on the tag. */
export type EmbedAttribute = (typeof EMBED_ATTRIBUTES)[number];

/** Cards in the widget when the tag has no `data-k`. */
export const DEFAULT_EMBED_K = 8;
/** The most cards `data-k` may ask for. */
export const MAX_EMBED_K = 50;

/** What a valid tag asks for. */
export interface EmbedConfig {
  /** The localrec server's base URL (absolute, http(s), no trailing slash). */
  server: string;
  /** The site's Ed25519 public key: base64 of the raw 32 bytes (`localrec keygen`'s .pub). */
  publicKey: string;
  /** CSS selector of the element the widget renders into; null: no widget, `window.localrec` only. */
  target: string | null;
  /** Cards in the widget (`data-k`, default 8, at most 50). */
  k: number;
  /** The widget's heading (`data-title`; `""` for none; default the widget's own). */
  title: string | undefined;
  /** The recommendation slot of the widget's list (`data-slot`, default `'widget'`). */
  slot: string | undefined;
  /** The item the page shows (`data-item`): it steers the list and is never recommended. */
  itemId: string | undefined;
  /**
   * Consent the site already has (`data-consent`): the flags listed are granted, `none`
   * withdraws both; undefined (no attribute) keeps what the visitor chose before.
   */
  consent: Partial<ConsentFlags> | undefined;
}

/** What {@link parseEmbedConfig} found: the config, or every problem with the tag at once. */
export type EmbedConfigResult = { ok: true; config: EmbedConfig } | { ok: false; errors: string[] };

const PUBLIC_KEY_RE = /^[A-Za-z0-9+/]{43}=$/;
const CONSENT_FLAGS: readonly (keyof ConsentFlags)[] = ['personalization', 'federated'];

function parseConsent(value: string, errors: string[]): Partial<ConsentFlags> | undefined {
  const tokens = value
    .split(/[\s,]+/)
    .map((t) => t.trim().toLowerCase())
    .filter(Boolean);
  if (tokens.length === 1 && tokens[0] === 'none')
    return { personalization: false, federated: false };
  const consent: Partial<ConsentFlags> = {};
  for (const token of tokens) {
    const flag = CONSENT_FLAGS.find((f) => f === token);
    if (flag) consent[flag] = true;
    else {
      errors.push(
        `data-consent: unknown flag '${token}' (use 'personalization', 'federated', both, or 'none')`,
      );
      return undefined;
    }
  }
  if (tokens.length === 0) {
    errors.push(`data-consent is empty (use 'personalization', 'federated', both, or 'none')`);
    return undefined;
  }
  return consent;
}

/**
 * Reads and checks the tag's attributes. `read(name)` returns `data-<name>` (null when absent);
 * `base` is what a relative `data-server` resolves against (the page's URL).
 *
 * ```ts
 * import { parseEmbedConfig } from 'localrec/embed';
 *
 * const tag = document.querySelector<HTMLScriptElement>('script[data-server]')!;
 * const result = parseEmbedConfig((name) => tag.getAttribute(`data-${name}`), document.baseURI);
 * if (result.ok) console.log(`${result.config.k} cards from ${result.config.server}`);
 * else console.error(`[localrec] ${result.errors.join('; ')}`);
 * ```
 */
export function parseEmbedConfig(
  read: (name: EmbedAttribute) => string | null | undefined,
  base: string,
): EmbedConfigResult {
  const errors: string[] = [];
  const get = (name: EmbedAttribute): string | null => {
    const v = read(name);
    return typeof v === 'string' ? v.trim() : null;
  };

  let server = '';
  const rawServer = get('server');
  if (!rawServer) errors.push('data-server is missing (the URL of your localrec server)');
  else {
    try {
      const url = new URL(rawServer, base);
      if (url.protocol !== 'https:' && url.protocol !== 'http:')
        errors.push(`data-server '${rawServer}' must be an http(s) URL`);
      else server = url.href.replace(/\/+$/, '');
    } catch {
      errors.push(`data-server '${rawServer}' is not a URL`);
    }
  }

  const publicKey = get('public-key') ?? '';
  if (!publicKey)
    errors.push('data-public-key is missing (the base64 line of your `localrec keygen` .pub file)');
  else if (!PUBLIC_KEY_RE.test(publicKey))
    errors.push(
      `data-public-key '${publicKey.slice(0, 60)}' is not a base64 Ed25519 public key (44 characters ending in '=')`,
    );

  const rawTarget = read('target');
  let target: string | null = null;
  if (typeof rawTarget === 'string') {
    target = rawTarget.trim();
    if (!target)
      errors.push("data-target is empty (a CSS selector such as '#recs', or leave it out)");
  }

  let k = DEFAULT_EMBED_K;
  const rawK = get('k');
  if (rawK !== null) {
    const n = /^\d+$/.test(rawK) ? Number(rawK) : NaN;
    if (!Number.isInteger(n) || n < 1 || n > MAX_EMBED_K)
      errors.push(`data-k '${rawK}' must be a whole number from 1 to ${MAX_EMBED_K}`);
    else k = n;
  }

  const title = read('title') ?? undefined;
  const slot = get('slot') || undefined;
  const itemId = get('item') || undefined;
  const rawConsent = get('consent');
  const consent = rawConsent === null ? undefined : parseConsent(rawConsent, errors);

  if (errors.length) return { ok: false, errors };
  return {
    ok: true,
    config: { server, publicKey, target, k, title, slot, itemId, consent },
  };
}

/**
 * The site's runtime config, `localrec-config.json` beside index.html (written by
 * `writeSiteConfig` in src/cli/build-site.ts): where the model comes from and which key signs it.
 * Offline, the service worker answers from its copy (NetworkFirst, src/demo/pwa-caches.ts).
 */
import { LocalrecError } from '../core/errors.ts';
import { SITE_CONFIG_URL } from './pwa-caches.ts';

/** What the page needs to start the recommender. */
export interface SiteConfig {
  /** Base URL of the localrec server; `''` means this page's own origin. */
  server: string;
  /** base64 of the raw 32-byte Ed25519 key the manifest must be signed with. */
  publicKey: string;
}

const bad = (what: string) =>
  new LocalrecError(
    'bad-format',
    `${SITE_CONFIG_URL}: ${what}; write it with \`localrec demo\` or writeSiteConfig()`,
  );

/** Checks a parsed config and names the first wrong field. */
export function parseSiteConfig(json: unknown): SiteConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw bad('not a JSON object');
  const { server, publicKey } = json as Record<string, unknown>;
  if (typeof server !== 'string') throw bad('server is not a string');
  if (typeof publicKey !== 'string' || !/^[A-Za-z0-9+/]{43}=$/.test(publicKey))
    throw bad('publicKey is not the base64 of a 32-byte key');
  return { server, publicKey };
}

/**
 * Fetches and checks the config. `server: ''` becomes the page's origin.
 * @throws LocalrecError `not-found` when it cannot be fetched, `bad-format` when it is malformed.
 */
export async function loadSiteConfig(fetchFn: typeof fetch = fetch): Promise<SiteConfig> {
  let res: Response;
  try {
    res = await fetchFn(SITE_CONFIG_URL);
  } catch (e) {
    throw new LocalrecError(
      'not-found',
      `cannot fetch ${SITE_CONFIG_URL} (${e instanceof Error ? e.message : String(e)}); is the server running?`,
    );
  }
  if (!res.ok)
    throw new LocalrecError(
      'not-found',
      `${SITE_CONFIG_URL} answered HTTP ${res.status}; run \`localrec demo\`, or write it beside index.html`,
    );
  let json: unknown;
  try {
    json = await res.json();
  } catch {
    throw bad('not JSON');
  }
  const config = parseSiteConfig(json);
  return { ...config, server: config.server === '' ? location.origin : config.server };
}

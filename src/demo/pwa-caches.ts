/**
 * The Cache Storage caches the demo's service worker (built by vite-plugin-pwa, see
 * vite.config.ts) and the page share, and the Workbox plugins its runtime routes use.
 *
 * Blobs and the manifest are not stored twice: the SDK already keeps every verified blob and the
 * last verified manifest in Cache Storage (src/client/loader/cache.ts, cache `localrec:<name>`,
 * keyed by the URL they came from). The service worker reads that same cache and never writes it
 * ({@link sdkBlobPlugin}, {@link sdkManifestPlugin}), so the SDK stays its only writer: only bytes that passed their
 * sha256 (or signature) check are stored, the SDK's LRU index and quota eviction see every entry,
 * and `forget()` really empties it.
 *
 * The plugin objects are serialized into sw.js by workbox-build (each function's source text),
 * so every function here must be self-contained: no imports, no outer variables.
 */

/**
 * The SDK's cache for the demo's recommender: `localrec:` + the recommender's `name` option,
 * whose default (`DEFAULT_NAME` in src/client/recommender/local.ts) the demo keeps.
 */
export const SDK_CACHE = 'localrec:localrec';
/** ONNX Runtime's .wasm (14.2 MB on WASM, 26.8 MB on WebGPU): too big to precache, fetched once and kept (CacheFirst). */
export const ORT_CACHE = 'localrec-ort';
/** The site's `localrec-config.json` (NetworkFirst: it is written per deployment, after the build). */
export const SITE_CACHE = 'localrec-site';
/** Where the page reads `{ server, publicKey }` (SITE_CONFIG_FILE in src/cli/build-site.ts). */
export const SITE_CONFIG_URL = '/localrec-config.json';
/** Seconds the service worker waits for the server before answering from the cache. */
export const NETWORK_TIMEOUT_S = 4;

/** The parts of a Workbox plugin (workbox-core's `WorkboxPlugin`) used here. */
export interface CachePlugin {
  cacheWillUpdate?: () => Promise<null>;
  fetchDidFail?: (param: { state?: Record<string, unknown> }) => Promise<void>;
  cachedResponseWillBeUsed?: (param: {
    request: Request;
    cachedResponse?: Response;
    state?: Record<string, unknown>;
  }) => Promise<Response | null | undefined>;
}

/**
 * For `/v1/blobs/*` over {@link SDK_CACHE}: never write (the SDK writes what it verified), and let
 * a `cache: 'reload'` request — the SDK's second try after a copy failed its sha256 — go to the
 * network instead of being answered from the cache.
 */
export const sdkBlobPlugin: CachePlugin = {
  cacheWillUpdate: async () => null,
  cachedResponseWillBeUsed: async ({ request, cachedResponse }) =>
    request.cache === 'reload' ? null : cachedResponse,
};

/**
 * For `/v1/manifest` over {@link SDK_CACHE}: never write, and answer from the cache only when the
 * server is too slow (the NetworkFirst timeout), not when the network failed. Offline, the
 * request then fails as it would without a service worker, and the SDK starts from its verified
 * copy itself — so `status().source` still says `'cache'`.
 */
export const sdkManifestPlugin: CachePlugin = {
  cacheWillUpdate: async () => null,
  fetchDidFail: async ({ state }) => {
    if (state) state.failed = true;
  },
  cachedResponseWillBeUsed: async ({ state, cachedResponse }) =>
    state?.failed ? null : cachedResponse,
};

/**
 * What each runtime route matches. Workbox tests a RegExp against the full URL and, for another
 * origin, only accepts a match at its start: these match the page's own origin (the demo's
 * `server: ''`), which is what the demo's service worker is for.
 */
export const ROUTES = {
  blob: /\/v1\/blobs\/[0-9a-f]{64}$/,
  manifest: /\/v1\/manifest$/,
  ortWasm: /\/assets\/ort-[^/]+\.wasm$/,
  siteConfig: /\/localrec-config\.json$/,
} as const;

import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { defineConfig, type Plugin } from 'vite';
import { VitePWA, type VitePWAOptions } from 'vite-plugin-pwa';
import {
  NETWORK_TIMEOUT_S,
  ORT_CACHE,
  ROUTES,
  SDK_CACHE,
  SITE_CACHE,
  sdkBlobPlugin,
  sdkManifestPlugin,
} from './src/demo/pwa-caches.ts';

/** Name prefix of the worker chunks that hold tfjs (the trainer's), kept out of the precache. */
const TFJS_CHUNK_PREFIX = 'tfjs-';
/** Name prefix of the LLM engines' chunks (wllama, web-llm: the llm worker's), kept out of the precache. */
const LLM_CHUNK_PREFIX = 'llm-engine-';

/**
 * Worker chunks by name; tfjs's (only the trainer worker imports it) carry
 * {@link TFJS_CHUNK_PREFIX}, the LLM engines' (only the llm worker imports them)
 * {@link LLM_CHUNK_PREFIX}.
 */
export function workerChunkName(chunk: { moduleIds: readonly string[] }): string {
  if (chunk.moduleIds.some((id) => id.includes('/@tensorflow/')))
    return `assets/${TFJS_CHUNK_PREFIX}[name]-[hash].js`;
  if (chunk.moduleIds.some((id) => id.includes('/@wllama/') || id.includes('/@mlc-ai/')))
    return `assets/${LLM_CHUNK_PREFIX}[name]-[hash].js`;
  return 'assets/[name]-[hash].js';
}

/** Extensions worth compressing; images other than SVG and fonts are compressed already. */
const COMPRESSIBLE = /\.(wasm|m?js|css|html|svg|json|webmanifest)$/;

/**
 * Writes `x.br` and `x.gz` next to every compressible build output over 1 kB, which
 * `@fastify/static` (`preCompressed`) serves to clients that accept them. It matters for one
 * file above all: ONNX Runtime's .wasm is ~28 MB raw, ~5 MB as brotli. Brotli quality 5: on
 * that file quality 11 saves a further ~20% but takes over a minute instead of ~2.5 s. Both
 * encodings, because Chromium offers `br` only on secure origins and plain-http demos get gzip.
 */
export function precompress(): Plugin {
  let outDir = '';
  return {
    name: 'localrec:precompress',
    apply: 'build',
    configResolved(config) {
      outDir = resolve(config.root, config.build.outDir);
    },
    // closeBundle, not writeBundle: by then vite has also copied public/ into outDir.
    closeBundle() {
      const walk = (dir: string): string[] =>
        readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
          e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)],
        );
      for (const file of walk(outDir)) {
        const st = statSync(file);
        if (!COMPRESSIBLE.test(file) || st.size < 1024) continue;
        // Two builds write into one folder (the site, then the embed): what the first build
        // compressed, and has not changed since, is not compressed again.
        const br = `${file}.br`;
        if (existsSync(br) && existsSync(`${file}.gz`) && statSync(br).mtimeMs >= st.mtimeMs)
          continue;
        const raw = readFileSync(file);
        writeFileSync(
          `${file}.br`,
          brotliCompressSync(raw, {
            params: {
              [constants.BROTLI_PARAM_QUALITY]: 5,
              [constants.BROTLI_PARAM_SIZE_HINT]: raw.length,
            },
          }),
        );
        writeFileSync(`${file}.gz`, gzipSync(raw, { level: 9 }));
      }
    },
  };
}

/**
 * The demo as an installable, offline-capable web app: a web app manifest, and a Workbox service
 * worker (generateSW) that precaches the app shell — index.html, every JS chunk (page and
 * workers), CSS and icons: 12 files, about 360 kB — and caches at runtime what the build cannot
 * know or should not precache (cache names and plugins in src/demo/pwa-caches.ts):
 *
 * - `/v1/blobs/<sha256>`: CacheFirst over the SDK's own blob cache, read-only (content-addressed,
 *   so a cached copy never goes stale; the SDK stores only blobs that passed their sha256);
 * - `/v1/manifest`: NetworkFirst over the SDK's last verified manifest, read-only: after
 *   {@link NETWORK_TIMEOUT_S} s on a network that hangs, the page starts from the cached copy
 *   (offline, the SDK falls back to that copy itself);
 * - ORT's .wasm under /assets: CacheFirst in its own cache (14.2 MB for WASM, 26.8 MB for
 *   WebGPU is too much to precache, and a device needs only one; the page warms the one its
 *   encoders used once the worker controls it, src/demo/pwa.ts);
 * - `localrec-config.json`: NetworkFirst, as it is written beside index.html per deployment,
 *   after the build, so the build cannot give it a precache revision.
 *
 * `registerType: 'prompt'`: a new version waits until the visitor accepts the page's update
 * banner (src/demo/pwa.ts registers the worker with workbox-window).
 */
const pwaOptions: Partial<VitePWAOptions> = {
  // A minified worker without Workbox's debug logging even when NODE_ENV is not 'production'
  // (vitest sets 'test' for the end-to-end tests' build).
  mode: 'production',
  registerType: 'prompt',
  injectRegister: false,
  manifest: {
    id: '/',
    name: 'localrec — recommendations computed on your device',
    short_name: 'localrec',
    description:
      'A recommender that runs entirely in your browser: your history never leaves this device.',
    start_url: '/',
    scope: '/',
    display: 'standalone',
    theme_color: '#4f46e5',
    background_color: '#f6f7fb',
    icons: [
      { src: '/icons/icon-192.png', sizes: '192x192', type: 'image/png', purpose: 'any' },
      { src: '/icons/icon-512.png', sizes: '512x512', type: 'image/png', purpose: 'any' },
      {
        src: '/icons/icon-maskable-512.png',
        sizes: '512x512',
        type: 'image/png',
        purpose: 'maskable',
      },
    ],
  },
  // The glob below already lists public/ (favicon, icons); the plugin adds the web app manifest.
  includeManifestIcons: false,
  workbox: {
    globPatterns: ['**/*.{html,js,css,svg,png}'],
    // The federated trainer (its worker and tfjs, ~1.9 MB) loads only for a visitor who agreed to
    // federated learning, while a round is open: never precached for everyone.
    // The on-device LLM (its worker and engines, web-llm's ~6 MB) loads only when a page asks
    // for the model (loadLlm()): never precached either.
    globIgnores: [
      'assets/trainer.worker-*.js',
      `assets/${TFJS_CHUNK_PREFIX}*.js`,
      'assets/llm.worker-*.js',
      `assets/${LLM_CHUNK_PREFIX}*.js`,
    ],
    // Vite's hashed names need no revision of their own.
    dontCacheBustURLsMatching: /^assets\//,
    navigateFallback: '/index.html',
    navigateFallbackDenylist: [/^\/v1\//, /^\/healthz$/, /^\/metrics$/],
    cleanupOutdatedCaches: true,
    clientsClaim: true,
    runtimeCaching: [
      {
        urlPattern: ROUTES.blob,
        handler: 'CacheFirst',
        options: { cacheName: SDK_CACHE, plugins: [sdkBlobPlugin] },
      },
      {
        urlPattern: ROUTES.manifest,
        handler: 'NetworkFirst',
        options: {
          cacheName: SDK_CACHE,
          networkTimeoutSeconds: NETWORK_TIMEOUT_S,
          plugins: [sdkManifestPlugin],
        },
      },
      {
        urlPattern: ROUTES.ortWasm,
        handler: 'CacheFirst',
        options: {
          cacheName: ORT_CACHE,
          cacheableResponse: { statuses: [200] },
          // One ORT version in use, one on its way in after an update.
          expiration: { maxEntries: 2 },
        },
      },
      {
        urlPattern: ROUTES.siteConfig,
        handler: 'NetworkFirst',
        options: {
          cacheName: SITE_CACHE,
          networkTimeoutSeconds: NETWORK_TIMEOUT_S,
          cacheableResponse: { statuses: [200] },
        },
      },
    ],
  },
};

/**
 * The demo site build. `index.html` sits at the repo root (vite's default root), so
 * `vite build` and the CLI's `build({ root })` both find it; `public/` is copied verbatim
 * (favicon, icons). Output goes to `dist/`, which `localrec serve` serves at `/`.
 *
 * ONNX Runtime's .wasm needs no copying step here: src/client/ranker/ort-assets.ts imports it with
 * `?url`, so vite emits it as a content-hashed file under `dist/assets/` and hands the ranker
 * worker its final URL (served with immutable caching like every other hashed asset).
 */
export default defineConfig({
  plugins: [precompress(), VitePWA(pwaOptions)],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // ORT's ES build uses top-level await and BigInt64Array; every WebGPU/WASM-capable browser has both.
    target: 'es2022',
    // The worker chunk carries ONNX Runtime (~420 kB minified): expected, and off the main thread.
    chunkSizeWarningLimit: 600,
    // The .wasm is ~28 MB; inlining any binary as base64 would only bloat JS.
    assetsInlineLimit: (file) => (file.endsWith('.wasm') ? false : undefined),
  },
  server: {
    // `npx vite` for page work: the API, and the site config with the key it signs with, come
    // from a running `localrec serve` (or `npm start`).
    proxy: {
      '/v1': process.env['LOCALREC_API'] ?? 'http://127.0.0.1:8080',
      '/healthz': process.env['LOCALREC_API'] ?? 'http://127.0.0.1:8080',
      '/localrec-config.json': process.env['LOCALREC_API'] ?? 'http://127.0.0.1:8080',
    },
  },
  optimizeDeps: {
    // As in vitest.config.ts: ORT served as shipped (pre-bundling moves it away from the
    // files it locates relative to itself), comlink pre-bundled up front so its late
    // discovery inside the worker does not make vite re-optimize and reload the page.
    exclude: ['onnxruntime-web', 'onnxruntime-web/webgpu', 'onnxruntime-web/wasm'],
    include: ['comlink'],
  },
  worker: {
    // Module workers: the ranker worker uses `import`, and ORT's ESM needs import.meta.url.
    format: 'es',
    rolldownOptions: { output: { chunkFileNames: workerChunkName } },
  },
});

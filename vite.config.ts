import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { defineConfig, type Plugin } from 'vite';

/** Extensions worth compressing; images other than SVG and fonts are compressed already. */
const COMPRESSIBLE = /\.(wasm|m?js|css|html|svg|json|webmanifest)$/;

/**
 * Writes `x.br` and `x.gz` next to every compressible build output over 1 kB, which
 * `@fastify/static` (`preCompressed`) serves to clients that accept them. It matters for one
 * file above all: ONNX Runtime's .wasm is ~28 MB raw, ~5 MB as brotli. Brotli quality 5: on
 * that file quality 11 saves a further ~20% but takes over a minute instead of ~2.5 s. Both
 * encodings, because Chromium offers `br` only on secure origins and plain-http demos get gzip.
 */
function precompress(): Plugin {
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
        if (!COMPRESSIBLE.test(file) || statSync(file).size < 1024) continue;
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
 * The demo site build. `index.html` sits at the repo root (vite's default root), so
 * `vite build` and the CLI's `build({ root })` both find it; `public/` is copied verbatim
 * (favicon). Output goes to `dist/`, which `localrec serve` serves at `/`.
 *
 * ONNX Runtime's .wasm needs no copying step here: src/client/ort-assets.ts imports it with
 * `?url`, so vite emits it as a content-hashed file under `dist/assets/` and hands the ranker
 * worker its final URL (served with immutable caching like every other hashed asset).
 */
export default defineConfig({
  plugins: [precompress()],
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
    // `npx vite` for page work: the API comes from a running `localrec serve`.
    proxy: {
      '/v1': process.env['LOCALREC_API'] ?? 'http://127.0.0.1:8080',
      '/healthz': process.env['LOCALREC_API'] ?? 'http://127.0.0.1:8080',
    },
  },
  optimizeDeps: {
    // As in vitest.config.ts: ORT served as shipped (pre-bundling moves it away from the
    // files it locates relative to itself), comlink pre-bundled up front so its late
    // discovery inside the worker does not make vite re-optimize and reload the page.
    exclude: ['onnxruntime-web', 'onnxruntime-web/webgpu'],
    include: ['comlink'],
  },
  worker: {
    // Module workers: the ranker worker uses `import`, and ORT's ESM needs import.meta.url.
    format: 'es',
  },
});

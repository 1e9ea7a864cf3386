import { resolve } from 'node:path';
import { defineConfig } from 'vite';
import { EMBED_FILE } from './src/cli/build-embed.ts';
import { precompress } from './vite.config.ts';

/**
 * The script's own URL, captured while the script runs for the first time: `document.currentScript`
 * is only set then (and only for a classic script), and every later use (the worker's URL, the
 * SDK's `import.meta.url`) must resolve against the localrec server, not the host page.
 */
const SCRIPT_URL = '__localrecScriptUrl';
const INTRO =
  `var ${SCRIPT_URL} = (function () { try { var s = document.currentScript; ` +
  `return (s && s.tagName === 'SCRIPT' && s.src) || document.baseURI; } catch (e) { return ''; } })();`;

/**
 * The one-tag embed (src/embed/main.ts): one self-contained classic script, `localrec.js`, that
 * a site loads with `<script src="https://recs.example/localrec.js" data-… async>`. It is an IIFE,
 * not an ES module, because the tag is a plain `<script>`; everything heavy (the recommender
 * worker, ONNX Runtime and its .wasm) is a separate, lazily loaded file under `assets/`.
 *
 * URLs: the worker chunk is an ES module whose `import.meta.url` is its own (server) URL, so its
 * assets (ORT's .wasm, its dynamic chunks) resolve relative to it (`base: './'`). The IIFE has
 * no `import.meta`, so the script's URL is captured at start ({@link INTRO}) and stands in for it.
 *
 * `buildSite()` (src/cli/build-site.ts) runs this after the site build, into the same folder.
 */
export default defineConfig({
  root: import.meta.dirname,
  base: './',
  // The site build copies public/; this build adds its own files beside the site's.
  publicDir: false,
  plugins: [precompress()],
  build: {
    outDir: 'dist',
    emptyOutDir: false,
    target: 'es2022',
    // The worker chunk carries ONNX Runtime's JS (~240 kB): expected, and off the main thread.
    chunkSizeWarningLimit: 600,
    assetsInlineLimit: (file) => (file.endsWith('.wasm') ? false : undefined),
    rolldownOptions: {
      input: resolve(import.meta.dirname, 'src/embed/main.ts'),
      transform: { define: { 'import.meta.url': SCRIPT_URL } },
      output: {
        format: 'iife',
        intro: INTRO,
        entryFileNames: EMBED_FILE,
        assetFileNames: 'assets/[name]-[hash][extname]',
      },
    },
  },
  experimental: {
    // Asset URLs in the IIFE resolve against the script's URL; in the (ES module) worker chunks,
    // against their own `import.meta.url` (vite's default for a relative base).
    renderBuiltUrl(filename, { hostId }) {
      if (hostId === EMBED_FILE)
        return { runtime: `new URL(${JSON.stringify(filename)}, ${SCRIPT_URL}).href` };
      return { relative: true };
    },
  },
  worker: {
    // Module workers: the recommender worker uses `import`, and ORT's ESM needs import.meta.url.
    format: 'es',
  },
});

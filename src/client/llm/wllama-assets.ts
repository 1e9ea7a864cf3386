/**
 * Where wllama's WebAssembly build of llama.cpp lives, resolved by vite (the llm worker's
 * counterpart of ../ranker/ort-assets.ts and ../trainer/wasm-assets.ts). wllama 3 ships one
 * `wllama.wasm` (10.2 MB; 2.2 MB brotli, 2.9 MB gzip) that runs single- or multi-threaded; its own default
 * is a CDN, which localrec never uses: the file is served from the site's own origin. Imported
 * with `?url`, vite serves it from node_modules in dev and tests, and `vite build` emits it as a
 * hashed asset. The package build (scripts/build-package.mjs) replaces this module with one that
 * copies the file beside it and names it with `new URL('./wllama.wasm', import.meta.url)`.
 * Serve it with `Content-Type: application/wasm`.
 */
import wasm from '@wllama/wllama/esm/wasm/wllama.wasm?url';

/** wllama's `AssetsPathConfig`. */
export const wllamaAssets: { default: string } = { default: wasm };

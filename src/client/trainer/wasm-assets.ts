/**
 * Where tfjs-backend-wasm's WebAssembly binaries live, resolved by vite (the trainer worker's
 * counterpart of ../ranker/ort-assets.ts). The backend picks one of three builds at start —
 * plain, SIMD, or threaded SIMD (threads need a cross-origin isolated page) — and fetches it by
 * a path of its own, which under a bundler points nowhere. The trainer never runs the threaded
 * build (backend.ts turns multithreading off), so only the plain and SIMD files are named here.
 * Imported with `?url`, vite serves them from node_modules in dev and tests, and `vite build`
 * emits them as hashed assets (~300–440 kB each; a device fetches one). The package build (scripts/build-package.mjs) replaces
 * this module with one that copies the files beside it and names them with
 * `new URL('./….wasm', import.meta.url)`, which a site's bundler recognises, emits and rewrites.
 */
import plain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import simd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';

/** `setWasmPaths()` of tfjs-backend-wasm: each build the trainer may load, by its file name. */
export const tfWasmPaths: Readonly<Record<string, string>> = {
  'tfjs-backend-wasm.wasm': plain,
  'tfjs-backend-wasm-simd.wasm': simd,
};

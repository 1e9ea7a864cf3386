/**
 * Where ONNX Runtime Web's WebAssembly binary lives, resolved by vite.
 *
 * The ranker imports `onnxruntime-web/webgpu`: the build with the `wasm` EP and the native
 * (C++) WebGPU EP, compiled with Asyncify. It embeds its Emscripten glue but fetches
 * `ort-wasm-simd-threaded.asyncify.wasm` (26.8 MB; 4.7 MB brotli, 6.7 MB gzip) relative to its
 * own module URL. Under vite that URL is wrong in dev (dependencies are pre-bundled into
 * `node_modules/.vite/deps/`, where the .wasm is not), so we import the file with `?url`: in dev
 * and tests vite serves it from node_modules, and `vite build` copies it into the output as a
 * hashed asset (`assets/ort-wasm-simd-threaded.asyncify-<hash>.wasm`) and rewrites this URL.
 * Serve it with `Content-Type: application/wasm` (for streaming compilation) and a long cache
 * lifetime (the name carries a hash). Pages that serve ORT's files elsewhere (a CDN) pass their
 * own `wasmPaths` to `createRanker()` instead of importing this module.
 *
 * Kept apart from ranker.ts so the ranker itself does not depend on vite's `?url` imports.
 */
import asyncifyWasmUrl from 'onnxruntime-web/ort-wasm-simd-threaded.asyncify.wasm?url';

/** `ort.env.wasm.wasmPaths` for the `onnxruntime-web/webgpu` import under vite. */
export const ortWasmPaths: { wasm: string } = { wasm: asyncifyWasmUrl };

/**
 * Where ONNX Runtime Web's WebAssembly binaries live, resolved by vite.
 *
 * The ranker imports one ORT build per device (ranker.ts `runtimeFor`): `onnxruntime-web/wasm`
 * (CPU only; fetches `ort-wasm-simd-threaded.wasm`, 14.2 MB, 3.7 MB gzip) and
 * `onnxruntime-web/webgpu` (the native WebGPU EP plus wasm, compiled with Asyncify; fetches
 * `ort-wasm-simd-threaded.asyncify.wasm`, 26.8 MB, 6.6 MB gzip). Each embeds its Emscripten glue
 * but fetches its .wasm relative to its own module URL, which under vite is wrong in dev
 * (dependencies are pre-bundled into `node_modules/.vite/deps/`, where the .wasm is not), so
 * both files are imported with `?url`: in dev and tests vite serves them from node_modules, and
 * `vite build` copies them into the output as hashed assets and rewrites these URLs. A visitor
 * downloads only the file of the device their encoders run on. Serve them with
 * `Content-Type: application/wasm` (for streaming compilation) and a long cache lifetime (the
 * names carry a hash). Pages that serve ORT's files elsewhere (a CDN) pass their own
 * `wasmPaths` to `createRanker()` instead of importing this module.
 *
 * Kept apart from ranker.ts so the ranker itself does not depend on vite's `?url` imports.
 */
import asyncifyWasmUrl from 'onnxruntime-web/ort-wasm-simd-threaded.asyncify.wasm?url';
import plainWasmUrl from 'onnxruntime-web/ort-wasm-simd-threaded.wasm?url';
import type { Device } from './device.ts';

/** The .wasm each device's ORT build fetches. */
export const ortWasmUrls: Readonly<Record<Device, string>> = {
  wasm: plainWasmUrl,
  webgpu: asyncifyWasmUrl,
};

/** `ort.env.wasm.wasmPaths` for the ORT build of `device`, under vite (RankerOptions.wasmPaths). */
export function ortWasmPaths(device: Device): { wasm: string } {
  return { wasm: ortWasmUrls[device] };
}

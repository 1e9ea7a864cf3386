/**
 * Runtime choice: which device the encoders run on (device.ts decides) and the ONNX Runtime
 * build for it, imported once per realm and configured before its first session.
 */
// ONNX Runtime is imported per device, on first use (runtimeFor): on WASM the CPU-only build
// `onnxruntime-web/wasm` (its .wasm is 14.2 MB, 3.7 MB gzip), on WebGPU the build with the
// native WebGPU EP `onnxruntime-web/webgpu` (Asyncify, 26.8 MB, 6.6 MB gzip) — a visitor
// downloads only the one their device needs. Not the default import for WebGPU: that one uses
// the older JSEP WebGPU backend (deprecated since ORT 1.29), whose DequantizeLinear gives wrong
// int8 results for a one-element scale — i.e. for a one-item history through our int8 encoder —
// and then keeps serving that wrong shader from its cache to every later DequantizeLinear of
// the same rank (onnxruntime#32578). The native EP is correct.
import type * as ort from 'onnxruntime-web/webgpu';
import { LocalrecError } from '../../core/errors.ts';
import { message } from './catalog.ts';
import { pickDevice, type Device, type DeviceChoice, type GpuLike } from './device.ts';

/** One ONNX Runtime build (the `onnxruntime-web/wasm` and `/webgpu` modules share this API). */
export type OrtRuntime = typeof ort;

/** How to reach ONNX Runtime (the part of the ranker's options that concerns it). */
export interface RuntimeOptions {
  /**
   * Where ORT's `.wasm` (and optionally `.mjs`) files are (`ort.env.wasm.wasmPaths`): a URL
   * prefix (both builds find their own file under it), or a function giving the paths of the
   * build a device uses (`{ wasm }` URLs; see {@link runtimeFor}). Under vite use `ortWasmPaths`
   * from ort-assets.ts (the workers do); omitted, ORT looks next to its own module, which works
   * only when the page serves ORT's dist/ folder unbundled.
   */
  wasmPaths?: ort.Env.WasmPrefixOrFilePaths | ((device: Device) => ort.Env.WasmPrefixOrFilePaths);
  /**
   * WASM threads (`ort.env.wasm.numThreads`). Default: ORT's choice, which is 1 unless the page
   * is cross-origin isolated (threads need SharedArrayBuffer).
   */
  numThreads?: number;
  /** Stand-in for `navigator.gpu` in device detection (tests); `null` means "no WebGPU". */
  gpu?: GpuLike | null;
}

const runtimes = new Map<Device, Promise<OrtRuntime>>();

/**
 * The ONNX Runtime build for a device, imported once per realm: `onnxruntime-web/wasm` for
 * WASM, `onnxruntime-web/webgpu` for WebGPU (see the note at the top of this file).
 */
export function runtimeFor(device: Device): Promise<OrtRuntime> {
  let rt = runtimes.get(device);
  if (!rt) {
    rt = (
      device === 'webgpu' ? import('onnxruntime-web/webgpu') : import('onnxruntime-web/wasm')
    ) as Promise<OrtRuntime>;
    runtimes.set(device, rt);
    // A failed import (the network went while its chunk loaded) is tried again next time.
    rt.catch(() => runtimes.delete(device));
  }
  return rt;
}

/** A device decided on, with its configured runtime. */
export interface ChosenRuntime {
  rt: OrtRuntime;
  device: Device;
  /** Why this device (device.ts), for the load result. */
  reason: string;
}

/**
 * Picks the device for `choice` and returns its runtime, configured. ORT's settings are global
 * to the realm and fixed by its first session, so in one realm the first ranker to load decides.
 */
export async function chooseRuntime(
  choice: DeviceChoice,
  options: RuntimeOptions,
): Promise<ChosenRuntime> {
  const decision = await pickDevice(choice, options.gpu === undefined ? {} : { gpu: options.gpu });
  const rt = await runtimeFor(decision.device);
  const paths = options.wasmPaths;
  if (paths !== undefined)
    rt.env.wasm.wasmPaths = typeof paths === 'function' ? paths(decision.device) : paths;
  if (options.numThreads !== undefined) rt.env.wasm.numThreads = options.numThreads;
  // Same preference as pickDevice(), so ORT opens the adapter that was examined.
  if (decision.device === 'webgpu') rt.env.webgpu.powerPreference = 'high-performance';
  return { rt, device: decision.device, reason: decision.reason };
}

/** Turns ORT's session-creation failure into a LocalrecError with a code a caller can act on. */
export function sessionError(e: unknown, device: Device): LocalrecError {
  const m = message(e);
  // ORT reports a backend that cannot initialise as "no available backend found. ERR: [webgpu] ...".
  if (/no available backend|webgpu is not supported|failed to get gpu adapter/i.test(m)) {
    return new LocalrecError(
      'device-unavailable',
      `ONNX Runtime cannot run on '${device}' here: ${m}; try device 'wasm'`,
      { cause: e },
    );
  }
  return new LocalrecError(
    'bad-format',
    `the encoder is not a model ONNX Runtime can load on '${device}': ${m}`,
    { cause: e },
  );
}

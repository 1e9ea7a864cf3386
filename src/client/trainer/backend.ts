/**
 * The tfjs backend fine-tuning runs on, in the trainer worker: WebGPU
 * (`@tensorflow/tfjs-backend-webgpu`) where the device rule of ../ranker/device.ts picks it — a
 * real adapter (`navigator.gpu.requestAdapter()` not null and not a software/fallback one), or
 * any adapter when `'webgpu'` is asked for — and the WASM backend (`@tensorflow/tfjs-backend-wasm`)
 * otherwise. Each backend's module is imported only when it is used, so a WASM device never
 * downloads the WebGPU kernels. tfjs's backend is global to the realm: the first choice holds.
 */
import * as tf from '@tensorflow/tfjs';
import { LocalrecError } from '../../core/errors.ts';
import { pickDevice, type DeviceChoice } from '../ranker/device.ts';

/** The backend in use. */
export interface TrainBackend {
  device: 'webgpu' | 'wasm';
  reason: string;
  /** WASM threads; null on WebGPU. */
  threads: number | null;
}

/** Where tfjs-backend-wasm's .wasm files are (see ./wasm-assets.ts); undefined: its own default. */
export type TfWasmPaths = Readonly<Record<string, string>> | undefined;

let chosen: Promise<TrainBackend> | undefined;

async function useWasm(paths: TfWasmPaths, reason: string): Promise<TrainBackend> {
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  // One thread, even on a cross-origin isolated page: the threaded build starts its pthread
  // workers from its own factory's source text (`Function.toString()`), which a bundler's
  // minifying breaks — on such a page the worker dies with "e is not defined".
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  // setWasmPaths() throws unless its map names all three builds; the threaded one is never
  // fetched (multithreading is off above), and ./wasm-assets.ts ships no copy of it: point it at
  // the SIMD file.
  const simd = paths?.['tfjs-backend-wasm-simd.wasm'];
  if (paths)
    wasm.setWasmPaths({
      ...(simd !== undefined && { 'tfjs-backend-wasm-threaded-simd.wasm': simd }),
      ...paths,
    });
  if (!(await tf.setBackend('wasm')))
    throw new LocalrecError(
      'device-unavailable',
      'the tfjs WASM backend could not start here (is its .wasm served as application/wasm?)',
    );
  await tf.ready();
  return { device: 'wasm', reason, threads: wasm.getThreadsCount() };
}

async function choose(choice: DeviceChoice, paths: TfWasmPaths): Promise<TrainBackend> {
  const decision = await pickDevice(choice);
  if (decision.device === 'wasm') return useWasm(paths, decision.reason);
  await import('@tensorflow/tfjs-backend-webgpu');
  if (await tf.setBackend('webgpu').catch(() => false)) {
    await tf.ready();
    return { device: 'webgpu', reason: decision.reason, threads: null };
  }
  if (choice === 'webgpu')
    throw new LocalrecError(
      'device-unavailable',
      `device 'webgpu' was requested but tfjs could not start its WebGPU backend (${decision.reason}); use 'wasm' or 'auto'`,
    );
  return useWasm(paths, `${decision.reason}, but tfjs's WebGPU backend failed to start: WASM`);
}

/**
 * Selects the backend for `choice` once per realm and returns it; a later call with another
 * choice gets the first one (tfjs cannot run two backends' variables side by side).
 */
export function trainBackend(choice: DeviceChoice, paths: TfWasmPaths): Promise<TrainBackend> {
  chosen ??= choose(choice, paths);
  chosen.catch(() => (chosen = undefined));
  return chosen;
}

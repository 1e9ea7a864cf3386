/**
 * `--backend webgpu`: @tensorflow/tfjs-backend-webgpu (the kernels the browser's trainer runs)
 * over Dawn for Node, the npm package `webgpu` (a dev dependency of this repo, which owners who want the GPU path install themselves: it is 132 MB, too much for every site that installs the SDK; imported only here).
 * Dawn reaches the GPU through Vulkan on Linux (the loader libvulkan.so.1 and a driver), Metal
 * on macOS, D3D12 on Windows. tfjs-backend-webgpu registers itself on import only when
 * `navigator.gpu` exists, so Dawn's GPU object is installed there first.
 *
 * Any adapter Dawn offers is used, even a software one (the owner asked for WebGPU); whether it
 * is a GPU is reported, and `--backend auto` takes hardware adapters only (../tf-node.ts).
 */
import * as tf from '@tensorflow/tfjs';
import { LocalrecError } from '../../core/errors.ts';
import { classifyAdapter, describeAdapter, type AdapterLike } from '../../core/gpu-adapter.ts';
import type { LoadedBackend } from './types.ts';

/**
 * Chromium's SwiftShader Vulkan driver on Debian (package chromium): a software adapter for
 * tests, used by pointing the Vulkan loader at it (`VK_ICD_FILENAMES`) before Dawn starts.
 */
export const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

/** The part of the `webgpu` package used here. */
interface DawnModule {
  create(flags: string[]): {
    requestAdapter(o?: { powerPreference?: 'high-performance' | 'low-power' }): Promise<unknown>;
  };
  globals: Record<string, unknown>;
}

const HINT =
  'On Linux Dawn needs the Vulkan loader (Debian: apt-get install libvulkan1) and a Vulkan driver ' +
  `for the GPU; for a software adapter (tests only, CPU speed) set VK_ICD_FILENAMES=${SWIFTSHADER_ICD} ` +
  "(Debian's chromium ships SwiftShader). Or use --backend wasm (the default) or auto";

async function importDawn(): Promise<DawnModule> {
  // A variable specifier: the package is optional, and type-checking must not need it.
  const name = 'webgpu';
  try {
    return (await import(name)) as DawnModule;
  } catch (e) {
    const missing =
      (e as { code?: string }).code === 'ERR_MODULE_NOT_FOUND' &&
      String((e as Error).message).includes(`'${name}'`);
    throw new LocalrecError(
      'device-unavailable',
      missing
        ? "--backend webgpu needs the npm package 'webgpu' (Dawn for Node, 132 MB, not installed with localrec), which is not installed: npm install webgpu"
        : `--backend webgpu: the npm package 'webgpu' failed to load (${(e as Error).message}); reinstall it (npm install webgpu) or use --backend wasm`,
      { cause: e },
    );
  }
}

/** Makes Dawn the realm's WebGPU: its GPU* globals (buffer usage flags…) and navigator.gpu. */
function installGpu(dawn: DawnModule, gpu: unknown): void {
  const g = globalThis as Record<string, unknown>;
  for (const [k, v] of Object.entries(dawn.globals)) if (g[k] === undefined) g[k] = v;
  const nav = g['navigator'] as Record<string, unknown> | undefined;
  // Node 21+ has a navigator without gpu; Node 20 has none.
  if (nav) Object.defineProperty(nav, 'gpu', { value: gpu, configurable: true });
  else
    Object.defineProperty(g, 'navigator', { value: { gpu }, configurable: true, writable: true });
}

/** Loads Dawn, checks it has an adapter, and selects tfjs-backend-webgpu on it. */
export async function loadWebgpu(): Promise<LoadedBackend> {
  const dawn = await importDawn();
  const gpu = dawn.create([]);
  let adapter: AdapterLike | null;
  try {
    adapter = (await gpu.requestAdapter({ powerPreference: 'high-performance' })) as AdapterLike;
  } catch (e) {
    throw new LocalrecError(
      'device-unavailable',
      `--backend webgpu: Dawn's requestAdapter() failed (${(e as Error).message}). ${HINT}`,
      { cause: e },
    );
  }
  if (!adapter)
    throw new LocalrecError(
      'device-unavailable',
      `--backend webgpu: Dawn found no WebGPU adapter (its warnings above say why). ${HINT}`,
    );
  installGpu(dawn, gpu);
  await import('@tensorflow/tfjs-backend-webgpu');
  if (!tf.findBackendFactory('webgpu'))
    throw new LocalrecError(
      'internal',
      '--backend webgpu: tfjs-backend-webgpu was loaded before navigator.gpu was set, so it did not register',
    );
  if (!(await tf.setBackend('webgpu')))
    throw new LocalrecError(
      'device-unavailable',
      `--backend webgpu: tfjs-backend-webgpu could not start on ${describeAdapter(adapter)}`,
    );
  await tf.ready();
  const cls = classifyAdapter(adapter);
  return {
    gpu: !cls.software,
    reason: `tfjs-backend-webgpu on Dawn, adapter ${describeAdapter(adapter)}${cls.software ? ' (a software adapter: CPU speed)' : ''}`,
  };
}

/**
 * `--backend tensorflow`: tfjs-node's native TensorFlow backend, when the owner has installed
 * `@tensorflow/tfjs-node-gpu` (CUDA) or `@tensorflow/tfjs-node` (CPU). Neither is a dependency
 * of localrec: their install step downloads libtensorflow from outside the npm registry, which
 * fails on machines without that network. Imported only here, by a variable specifier.
 */
import * as tf from '@tensorflow/tfjs';
import { LocalrecError } from '../../core/errors.ts';
import type { LoadedBackend } from './types.ts';

/** Tried in this order: the GPU build first. */
export const TFJS_NODE_PACKAGES = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'] as const;

/** What tfjs-node's backend tells of itself (not in tfjs-core's types). */
interface NodeKernelBackend {
  isGPUPackage?: boolean;
  isUsingGpuDevice?: boolean;
}

const notFound = (e: unknown, name: string) =>
  (e as { code?: string }).code === 'ERR_MODULE_NOT_FOUND' &&
  String((e as Error).message).includes(`'${name}'`);

/** Imports the first installed tfjs-node build and selects its backend. */
export async function loadTensorflow(): Promise<LoadedBackend> {
  let used: string | null = null;
  for (const name of TFJS_NODE_PACKAGES) {
    try {
      await import(name);
      used = name;
      break;
    } catch (e) {
      if (notFound(e, name)) continue;
      throw new LocalrecError(
        'device-unavailable',
        `--backend tensorflow: ${name} is installed but failed to load (${(e as Error).message}); ` +
          'reinstall it (its install downloads libtensorflow), or use --backend wasm',
        { cause: e },
      );
    }
  }
  if (!used)
    throw new LocalrecError(
      'device-unavailable',
      `--backend tensorflow needs tfjs-node, which is not installed: npm install @tensorflow/tfjs-node-gpu@${tf.version_core} ` +
        `(NVIDIA GPU with CUDA) or @tensorflow/tfjs-node@${tf.version_core} (CPU) — their install downloads libtensorflow ` +
        'from storage.googleapis.com — or use --backend wasm (the default) or webgpu',
    );
  // tfjs-node registers on its own copy of tfjs-core when its version differs from ours.
  if (!tf.findBackendFactory('tensorflow'))
    throw new LocalrecError(
      'device-unavailable',
      `--backend tensorflow: ${used} registered its backend with another copy of tfjs-core; install the version matching @tensorflow/tfjs ${tf.version_core}`,
    );
  if (!(await tf.setBackend('tensorflow')))
    throw new LocalrecError('device-unavailable', `--backend tensorflow: ${used} could not start`);
  await tf.ready();
  const b = tf.backend() as unknown as NodeKernelBackend;
  const gpu = b.isGPUPackage === true && b.isUsingGpuDevice === true;
  return {
    gpu,
    reason: `${used}${gpu ? ' on a CUDA GPU' : b.isGPUPackage ? ' (no CUDA device found: on the CPU)' : ' (CPU)'}`,
  };
}

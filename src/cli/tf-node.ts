/**
 * The tfjs backend of everything that computes in Node (train, eval, fedsim, two-tower):
 * tfjs-backend-wasm by default (tfjs-node cannot be installed everywhere; wasm is about 8× the
 * plain JS backend), or a GPU path the owner asks for with `--backend` (./backend/).
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { LocalrecError } from '../core/errors.ts';
import { selfCheck } from './backend/self-check.ts';
import { loadTensorflow } from './backend/tensorflow.ts';
import {
  BACKEND_CHOICES,
  type BackendChoice,
  type BackendInfo,
  type LoadedBackend,
  type NodeBackend,
} from './backend/types.ts';
import { loadWebgpu } from './backend/webgpu.ts';

export {
  BACKEND_CHOICES,
  type BackendChoice,
  type BackendInfo,
  type NodeBackend,
} from './backend/types.ts';

/** Each backend is loaded once per process; `chosen` is the last one selected. */
const loaded = new Map<NodeBackend, Promise<LoadedBackend>>();
let chosen: Promise<BackendInfo> | null = null;

function load(backend: NodeBackend): Promise<LoadedBackend> {
  let p = loaded.get(backend);
  if (!p) {
    p =
      backend === 'webgpu' ? loadWebgpu() : backend === 'tensorflow' ? loadTensorflow() : useWasm();
    // A failed load may be retried (e.g. after the owner installs the package).
    p.catch(() => loaded.delete(backend));
    loaded.set(backend, p);
  }
  return p;
}

async function useWasm(): Promise<LoadedBackend> {
  if (!(await tf.setBackend('wasm')))
    throw new LocalrecError('device-unavailable', 'tfjs-backend-wasm could not start in this Node');
  await tf.ready();
  return { gpu: false, reason: 'tfjs-backend-wasm' };
}

async function select(backend: NodeBackend): Promise<BackendInfo> {
  const r = await load(backend);
  // A backend loaded earlier in this process is selected again (its loader ran once).
  if (tf.getBackend() !== backend) {
    await tf.setBackend(backend);
    await tf.ready();
  }
  return { backend, ...r };
}

/**
 * `auto`: a GPU path only when one initialises on a real GPU and passes {@link selfCheck}
 * (tfjs-node-gpu on a CUDA device, then WebGPU on a hardware adapter); otherwise wasm. A
 * software adapter or tfjs-node's CPU build is never picked: neither is measured faster here.
 */
async function auto(): Promise<BackendInfo> {
  const why: string[] = [];
  for (const backend of ['tensorflow', 'webgpu'] as const) {
    try {
      const r = await select(backend);
      if (!r.gpu) {
        why.push(`${backend}: ${r.reason}, not a GPU`);
        continue;
      }
      const check = await selfCheck();
      if (check) {
        why.push(`${backend}: ${r.reason} failed the self-check (${check})`);
        continue;
      }
      return { ...r, reason: `auto: ${r.reason}, self-check passed` };
    } catch (e) {
      why.push(`${backend}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  const r = await select('wasm');
  return { ...r, reason: `auto: no GPU path (${why.join('; ')}): ${r.reason}` };
}

/**
 * Selects the backend for `choice` and returns it; loads it the first time. Without a choice:
 * the backend already selected in this process, else wasm. tfjs's backend is global to the
 * process: a later choice replaces an earlier one (tensors made before move on their next use).
 *
 * @throws LocalrecError `bad-input` for an unknown choice; `device-unavailable` when the asked-for
 *   backend cannot run here (its message says what to install).
 */
export function initTf(choice?: BackendChoice): Promise<BackendInfo> {
  if (choice === undefined && chosen) return chosen;
  const c = choice ?? 'wasm';
  if (!BACKEND_CHOICES.includes(c))
    return Promise.reject(
      new LocalrecError(
        'bad-input',
        `unknown backend '${String(c)}'; valid choices are ${BACKEND_CHOICES.join(', ')}`,
      ),
    );
  const next = (chosen ?? Promise.resolve(null))
    .catch(() => null)
    .then(() => (c === 'auto' ? auto() : select(c)));
  chosen = next;
  next.catch(() => {
    if (chosen === next) chosen = null;
  });
  return next;
}

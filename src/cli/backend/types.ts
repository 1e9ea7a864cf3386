/** The tfjs backends central training can run on in Node (../tf-node.ts selects them). */

/** What `--backend` may ask for. */
export type BackendChoice = 'wasm' | 'webgpu' | 'tensorflow' | 'auto';
/** What actually computes. */
export type NodeBackend = 'wasm' | 'webgpu' | 'tensorflow';

export const BACKEND_CHOICES: readonly BackendChoice[] = ['wasm', 'webgpu', 'tensorflow', 'auto'];

/** What one backend's loader reports (it has selected the backend when it returns). */
export interface LoadedBackend {
  /** Whether it computes on a GPU (a software adapter or tfjs-node's CPU build does not). */
  gpu: boolean;
  reason: string;
}

/** The backend in use and why, in words a person can act on. */
export interface BackendInfo extends LoadedBackend {
  backend: NodeBackend;
}

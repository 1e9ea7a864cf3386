import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { LocalrecError } from '../../src/core/errors.ts';
import type { SasrecConfig, SasrecLoss } from './config.ts';
import type { ItemFeatureMatrix } from './item-features.ts';

/** What the main thread sends a gradient worker for one slice of one batch. */
export interface GradRequest {
  id: number;
  config: SasrecConfig;
  names: string[];
  shapes: number[][];
  weights: Float32Array[];
  inputs: Int32Array[];
  targets: Int32Array[];
  loss: SasrecLoss;
  excludeSeen: boolean;
  perUser: boolean;
  /** Share of items whose id embedding is dropped for this step (item features only). */
  idDropout?: number;
  /** The item feature matrix, sent with a worker's first request only (it keeps it). */
  itemFeatures?: ItemFeatureMatrix;
  /** Future-window targets: per example, k items per input position (see models/training/examples.ts buildExamples). */
  future?: { items: Int32Array[]; k: number; weight: number };
  seed: number;
}

export interface GradResponse {
  id: number;
  loss?: number;
  /** One gradient per name, in request order (empty for those sent as {@link GradResponse.rows}). */
  grads?: Float32Array[];
  /**
   * Gradients sent as their nonzero rows only (a sampled loss reads a few rows of the item
   * table): by gradient index, the row ids and those rows' values, row-major; every other row is
   * zero.
   */
  rows?: { index: number; ids: Int32Array; values: Float32Array }[];
  error?: string;
}

/**
 * The rows of a (rows, dim) gradient `g` that are not all zero, when they are under half of
 * them (else null: the dense array is as cheap to send): their ids and values.
 */
export function nonzeroRows(
  g: Float32Array,
  dim: number,
): { ids: Int32Array; values: Float32Array } | null {
  const n = g.length / dim;
  const ids: number[] = [];
  for (let r = 0; r < n; r++)
    for (let j = r * dim; j < (r + 1) * dim; j++)
      if (g[j] !== 0) {
        ids.push(r);
        break;
      }
  if (ids.length * 2 >= n) return null;
  const values = new Float32Array(ids.length * dim);
  ids.forEach((r, k) => values.set(g.subarray(r * dim, (r + 1) * dim), k * dim));
  return { ids: Int32Array.from(ids), values };
}

/**
 * `a` itself when it is the whole of its own buffer (what tfjs-backend-wasm's dataSync returns: a
 * fresh copy of the tensor's bytes), so that buffer can be transferred to another thread; else a
 * copy (e.g. the cpu backend's dataSync, which is the tensor's own storage).
 */
export function ownedArray(a: Float32Array): Float32Array {
  return tf.getBackend() === 'wasm' && a.byteOffset === 0 && a.byteLength === a.buffer.byteLength
    ? a
    : a.slice();
}

/**
 * Worker threads that compute SASRec gradients on slices of a batch, for data-parallel
 * training in Node: tfjs-backend-wasm runs single-threaded there, so each extra core gets a
 * worker with its own wasm backend, and the caller averages the gradients (weighted by
 * positions) before one optimizer step. Same math as one thread; only dropout draws differ.
 */
export class GradPool {
  private nextId = 0;
  private readonly pending = new Map<
    number,
    { resolve: (r: GradResponse) => void; reject: (e: Error) => void }
  >();
  private closed = false;

  private constructor(private readonly workers: Worker[]) {
    for (const w of workers) {
      w.on('message', (r: GradResponse) => {
        const p = this.pending.get(r.id);
        if (!p) return;
        this.pending.delete(r.id);
        if (r.error) p.reject(new LocalrecError('internal', `gradient worker failed: ${r.error}`));
        else p.resolve(r);
      });
      w.on('error', (e) => this.failAll(e));
      w.on('exit', (code) => {
        if (!this.closed) this.failAll(new Error(`gradient worker exited with code ${code}`));
      });
    }
  }

  /** Starts `n` workers (n ≥ 1). */
  static create(n: number): GradPool {
    const url = new URL('./grad-worker-boot.js', import.meta.url);
    return new GradPool(Array.from({ length: n }, () => new Worker(url)));
  }

  get size(): number {
    return this.workers.length;
  }

  /**
   * One slice's gradients from worker `worker`. `transfer`: buffers of `req` (e.g. its weights,
   * when no other worker gets them after this one) handed over instead of copied; the caller
   * must not read them afterwards.
   */
  compute(
    worker: number,
    req: Omit<GradRequest, 'id'>,
    transfer: ArrayBuffer[] = [],
  ): Promise<GradResponse> {
    const w = this.workers[worker];
    if (!w || this.closed)
      return Promise.reject(new LocalrecError('internal', `no gradient worker ${worker}`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      w.postMessage({ ...req, id } satisfies GradRequest, transfer);
    });
  }

  private failAll(e: Error): void {
    for (const p of this.pending.values())
      p.reject(new LocalrecError('internal', `gradient worker failed: ${e.message}`, { cause: e }));
    this.pending.clear();
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

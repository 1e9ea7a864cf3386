import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { LocalrecError } from '../../src/core/errors.ts';
import type { SasrecConfig, SasrecLoss } from './config.ts';
import type { ItemFeatureMatrix } from './item-features.ts';
import type { SliceDraws } from './slice.ts';

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
  /**
   * The sampled loss on some rows (models/sasrec/slice.ts rowsLoss): the item tables' weights
   * (and their gradients back) are these rows only, and the slice's draws are made already.
   */
  rows?: Int32Array;
  draws?: SliceDraws;
}

export interface GradResponse {
  id: number;
  loss?: number;
  /** One gradient per name, in request order (of the rows sent, for cut item tables). */
  grads?: Float32Array[];
  error?: string;
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

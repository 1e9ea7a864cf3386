/**
 * Simulated clients on worker threads, for `localrec fedsim`: tfjs-backend-wasm is
 * single-threaded in Node, so each core gets a thread with its own backend running
 * {@link localUpdate} for the clients it is given. A client's result depends only on its
 * sequence, seed and the base weights, not on which thread ran it.
 */
import { Worker } from 'node:worker_threads';
import { LocalrecError } from '../../src/core/errors.ts';
import type { SasrecConfig } from '../sasrec/config.ts';
import type { WeightArrays } from '../weights.ts';
import type { LocalTrainSpec } from './local-update.ts';
import { parameterSetToJson, type ParameterSet, type ParameterSetJson } from './parameter-set.ts';

/** One client's work. */
export interface ClientJob {
  kind: 'job';
  id: number;
  key: string;
  config: SasrecConfig;
  sequence: Int32Array;
  spec: LocalTrainSpec;
  seed: number;
  /**
   * Also do the rest of the client's part on the thread: privatize the change for this round
   * (clip, stochastic int8 rounding from `Rng(seed)`) and encode it, as a browser does before
   * it posts.
   */
  privatize?: PrivatizeJob;
}

/** The round a privatized job's delta is for, and the seed of its rounding. */
export interface PrivatizeJob {
  roundId: number;
  baseVersion: string;
  clipNorm: number;
  seed: number;
}

/** The base weights of a round, sent to every thread once. */
export interface BaseMessage {
  kind: 'base';
  key: string;
  config: SasrecConfig;
  weights: WeightArrays;
  set: ParameterSetJson;
}

export type PoolMessage = ClientJob | BaseMessage;

export interface ClientResult {
  id: number;
  /** The change per slice, or null for a sequence too short to train on. */
  slices: Float32Array[] | null;
  /** With `privatize`: the encoded delta (the body a browser posts) instead of the change. */
  body?: Uint8Array;
  /** With `privatize`: the change's L2 norm before clipping. */
  normBeforeClip?: number;
  error?: string;
}

/** A privatized client's result: the body it posts and its norm before clipping. */
export interface PrivatizedResult {
  body: Uint8Array;
  normBeforeClip: number;
}

export class ClientPool {
  private nextId = 0;
  private readonly pending = new Map<number, (r: ClientResult) => void>();
  private key = '';

  private closed = false;

  private constructor(private readonly workers: Worker[]) {
    for (const w of workers) {
      w.on('message', (r: ClientResult) => {
        const p = this.pending.get(r.id);
        this.pending.delete(r.id);
        p?.(r);
      });
      w.on('error', (e) => this.failAll(String(e?.stack ?? e)));
      w.on('exit', (code) => {
        if (!this.closed) this.failAll(`a client thread exited with code ${code}`);
      });
    }
  }

  private failAll(error: string): void {
    for (const [id, p] of this.pending) p({ id, slices: null, error });
    this.pending.clear();
  }

  /** Starts `n` threads. */
  static create(n: number): ClientPool {
    if (!(Number.isInteger(n) && n >= 1))
      throw new LocalrecError('bad-input', `client threads must be an integer ≥ 1, got ${n}`);
    const url = new URL('./client-worker-boot.js', import.meta.url);
    return new ClientPool(Array.from({ length: n }, () => new Worker(url)));
  }

  get size(): number {
    return this.workers.length;
  }

  /** Sends the round's base weights to every thread (once per `key`). */
  setBase(key: string, config: SasrecConfig, weights: WeightArrays, set: ParameterSet): void {
    if (key === this.key) return;
    this.key = key;
    const msg: BaseMessage = { kind: 'base', key, config, weights, set: parameterSetToJson(set) };
    for (const w of this.workers) w.postMessage(msg);
  }

  /**
   * Runs the clients (in order of `jobs`), at most one in flight per thread; resolves with
   * their results in the same order.
   */
  async run(
    config: SasrecConfig,
    jobs: { sequence: Int32Array; seed: number }[],
    spec: LocalTrainSpec,
  ): Promise<(Float32Array[] | null)[]> {
    const results = await this.dispatch(config, jobs, spec);
    return results.map((r) => r.slices);
  }

  /**
   * As {@link run}, and each client also privatizes and encodes its change on its thread
   * (src/core/privacy/privatize.ts, src/core/delta.ts: what the browser's trainer does before
   * it posts), so the clipping and rounding of a round run on every core. Resolves with each
   * client's body, or null for a sequence too short to train on.
   */
  async runPrivatized(
    config: SasrecConfig,
    jobs: { sequence: Int32Array; seed: number; privatize: PrivatizeJob }[],
    spec: LocalTrainSpec,
  ): Promise<(PrivatizedResult | null)[]> {
    const results = await this.dispatch(config, jobs, spec);
    return results.map((r) =>
      r.body ? { body: r.body, normBeforeClip: r.normBeforeClip ?? NaN } : null,
    );
  }

  private async dispatch(
    config: SasrecConfig,
    jobs: { sequence: Int32Array; seed: number; privatize?: PrivatizeJob }[],
    spec: LocalTrainSpec,
  ): Promise<ClientResult[]> {
    const out: ClientResult[] = new Array(jobs.length);
    let next = 0;
    const lane = async (w: Worker) => {
      while (next < jobs.length) {
        const i = next++;
        const id = this.nextId++;
        const r = await new Promise<ClientResult>((resolve) => {
          this.pending.set(id, resolve);
          const job: ClientJob = { kind: 'job', id, key: this.key, config, spec, ...jobs[i]! };
          w.postMessage(job);
        });
        if (r.error) throw new LocalrecError('internal', `simulated client failed: ${r.error}`);
        out[i] = r;
      }
    };
    await Promise.all(this.workers.map(lane));
    return out;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

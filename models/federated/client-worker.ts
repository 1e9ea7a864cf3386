/**
 * A thread of simulated clients (client-pool.ts): keeps the round's base weights, runs
 * {@link localUpdate} for each client it is given, and returns each client's change.
 */
import { parentPort } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { encodeDelta } from '../../src/core/delta.ts';
import { privatizeDelta } from '../../src/core/privacy/privatize.ts';
import { Rng } from '../../src/core/random.ts';
import type { WeightArrays } from '../weights.ts';
import type { ClientJob, ClientResult, PoolMessage } from './client-pool.ts';
import { localUpdate } from './local-update.ts';
import { parameterSetFromJson, type ParameterSet } from './parameter-set.ts';

await tf.setBackend('wasm');
await tf.ready();

let base: { key: string; weights: WeightArrays; set: ParameterSet } | undefined;

parentPort!.on('message', async (m: PoolMessage) => {
  if (m.kind === 'base') {
    base = { key: m.key, weights: m.weights, set: parameterSetFromJson(m.set, m.config) };
    return;
  }
  const job: ClientJob = m;
  try {
    if (!base || base.key !== job.key) throw new Error(`no base weights ${job.key} in this worker`);
    const up = await localUpdate(
      job.config,
      base.weights,
      base.set,
      job.sequence,
      job.spec,
      job.seed,
    );
    if (job.privatize && up) {
      const p = job.privatize;
      const rng = new Rng(p.seed);
      const { delta, normBeforeClip } = privatizeDelta({
        roundId: p.roundId,
        baseVersion: p.baseVersion,
        clipNorm: p.clipNorm,
        slices: up.slices,
        random: () => rng.next(),
      });
      const body = encodeDelta(delta);
      const reply: ClientResult = { id: job.id, slices: null, body, normBeforeClip };
      parentPort!.postMessage(reply, [body.buffer as ArrayBuffer]);
      return;
    }
    const reply: ClientResult = { id: job.id, slices: up?.slices ?? null };
    parentPort!.postMessage(reply, up ? up.slices.map((s) => s.buffer as ArrayBuffer) : []);
  } catch (e) {
    parentPort!.postMessage({ id: job.id, slices: null, error: String((e as Error)?.stack ?? e) });
  }
});

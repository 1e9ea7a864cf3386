/**
 * The trainer benchmark page (scripts/bench-trainer.mjs builds it with the project's vite
 * config, serves it with the model it wrote beside it, and drives it with Playwright): starts
 * the trainer worker as the SDK does (src/client/trainer/worker-client.ts), then runs the same
 * fine-tuning job `warmup + runs` times — the trainable checkpoint, a 50-event history, a
 * fixed seed — and reports the worker's own time in `localUpdate` per run (the checkpoint's
 * decoding and the backend's start are outside it) and the page's round trip.
 *
 * The result is `window.trainerBenchResult`, a promise the script awaits.
 */
import type { DeviceChoice } from '../../src/client/ranker/device.ts';
import type { LocalChange } from '../../src/client/trainer/api.ts';
import { startTrainerWorker } from '../../src/client/trainer/worker-client.ts';

/** What the page reports, per local training spec. */
export interface TrainerBenchResult {
  crossOriginIsolated: boolean;
  specs: {
    spec: unknown;
    device: string;
    deviceReason: string;
    threads: number | null;
    /** Training positions of each timed run (central training's crop rule shortens some). */
    positions: number[];
    items: number;
    /** localUpdate, measured in the worker, per timed run. */
    trainMs: number[];
    /** Page round trip per timed run (decode, train, copy the change back). */
    roundTripMs: number[];
    warmupMs: number[];
  }[];
}

declare global {
  interface Window {
    trainerBenchResult: Promise<TrainerBenchResult>;
  }
}

const params = new URLSearchParams(location.search);
const runs = Number(params.get('runs') ?? 20);
const warmup = Number(params.get('warmup') ?? 3);
const device = (params.get('device') ?? 'wasm') as DeviceChoice;

async function run(): Promise<TrainerBenchResult> {
  const [trainable, job] = await Promise.all([
    fetch('./trainable.bin').then(async (r) => new Uint8Array(await r.arrayBuffer())),
    fetch('./job.json').then((r) => r.json() as Promise<{ history: string[]; specs: unknown[] }>),
  ]);
  const worker = startTrainerWorker();
  const out: TrainerBenchResult = { crossOriginIsolated, specs: [] };
  try {
    for (const spec of job.specs) {
      const trainMs: number[] = [];
      const roundTripMs: number[] = [];
      const warmupMs: number[] = [];
      const positions: number[] = [];
      let last: LocalChange | null = null;
      for (let i = 0; i < warmup + runs; i++) {
        const t0 = performance.now();
        last = await Promise.race([
          worker.api.localChange({
            trainable,
            history: job.history,
            localTrain: spec,
            seed: 1 + i,
            device,
          }),
          worker.failed,
        ]);
        if (!last) throw new Error('the history gave nothing to train on');
        if (i < warmup) warmupMs.push(last.trainMs);
        else {
          trainMs.push(last.trainMs);
          roundTripMs.push(performance.now() - t0);
          positions.push(last.positions);
        }
      }
      out.specs.push({
        spec,
        device: last!.device,
        deviceReason: last!.deviceReason,
        threads: last!.threads,
        positions,
        items: last!.items,
        trainMs,
        roundTripMs,
        warmupMs,
      });
    }
  } finally {
    worker.terminate();
  }
  return out;
}

window.trainerBenchResult = run();

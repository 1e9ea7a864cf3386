/**
 * The trainer worker's work (workers/trainer.worker.ts exposes {@link createTrainerJobs}): decode
 * the trainable checkpoint, map the visitor's history to the model's internal indices, fine-tune
 * with `localUpdate` — the same model code, loss and examples as central training
 * (models/federated/local-update.ts) — on tfjs WebGPU or WASM, and for a round clip, round and
 * encode the change (src/core/privacy/privatize.ts, src/core/delta.ts).
 */
import { encodeDelta } from '../../core/delta.ts';
import { LocalrecError } from '../../core/errors.ts';
import { privatizeDelta } from '../../core/privacy/privatize.ts';
import { decodeCheckpoint } from '../../../models/checkpoint.ts';
import {
  checkLocalTrainSpec,
  DEFAULT_LOCAL_TRAIN,
  localUpdate,
  type LocalTrainSpec,
} from '../../../models/federated/local-update.ts';
import {
  parameterSetFromJson,
  roundSlices,
  type ParameterSet,
} from '../../../models/federated/parameter-set.ts';
import { validateModelConfig, type SasrecConfig } from '../../../models/sasrec/config.ts';
import type { WeightArrays } from '../../../models/weights.ts';
import type {
  ContributionJob,
  ContributionResult,
  LocalChange,
  RoundSlice,
  TrainerWorkerApi,
  TrainJob,
} from './api.ts';
import { trainBackend, type TfWasmPaths } from './backend.ts';

/** A trainable checkpoint, read. */
export interface TrainableModel {
  config: SasrecConfig;
  weights: WeightArrays;
  set: ParameterSet;
  /** Item id → internal index (1..numItems). */
  index: Map<string, number>;
}

const bad = (m: string) => new LocalrecError('bad-format', `trainable weights: ${m}`);

/** Reads the trainable blob: a SASRec checkpoint with `itemIds` and `federated` in its meta. */
export function readTrainable(bytes: Uint8Array): TrainableModel {
  const ck = decodeCheckpoint<SasrecConfig>(bytes, 'trainable weights');
  if (ck.model !== 'sasrec') throw bad(`a '${ck.model}' checkpoint, not sasrec`);
  validateModelConfig(ck.config);
  const ids = ck.meta['itemIds'];
  if (!Array.isArray(ids) || ids.length !== ck.config.numItems + 1)
    throw bad('the item id table is missing or not numItems + 1 long');
  const set = parameterSetFromJson(ck.meta['federated'], ck.config);
  const index = new Map<string, number>();
  for (let i = 1; i < ids.length; i++) if (typeof ids[i] === 'string') index.set(ids[i], i);
  return { config: ck.config, weights: ck.weights, set, index };
}

/**
 * The history as the model's internal indices, oldest first: ids it does not know (items added
 * since the export) are left out, and a repeat that leaving them out brings together is kept
 * (it is what the visitor did).
 */
export function toSequence(
  history: readonly string[],
  index: ReadonlyMap<string, number>,
): { sequence: Int32Array; unknown: number } {
  const out: number[] = [];
  let unknown = 0;
  for (const id of history) {
    const i = index.get(id);
    if (i === undefined) unknown++;
    else out.push(i);
  }
  return { sequence: Int32Array.from(out), unknown };
}

/** Throws unless the round asks for exactly the checkpoint's parameter set. */
export function checkSlices(set: ParameterSet, slices: readonly RoundSlice[]): void {
  const mine = roundSlices(set);
  const same =
    mine.length === slices.length &&
    mine.every(
      (s, i) => s.name === slices[i]!.name && s.shape.join('x') === slices[i]!.shape.join('x'),
    );
  if (!same)
    throw new LocalrecError(
      'bad-input',
      `the round asks for ${slices.length} slices that are not this model's parameter set (${mine.length} slices): the round and the manifest disagree`,
    );
}

/** The local training spec a manifest publishes, or the defaults. */
export function localTrainSpec(published: unknown): LocalTrainSpec {
  if (published === null || published === undefined) return DEFAULT_LOCAL_TRAIN;
  if (typeof published !== 'object')
    throw new LocalrecError('bad-input', 'local training: the manifest gives no object');
  return checkLocalTrainSpec({ ...DEFAULT_LOCAL_TRAIN, ...(published as Partial<LocalTrainSpec>) });
}

/** The worker's API over one realm's tfjs. */
export function createTrainerJobs(paths: TfWasmPaths): TrainerWorkerApi {
  async function run(job: TrainJob): Promise<LocalChange | null> {
    const model = readTrainable(job.trainable);
    if (job.slices) checkSlices(model.set, job.slices);
    const spec = localTrainSpec(job.localTrain);
    const { sequence, unknown } = toSequence(job.history, model.index);
    const backend = await trainBackend(job.device, paths);
    const t0 = performance.now();
    const up = await localUpdate(model.config, model.weights, model.set, sequence, spec, job.seed);
    const trainMs = performance.now() - t0;
    if (!up) return null;
    return {
      slices: up.slices,
      device: backend.device,
      deviceReason: backend.reason,
      threads: backend.threads,
      steps: spec.steps,
      items: Math.min(sequence.length, model.config.maxLen + 1),
      unknown,
      positions: up.positions,
      losses: up.losses,
      trainMs,
    };
  }

  return {
    localChange: run,

    async contribution(job: ContributionJob): Promise<ContributionResult | null> {
      const change = await run(job);
      if (!change) return null;
      const { slices, ...report } = change;
      const p = privatizeDelta({
        roundId: job.round.id,
        baseVersion: job.round.baseModelVersion,
        clipNorm: job.round.clipNorm,
        slices,
        localNoise: job.localNoise ?? 0,
      });
      return {
        ...report,
        bytes: encodeDelta(p.delta),
        updateId: p.delta.updateId,
        normBeforeClip: p.normBeforeClip,
        clipped: p.clipped,
      };
    },
  };
}

/**
 * The trainer worker's contract (workers/trainer.worker.ts runs ./job.ts behind it). The
 * recommender's side (./scheduler.ts) decides when to train and hands the worker everything it
 * needs as data: the verified trainable checkpoint, the visitor's history as item ids, the
 * round. The worker decodes, fine-tunes with the model code central training runs
 * (models/federated/local-update.ts, on tfjs WebGPU or WASM), privatizes and encodes. Types only
 * here: nothing of tfjs or models/ reaches the recommender worker through this file.
 */
import type { DeviceChoice } from '../ranker/device.ts';

/** One parameter slice of a round (`GET /v1/rounds/current` → `slices`). */
export interface RoundSlice {
  name: string;
  shape: number[];
}

/** What one fine-tuning run takes. */
export interface TrainJob {
  /** The trainable checkpoint (models/checkpoint.ts), already checked against its sha256. */
  trainable: Uint8Array;
  /** The visitor's history, item ids oldest first; ids the model does not know are skipped. */
  history: string[];
  /** The manifest's `federated.localTrain` (null: the defaults, DEFAULT_LOCAL_TRAIN). */
  localTrain: unknown;
  /** Seeds dropout and cropping (runs with the same seed are comparable). */
  seed: number;
  device: DeviceChoice;
  /** The round's slices: the job fails when they are not the checkpoint's parameter set. */
  slices?: RoundSlice[];
}

/** What a run did, besides its values. */
export interface TrainReport {
  /** Where it ran. */
  device: 'webgpu' | 'wasm';
  /** Why there (the device rule of ../ranker/device.ts). */
  deviceReason: string;
  /** WASM threads (1 unless the page is cross-origin isolated); null on WebGPU. */
  threads: number | null;
  /** Optimizer steps per member. */
  steps: number;
  /** History items the model knows (what it trained on; the last maxLen + 1 are used). */
  items: number;
  /** History items it does not know (new since the export), left out. */
  unknown: number;
  /** Training positions of the sequence. */
  positions: number;
  /** Loss per member and step. */
  losses: number[][];
  /** Time in localUpdate, ms. */
  trainMs: number;
}

/** The change of one run (tests and comparisons: nothing here is private-safe to send). */
export interface LocalChange extends TrainReport {
  /** New minus base values, one array per slice of the parameter set (not clipped). */
  slices: Float32Array[];
}

/** A run whose change is privatized for a round and encoded (what the outbox posts). */
export interface ContributionJob extends TrainJob {
  round: { id: number; baseModelVersion: string; clipNorm: number };
  /** Local DP noise multiplier (default 0; see TrainerOptions.localNoise). */
  localNoise?: number;
}

/** A delta ready to queue, and the facts "Your data" shows about it. */
export interface ContributionResult extends TrainReport {
  /** The encoded delta (src/core/delta.ts). */
  bytes: Uint8Array;
  updateId: string;
  normBeforeClip: number;
  clipped: boolean;
}

/** What workers/trainer.worker.ts exposes (comlink). */
export interface TrainerWorkerApi {
  /**
   * Fine-tunes and returns the raw change; null when the history has fewer than two items the
   * model knows. @throws LocalrecError `bad-format` for a checkpoint or parameter set it cannot
   * read, `bad-input` for a local training spec or round slices that do not fit.
   */
  localChange(job: TrainJob): Promise<LocalChange | null>;
  /** Fine-tunes, clips, rounds and encodes for the round; null as for {@link localChange}. */
  contribution(job: ContributionJob): Promise<ContributionResult | null>;
}

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Dataset, SplitData, SplitMetrics, UserSplit } from '../core/types.ts';
import { encodeCheckpoint } from '../../models/checkpoint.ts';
import {
  defaultModelConfig,
  defaultTrainConfig,
  validateModelConfig,
  type SasrecConfig,
  type TrainConfig,
} from '../../models/sasrec/config.ts';
import { countParameters, mergeMembers, type SasrecWeights } from '../../models/sasrec/model.ts';
import { readWeights } from '../../models/tf-ops.ts';
import * as tf from '@tensorflow/tfjs';
import { makeScorer, trainSasrec, type TrainResult } from '../../models/sasrec/train.ts';
import { usersByTrainLength } from '../../models/training/examples.ts';
import { evaluateRanking } from '../core/metrics.ts';
import {
  bakedConfig,
  itemFeatureMatrix,
  type ItemFeatureMatrix,
} from '../../models/sasrec/item-features.ts';
import { buildItemFeatures } from '../../models/training/item-features.ts';
import { splitDataset } from './data.ts';
import { bar, duration, ProgressLine } from './progress.ts';
import { initTf, type BackendChoice, type NodeBackend } from './tf-node.ts';
import {
  dataShape,
  planLines,
  planTraining,
  type PlanChoice,
  type TrainPlan,
} from './train-plan.ts';
import { measureTrainingSpeed } from './train-speed.ts';

export const CHECKPOINT_FILE = 'sasrec.ckpt';
export const CATALOG_FILE = 'catalog.json';

/**
 * Item embeddings get the catalog's features by default: on ML-100K this raised validation
 * NDCG@10 (docs/BENCHMARKS.md, run R).
 */
export const DEFAULT_ITEM_FEATURES = true;

/**
 * Models in the default ensemble. On ML-100K validation NDCG@10 rose with every member (one
 * model 0.1288, two 0.1339, three 0.1375: docs/BENCHMARKS.md); three is what fits the 30-minute
 * training budget on two cores. `npm start` trains one (it must start fast).
 */
export const DEFAULT_MEMBERS = 3;

export interface TrainRunOptions {
  model: Partial<Omit<SasrecConfig, 'numItems'>>;
  train: Partial<TrainConfig>;
  /** Where the checkpoint and catalog go. */
  out: string;
  /** Recorded in the checkpoint so `eval` can find the data again. */
  dataSource: string;
  /**
   * Add the catalog's features to item embeddings (models/sasrec/item-features.ts); default
   * {@link DEFAULT_ITEM_FEATURES}.
   */
  itemFeatures?: boolean;
  /**
   * Train an ensemble of this many models (seeds seed, seed+1, …; each picks its own best epoch
   * by validation) and save them as one (config `members`); default {@link DEFAULT_MEMBERS}.
   */
  members?: number;
  /**
   * Train (and pick epochs by the validation of) only the users this keeps; the item table
   * stays the whole catalog's. `localrec fedsim`'s starting model, trained on a share of users.
   */
  trainUsers?: (user: UserSplit, index: number) => boolean;
  quiet?: boolean;
  /**
   * Fill in what `model`, `train` and `members` leave open from the data's shape and the
   * measured speed against the time budget (./train-plan.ts), print the choices and record them
   * in the checkpoint. Without it, the tuned defaults of models/sasrec/config.ts.
   */
  plan?: boolean;
  /**
   * The tfjs backend (./tf-node.ts); default the one already selected in this process, else
   * wasm. On a GPU backend training runs on one thread (`train.workers` 1).
   */
  backend?: BackendChoice;
  /**
   * When the run's time budget (`train.maxSeconds`) began, as performance.now() milliseconds:
   * the command's start, so that reading the data counts; default the call to {@link runTrain}.
   */
  startedAt?: number;
}

export interface TrainSummary {
  dataset: string;
  out: string;
  users: number;
  items: number;
  events: number;
  parameters: number;
  epochs: number;
  bestEpoch: number;
  stoppedBy: string;
  trainSeconds: number;
  /** Median over epochs of training positions per second, and the threads that computed them. */
  positionsPerSec: number;
  workers: number;
  /** The tfjs backend that trained, and why it was chosen. */
  backend: NodeBackend;
  backendReason: string;
  /** What the data-sized defaults chose and why ({@link TrainRunOptions.plan}). */
  plan?: PlanChoice[];
  valid: SplitMetrics | null;
  /** An ensemble's members, each trained on its own (seed, epochs, best epoch, validation). */
  members?: MemberRun[];
}

/** One trained member of an ensemble. */
export interface MemberRun {
  seed: number;
  epochs: number;
  bestEpoch: number;
  stoppedBy: string;
  trainSeconds: number;
  validNdcg10: number | null;
}

function fmt(m: SplitMetrics | undefined): string {
  return m ? `valid NDCG@10 ${m.full.ndcg10.toFixed(4)} HR@10 ${m.full.hr10.toFixed(4)}` : '';
}

/**
 * Item metadata in internal-index order (index 0 = padding is left out), with each item's
 * interaction count and first-interaction timestamp from the events (the funnel's popular and
 * fresh sources).
 */
export function catalogFor(ds: Dataset, split: SplitData) {
  const byId = new Map(ds.items.map((i) => [i.id, i]));
  const count = new Map<string, number>();
  const first = new Map<string, number>();
  for (const e of ds.events) {
    count.set(e.item, (count.get(e.item) ?? 0) + 1);
    const t = first.get(e.item);
    if (t === undefined || e.timestamp < t) first.set(e.item, e.timestamp);
  }
  return split.itemIds.slice(1).map((id) => {
    const info = byId.get(id);
    const addedAt = first.get(id);
    return {
      id,
      title: info?.title ?? id,
      categories: info?.categories ?? [],
      ...(info?.url ? { url: info.url } : {}),
      ...(info?.image ? { image: info.image } : {}),
      popularity: count.get(id) ?? 0,
      ...(addedAt !== undefined && Number.isFinite(addedAt) && addedAt >= 0 ? { addedAt } : {}),
    };
  });
}

/** What {@link runTrain} trains each model on: the split, the item features and the configs. */
export interface TrainingSetup {
  /** The whole split (every user); `split` is the part that trains (see `trainUsers`). */
  whole: SplitData;
  split: SplitData;
  features: ItemFeatureMatrix | undefined;
  config: SasrecConfig;
  tc: TrainConfig;
}

/**
 * The split, item features and configs `localrec train` uses for these options (defaults
 * filled in); scripts/bench-train.mjs times training on exactly these.
 */
export function prepareTraining(
  ds: Dataset,
  opts: Pick<TrainRunOptions, 'model' | 'train' | 'itemFeatures' | 'trainUsers'>,
): TrainingSetup {
  const whole = splitDataset(ds);
  const split = opts.trainUsers
    ? { ...whole, users: whole.users.filter((u, i) => opts.trainUsers!(u, i)) }
    : whole;
  const features =
    (opts.itemFeatures ?? DEFAULT_ITEM_FEATURES)
      ? itemFeatureMatrix(buildItemFeatures(split, ds.items))
      : undefined;
  const config: SasrecConfig = {
    ...defaultModelConfig,
    ...opts.model,
    numItems: split.numItems,
    ...(features && { itemFeatures: features.cols }),
  };
  const tc: TrainConfig = { ...defaultTrainConfig, ...opts.train };
  return { whole, split, features, config, tc };
}

/**
 * Splits the dataset, trains SASRec with progress on stderr, writes `sasrec.ckpt` (best
 * validation epoch, item ids in meta) and `catalog.json` into `out`.
 */
export async function runTrain(
  ds: Dataset,
  opts: TrainRunOptions,
): Promise<{ summary: TrainSummary; split: SplitData }> {
  const startedAt = opts.startedAt ?? performance.now();
  const backend = await initTf(opts.backend);
  const prepared = prepareTraining(ds, opts);
  const { whole, split, features } = prepared;
  let { config, tc } = prepared;
  let members = opts.members;
  let plan: TrainPlan | undefined;
  const progress = new ProgressLine();
  const say = (s: string) => (opts.quiet ? undefined : progress.log(s));
  if (backend.backend !== 'wasm' || opts.backend !== undefined) say(`backend: ${backend.reason}`);
  // The gradient worker threads run tfjs-backend-wasm on weights read back each step: a GPU
  // backend's step runs whole on this thread (--backend auto is known only now).
  if (backend.backend !== 'wasm' && tc.workers > 1) {
    say(`workers 1: on ${backend.backend} a step runs on one thread`);
    tc = { ...tc, workers: 1 };
  }
  if (opts.plan) {
    say(`choosing defaults for ${ds.name} (timing a few training steps)…`);
    plan = await planTraining(
      split,
      dataShape(split, ds.events.length),
      tc.maxSeconds,
      { model: opts.model, train: opts.train, members },
      (loss, maxLen, sparseAdam) =>
        measureTrainingSpeed({ ...config, maxLen }, split, { ...tc, loss, sparseAdam }, features),
    );
    config = { ...config, ...plan.model };
    tc = { ...tc, ...plan.train };
    members = plan.members;
  }
  // What the checkpoint holds: item features, when trained with, are baked into item_emb.
  const saved = bakedConfig(config);
  say(
    `training SASRec on ${ds.name}: ${split.users.length} users, ${split.numItems} items, ${ds.events.length} events, ` +
      `${countParameters(config)} parameters, loss ${tc.loss.kind}${tc.loss.kind === 'sampled' ? `(${tc.loss.negatives})` : ''}`,
  );
  if (plan)
    say(
      `chosen for this data and a ${tc.maxSeconds > 0 ? `${Math.round(tc.maxSeconds / 60)}-minute` : 'unlimited'} budget:\n${planLines(plan).join('\n')}`,
    );
  mkdirSync(opts.out, { recursive: true });
  const K = members ?? DEFAULT_MEMBERS;
  // The checkpoint's config when K > 1; checked before any training (members 1–16).
  const ensemble: SasrecConfig = { ...saved, members: K };
  validateModelConfig(ensemble);
  const writeCheckpoint = async (
    c: SasrecConfig,
    w: SasrecWeights,
    bestEpoch: number,
    valid?: SplitMetrics | null,
    members?: MemberRun[],
  ) => {
    const meta = {
      dataset: ds.name,
      dataSource: opts.dataSource,
      itemIds: split.itemIds,
      bestEpoch,
      valid: valid ?? undefined,
      train: tc,
      ...(plan && { plan: plan.choices }),
      ...(features && { itemFeatures: { columns: features.cols } }),
      ...(members && { members }),
    };
    writeFileSync(
      join(opts.out, CHECKPOINT_FILE),
      encodeCheckpoint({ model: 'sasrec', config: c, meta, weights: await readWeights(w) }),
    );
  };
  const results: TrainResult[] = [];
  for (let k = 0; k < K; k++) {
    const seed = tc.seed + k;
    if (K > 1) say(`ensemble member ${k + 1} of ${K} (seed ${seed})`);
    // The time limit is the whole run's budget: each member gets an equal part of what is left
    // of it, less what the ensemble's own validation will take (K members' validations, by the
    // longest member's so far).
    const spent = (performance.now() - startedAt) / 1000;
    const reserve = K > 1 ? K * Math.max(0, ...results.map((r) => r.validSeconds)) : 0;
    const maxSeconds =
      tc.maxSeconds > 0 ? Math.max(1, (tc.maxSeconds - spent - reserve) / (K - k)) : 0;
    const result = await trainSasrec(
      config,
      split,
      { ...tc, seed, maxSeconds },
      {
        onProgress: (p) => {
          if (opts.quiet) return;
          progress.update(
            `${K > 1 ? `member ${k + 1}/${K} ` : ''}epoch ${p.epoch}/${p.epochs} ${bar(p.step / p.stepsPerEpoch)} loss ${p.loss.toFixed(4)} ` +
              `${Math.round(p.positionsPerSec)} pos/s  epoch ETA ${duration(p.epochEtaSec)}  elapsed ${duration(p.elapsedSec)}  ` +
              `mem ${(process.memoryUsage.rss() / 2 ** 30).toFixed(2)} GB`,
          );
        },
        onEpoch: (r) =>
          say(
            `epoch ${r.epoch}: loss ${r.loss.toFixed(4)}, ${r.seconds.toFixed(1)} s ${fmt(r.valid)}${r.best ? '  (best)' : ''}` +
              (r.learningRate !== undefined
                ? `  (learning rate now ${r.learningRate.toExponential(1)})`
                : ''),
          ),
        // The first member's best weights are saved as training goes (a usable model if the run
        // is cut short); an ensemble replaces them once every member is trained.
        onCheckpoint: (w, r) => (k === 0 ? writeCheckpoint(saved, w, r.epoch, r.valid) : undefined),
      },
      features,
    );
    results.push(result);
  }
  const memberRuns: MemberRun[] = results.map((r, k) => ({
    seed: tc.seed + k,
    epochs: r.epochsRun,
    bestEpoch: r.bestEpoch,
    stoppedBy: r.stoppedBy,
    trainSeconds: Math.round(r.trainSeconds * 10) / 10,
    validNdcg10: r.bestValid?.full.ndcg10 ?? null,
  }));
  let valid = results[0]!.bestValid;
  if (K === 1) {
    // No validation users: nothing was checkpointed; keep the final weights.
    if (!valid) await writeCheckpoint(saved, results[0]!.weights, results[0]!.bestEpoch);
  } else {
    const merged = mergeMembers(results.map((r) => r.weights));
    if (split.users.some((u) => u.valid > 0)) {
      valid = await evaluateRanking(split, 'valid', makeScorer(ensemble, merged), {
        users: usersByTrainLength(split),
      });
      say(`ensemble of ${K}: ${fmt(valid)}`);
    }
    await writeCheckpoint(ensemble, merged, results[0]!.bestEpoch, valid, memberRuns);
  }
  for (const r of results) tf.dispose(Object.values(r.weights));
  writeFileSync(join(opts.out, CATALOG_FILE), JSON.stringify(catalogFor(ds, split)));
  const summary: TrainSummary = {
    dataset: ds.name,
    out: opts.out,
    users: split.users.length,
    items: split.numItems,
    events: ds.events.length,
    parameters: countParameters(config) * K,
    epochs: results.reduce((a, r) => a + r.epochsRun, 0),
    bestEpoch: results[0]!.bestEpoch,
    stoppedBy: results[0]!.stoppedBy,
    trainSeconds: Math.round(results.reduce((a, r) => a + r.trainSeconds, 0) * 10) / 10,
    positionsPerSec: Math.round(
      median(results.flatMap((r) => r.history.map((h) => h.positionsPerSec))),
    ),
    workers: tc.workers,
    backend: backend.backend,
    backendReason: backend.reason,
    ...(plan && { plan: plan.choices }),
    valid,
    ...(K > 1 && { members: memberRuns }),
  };
  return { summary, split: whole };
}

function median(xs: number[]): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

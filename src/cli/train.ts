import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Dataset, SplitData, SplitMetrics } from '../core/types.ts';
import { encodeCheckpoint } from '../../models/checkpoint.ts';
import {
  defaultModelConfig,
  defaultTrainConfig,
  type SasrecConfig,
  type TrainConfig,
} from '../../models/sasrec/config.ts';
import { countParameters, weightsToArrays, type SasrecWeights } from '../../models/sasrec/model.ts';
import { trainSasrec } from '../../models/sasrec/train.ts';
import { splitDataset } from './data.ts';
import { bar, duration, ProgressLine } from './progress.ts';
import { initTf } from './tf-node.ts';

export const CHECKPOINT_FILE = 'sasrec.ckpt';
export const CATALOG_FILE = 'catalog.json';

export interface TrainRunOptions {
  model: Partial<Omit<SasrecConfig, 'numItems'>>;
  train: Partial<TrainConfig>;
  /** Where the checkpoint and catalog go. */
  out: string;
  /** Recorded in the checkpoint so `eval` can find the data again. */
  dataSource: string;
  quiet?: boolean;
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
  valid: SplitMetrics | null;
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

/**
 * Splits the dataset, trains SASRec with progress on stderr, writes `sasrec.ckpt` (best
 * validation epoch, item ids in meta) and `catalog.json` into `out`.
 */
export async function runTrain(
  ds: Dataset,
  opts: TrainRunOptions,
): Promise<{ summary: TrainSummary; split: SplitData }> {
  await initTf();
  const split = splitDataset(ds);
  const config: SasrecConfig = { ...defaultModelConfig, ...opts.model, numItems: split.numItems };
  const tc: TrainConfig = { ...defaultTrainConfig, ...opts.train };
  const progress = new ProgressLine();
  const say = (s: string) => (opts.quiet ? undefined : progress.log(s));
  say(
    `training SASRec on ${ds.name}: ${split.users.length} users, ${split.numItems} items, ${ds.events.length} events, ` +
      `${countParameters(config)} parameters, loss ${tc.loss.kind}${tc.loss.kind === 'sampled' ? `(${tc.loss.negatives})` : ''}`,
  );
  mkdirSync(opts.out, { recursive: true });
  const writeCheckpoint = (w: SasrecWeights, bestEpoch: number, valid?: SplitMetrics) => {
    const meta = {
      dataset: ds.name,
      dataSource: opts.dataSource,
      itemIds: split.itemIds,
      bestEpoch,
      valid,
      train: tc,
    };
    writeFileSync(
      join(opts.out, CHECKPOINT_FILE),
      encodeCheckpoint({ model: 'sasrec', config, meta, weights: weightsToArrays(w) }),
    );
  };
  const result = await trainSasrec(config, split, tc, {
    onProgress: (p) => {
      if (opts.quiet) return;
      progress.update(
        `epoch ${p.epoch}/${p.epochs} ${bar(p.step / p.stepsPerEpoch)} loss ${p.loss.toFixed(4)} ` +
          `${Math.round(p.positionsPerSec)} pos/s  epoch ETA ${duration(p.epochEtaSec)}  elapsed ${duration(p.elapsedSec)}`,
      );
    },
    onEpoch: (r) =>
      say(
        `epoch ${r.epoch}: loss ${r.loss.toFixed(4)}, ${r.seconds.toFixed(1)} s ${fmt(r.valid)}${r.best ? '  (best)' : ''}` +
          (r.learningRate !== undefined
            ? `  (learning rate now ${r.learningRate.toExponential(1)})`
            : ''),
      ),
    onCheckpoint: (w, r) => writeCheckpoint(w, r.epoch, r.valid),
  });
  // No validation users: nothing was checkpointed; keep the final weights.
  if (!result.bestValid) writeCheckpoint(result.weights, result.bestEpoch);
  writeFileSync(join(opts.out, CATALOG_FILE), JSON.stringify(catalogFor(ds, split)));
  const summary: TrainSummary = {
    dataset: ds.name,
    out: opts.out,
    users: split.users.length,
    items: split.numItems,
    events: ds.events.length,
    parameters: countParameters(config),
    epochs: result.epochsRun,
    bestEpoch: result.bestEpoch,
    stoppedBy: result.stoppedBy,
    trainSeconds: Math.round(result.trainSeconds * 10) / 10,
    positionsPerSec: Math.round(median(result.history.map((h) => h.positionsPerSec))),
    workers: tc.workers,
    valid: result.bestValid,
  };
  return { summary, split };
}

function median(xs: number[]): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

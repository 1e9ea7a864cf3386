/**
 * One slice of a training batch, scored the same on the main thread and in a gradient worker.
 *
 * The sampled loss reads only some rows of the item table: the slice's inputs, labels and
 * negatives (a few thousand of a catalog's 25k or 1M). It is computed on those rows alone
 * ({@link rowsLoss}): the rows of the id table (and item bias), those rows of F · item_feat,
 * and ids renumbered to row positions — every value the same as on the whole table, since each
 * row is computed by the same operations in the same order; the gradient is those rows'
 * (zero elsewhere, as on the whole table), and item_feat's sums only their nonzeros of F. To
 * know the rows before the forward pass, the slice's random draws are made up front
 * ({@link sliceDraws}) in the order the loss always made them.
 */
import * as tf from '@tensorflow/tfjs';
import { LocalrecError } from '../../src/core/errors.ts';
import type { Rng } from '../../src/core/random.ts';
import { lookup, padBatch } from '../tf-ops.ts';
import type { SasrecConfig, SasrecLoss } from './config.ts';
import { withItemFeatureRows, withItemFeatures, type FeatureMix } from './item-features.ts';
import { drawNegatives, lossOn, padFutures, sasrecLoss } from './loss.ts';
import { dropoutCalls, type SasrecWeights } from './model.ts';

/** How a slice of a batch is scored in training: the same on the main thread and in a gradient worker. */
export interface SliceLossOptions {
  loss: SasrecLoss;
  excludeSeen: boolean;
  perUser: boolean;
  /** The item feature matrix's nonzeros, for a config with `itemFeatures` (else null). */
  F: FeatureMix | null;
  /** With item features: share of items whose id embedding is dropped for this step. */
  idDropout: number;
  /** Future-window targets: per example, k items per input position (models/training/examples.ts buildExamples). */
  future?: { items: Int32Array[]; k: number; weight: number };
}

/** The weights with one row per catalog item (and padding): what {@link rowsLoss} cuts to rows. */
export const ROW_TABLES = ['item_emb', 'item_bias'] as const;

/** Whether a slice is computed on the rows it reads ({@link rowsLoss}): the sampled loss. */
export function readsRows(o: Pick<SliceLossOptions, 'loss'>): boolean {
  return o.loss.kind === 'sampled';
}

/** A slice's random draws, in the order {@link sliceLoss} makes them. */
export interface SliceDraws {
  /** The id dropout mask's seed (item features with idDropout > 0). */
  idDrop?: number;
  /** The forward pass's dropout seeds. */
  forward: number[];
  /** The sampled loss's negatives (catalog ids). */
  negatives?: Int32Array;
}

/** Draws what one slice's loss draws from `rng`, in the same order (see {@link SliceDraws}). */
export function sliceDraws(c: SasrecConfig, o: SliceLossOptions, rng: Rng): SliceDraws {
  const idDrop = o.F && o.idDropout > 0 ? rng.seed() : undefined;
  const forward = Array.from({ length: dropoutCalls(c) }, () => rng.seed());
  const negatives = o.loss.kind === 'sampled' ? drawNegatives(c, o.loss.negatives, rng) : undefined;
  return { ...(idDrop !== undefined && { idDrop }), forward, ...(negatives && { negatives }) };
}

/** The distinct item ids a slice reads (inputs, targets, negatives) and 0, ascending. */
export function sliceRows(
  inputs: Int32Array[],
  targets: Int32Array[],
  negatives: Int32Array,
): Int32Array {
  const seen = new Set<number>([0]);
  for (const group of [inputs, targets]) for (const s of group) for (const id of s) seen.add(id);
  for (const id of negatives) seen.add(id);
  return Int32Array.from(seen).sort();
}

/**
 * The training loss of one slice of a batch from its unpadded sequences: pads inputs, targets
 * and future items, adds the item features to the embeddings, then the loss of
 * models/sasrec/loss.ts — for the sampled loss on the rows it reads ({@link rowsLoss}), cut
 * from `w`'s whole tables here (their gradient is scattered back into the whole table).
 */
export function sliceLoss(
  c: SasrecConfig,
  w: SasrecWeights,
  inputs: Int32Array[],
  targets: Int32Array[],
  o: SliceLossOptions,
  rng: Rng,
): tf.Scalar {
  if (readsRows(o)) {
    const draws = sliceDraws(c, o, rng);
    const rows = sliceRows(inputs, targets, draws.negatives!);
    return rowsLoss(c, cutRows(w, rows), inputs, targets, o, draws, rows);
  }
  const ins = padBatch(inputs, c.maxLen);
  const tgs = padBatch(targets, c.maxLen);
  const future = o.future && {
    items: padFutures(
      o.future.items,
      inputs.map((x) => x.length),
      ins.shape[1],
      o.future.k,
    ),
    weight: o.future.weight,
  };
  const drop = o.F && o.idDropout > 0 ? { rate: o.idDropout, seed: rng.seed() } : undefined;
  return sasrecLoss(
    c,
    withItemFeatures(c, w, o.F, drop),
    ins,
    tgs,
    o.loss,
    rng,
    o.excludeSeen,
    o.perUser,
    future,
  );
}

/** `w` with its {@link ROW_TABLES} cut to rows `rows` (a lookup: the gradient goes back to the whole table). */
export function cutRows(w: SasrecWeights, rows: Int32Array): SasrecWeights {
  const out = { ...w };
  const ids = tf.tensor1d(rows, 'int32');
  for (const name of ROW_TABLES) {
    const t = w[name];
    if (!t) continue;
    out[name] =
      t.rank === 1
        ? lookup(t.reshape([-1, 1]) as tf.Tensor2D, ids).reshape([-1])
        : lookup(t as tf.Tensor2D, ids);
  }
  return out;
}

/**
 * The sampled loss of a slice on rows `rows` of the item table ({@link sliceRows}): `w`'s
 * {@link ROW_TABLES} hold just those rows, `draws` are the slice's ({@link sliceDraws}). The
 * same value as the loss on the whole table, and the gradient those rows of its gradient.
 */
export function rowsLoss(
  c: SasrecConfig,
  w: SasrecWeights,
  inputs: Int32Array[],
  targets: Int32Array[],
  o: SliceLossOptions,
  draws: SliceDraws,
  rows: Int32Array,
): tf.Scalar {
  if (o.future && o.future.weight > 0)
    throw new LocalrecError('bad-input', 'future-window targets need the full softmax loss');
  const at = new Map<number, number>();
  rows.forEach((id, i) => at.set(id, i));
  const renumber = (s: Int32Array) => s.map((id) => at.get(id)!);
  const ins = padBatch(inputs.map(renumber), c.maxLen);
  const tgs = padBatch(targets.map(renumber), c.maxLen);
  const negatives = renumber(draws.negatives!);
  const drop = draws.idDrop !== undefined ? { rate: o.idDropout, seed: draws.idDrop } : undefined;
  let next = 0;
  const seeds = { seed: () => draws.forward[next++]! };
  return lossOn(
    c,
    withItemFeatureRows(c, w, o.F, rows, drop),
    ins,
    tgs,
    o.loss,
    seeds,
    () => negatives,
    o.excludeSeen,
    o.perUser,
  );
}

/**
 * Two-tower checkpoints in the shared LRCK format (models/checkpoint.ts): the weights, the
 * item-vector table they produce (`item_vectors`, what export ships), and the item features
 * the item tower read (`features.*`, integer ids stored as float32, exact below 2^24), so a
 * checkpoint alone can re-export, re-score or extend the catalog.
 */
import { decodeCheckpoint, encodeCheckpoint } from '../checkpoint.ts';
import { LocalrecError } from '../../src/core/errors.ts';
import type { WeightArrays } from '../weights.ts';
import { validateTwoTowerConfig, type TwoTowerConfig } from './config.ts';
import type { ItemFeatures } from '../training/item-features.ts';
import { weightShapes } from './model.ts';

export const TWO_TOWER_MODEL = 'two-tower';

export interface TwoTowerCheckpoint {
  config: TwoTowerConfig;
  weights: WeightArrays;
  /** (numItems+1, dim) item vectors, row 0 zeros. */
  table: Float32Array;
  features: ItemFeatures;
  /** External item ids by internal index (itemIds[0] = ''), plus free-form training facts. */
  meta: { itemIds: string[] } & Record<string, unknown>;
}

export function encodeTwoTowerCheckpoint(ck: TwoTowerCheckpoint): Uint8Array {
  const { config: c, features: f } = ck;
  const n = c.numItems + 1;
  return encodeCheckpoint({
    model: TWO_TOWER_MODEL,
    config: c,
    meta: { ...ck.meta, categoryVocab: f.categoryVocab },
    weights: {
      ...ck.weights,
      item_vectors: { data: ck.table, shape: [n, c.dim] },
      'features.categories': { data: Float32Array.from(f.categories), shape: [n, f.maxCategories] },
      'features.title_tokens': {
        data: Float32Array.from(f.titleTokens),
        shape: [n, f.maxTitleTokens],
      },
      'features.pop_bucket': { data: Float32Array.from(f.popBucket), shape: [n] },
      'features.counts': { data: f.counts, shape: [n] },
      'features.known': { data: f.known, shape: [n] },
    },
  });
}

/** Decodes and checks a two-tower checkpoint (shapes against its config). */
export function decodeTwoTowerCheckpoint(
  bytes: Uint8Array,
  source = 'checkpoint',
): TwoTowerCheckpoint {
  const ck = decodeCheckpoint<TwoTowerConfig>(bytes, source);
  const bad = (m: string): never => {
    throw new LocalrecError('bad-format', `${source}: ${m}`);
  };
  if (ck.model !== TWO_TOWER_MODEL) bad(`holds a '${ck.model}' model, not ${TWO_TOWER_MODEL}`);
  const c = ck.config;
  try {
    validateTwoTowerConfig(c);
  } catch (e) {
    bad((e as Error).message);
  }
  const n = c.numItems + 1;
  const want: Record<string, number[]> = {
    ...weightShapes(c),
    item_vectors: [n, c.dim],
    'features.categories': [n, c.maxCategories],
    'features.title_tokens': [n, c.maxTitleTokens],
    'features.pop_bucket': [n],
    'features.counts': [n],
    'features.known': [n],
  };
  for (const [name, shape] of Object.entries(want)) {
    const a = ck.weights[name];
    if (!a) bad(`lacks tensor ${name}`);
    if (a!.shape.join(',') !== shape.join(','))
      bad(`tensor ${name} has shape [${a!.shape}], the config needs [${shape}]`);
  }
  const itemIds = ck.meta['itemIds'];
  if (!Array.isArray(itemIds) || itemIds.length !== n)
    bad('item id table missing or not numItems+1 long');
  const vocab = ck.meta['categoryVocab'];
  if (!Array.isArray(vocab) || vocab.length !== c.numCategories) bad('category vocabulary missing');
  const w = ck.weights;
  const weights: WeightArrays = {};
  for (const name of Object.keys(weightShapes(c))) weights[name] = w[name]!;
  return {
    config: c,
    weights,
    table: w['item_vectors']!.data,
    features: {
      numItems: c.numItems,
      categoryVocab: vocab as string[],
      maxCategories: c.maxCategories,
      categories: Int32Array.from(w['features.categories']!.data),
      titleBuckets: c.titleBuckets,
      maxTitleTokens: c.maxTitleTokens,
      titleTokens: Int32Array.from(w['features.title_tokens']!.data),
      popBuckets: c.popBuckets,
      counts: w['features.counts']!.data,
      popBucket: Int32Array.from(w['features.pop_bucket']!.data),
      known: w['features.known']!.data,
    },
    meta: ck.meta as TwoTowerCheckpoint['meta'],
  };
}

/**
 * Catalog features for SASRec's item embeddings: each item's vector is its id embedding plus
 * a learned mix of its features (categories, title words, popularity bucket — the catalog
 * features both models share, models/training/item-features.ts). Rare items, whose id
 * embedding sees few updates, borrow from the items that share their genres and title words.
 *
 * The features enter as one fixed matrix F (numItems+1, cols): a block per feature group
 * (categories, title-word buckets actually used, popularity buckets), each row of a block
 * averaging the item's entries. F is a constant and sparse (about ten nonzeros a row), so
 * training holds it as its nonzeros ({@link featureMix}) and a step computes F · item_feat as a
 * gather of item_feat's rows and a scatter-add into the items' rows, and item_feat's gradient
 * Fᵀ · dy the same way — no dense matmul, no transpose, and no gradient for F. A trained model is
 * "baked" for evaluation, checkpoints and export: item_emb ← item_emb + F · item_feat and the
 * config loses `itemFeatures`, so everything downstream sees a plain SASRec table.
 */
import * as tf from '@tensorflow/tfjs';
import { LocalrecError } from '../../src/core/errors.ts';
import type { ItemFeatures } from '../training/item-features.ts';
import type { SasrecConfig } from './config.ts';
import type { SasrecWeights } from './model.ts';

/** The fixed feature matrix: (rows = numItems+1) × cols, row-major; row 0 (padding) zero. */
export interface ItemFeatureMatrix {
  rows: number;
  cols: number;
  data: Float32Array;
}

/**
 * Builds F from two-tower item features. Blocks: category ids, title buckets (remapped to the
 * ones some item uses), popularity buckets; each non-empty block of a row sums to 1.
 */
export function itemFeatureMatrix(f: ItemFeatures): ItemFeatureMatrix {
  const rows = f.numItems + 1;
  const titleCol = new Map<number, number>();
  for (const b of f.titleTokens) if (b !== 0 && !titleCol.has(b)) titleCol.set(b, titleCol.size);
  const nCat = f.categoryVocab.length;
  const offTitle = nCat;
  const offPop = nCat + titleCol.size;
  const cols = offPop + f.popBuckets;
  const data = new Float32Array(rows * cols);
  const spread = (row: number, ids: number[]) => {
    for (const c of ids) data[row * cols + c]! += 1 / ids.length;
  };
  for (let i = 1; i < rows; i++) {
    const cats: number[] = [];
    for (let k = 0; k < f.maxCategories; k++) {
      const c = f.categories[i * f.maxCategories + k]!;
      if (c !== 0) cats.push(c - 1);
    }
    spread(i, cats);
    const words: number[] = [];
    for (let k = 0; k < f.maxTitleTokens; k++) {
      const b = f.titleTokens[i * f.maxTitleTokens + k]!;
      if (b !== 0) words.push(offTitle + titleCol.get(b)!);
    }
    spread(i, words);
    spread(i, [offPop + f.popBucket[i]!]);
  }
  return { rows, cols, data };
}

/**
 * F's nonzeros as tensors, for {@link mixFeatures}: entry k is F[row_k, col_k] = value_k, in
 * row-major order (by row, then column), which is the order a dense matmul adds them in.
 * Tensors the caller owns (created outside any tidy): `dispose()` when training ends.
 */
export interface FeatureMix {
  rows: number;
  cols: number;
  /** Nonzeros of F. */
  nnz: number;
  /** (nnz, 1) int32 row of each nonzero (gatherND / scatterND indices). */
  rowIdx: tf.Tensor2D;
  /** (nnz, 1) int32 column of each nonzero. */
  colIdx: tf.Tensor2D;
  /** (nnz, 1) float32 values. */
  value: tf.Tensor2D;
  dispose(): void;
}

/** The nonzeros of a feature matrix, as {@link FeatureMix} tensors. */
export function featureMix(m: ItemFeatureMatrix): FeatureMix {
  let nnz = 0;
  for (let i = 0; i < m.data.length; i++) if (m.data[i] !== 0) nnz++;
  const row = new Int32Array(nnz);
  const col = new Int32Array(nnz);
  const value = new Float32Array(nnz);
  let k = 0;
  for (let r = 0; r < m.rows; r++)
    for (let c = 0; c < m.cols; c++) {
      const v = m.data[r * m.cols + c]!;
      if (v === 0) continue;
      row[k] = r;
      col[k] = c;
      value[k++] = v;
    }
  const t = {
    rowIdx: tf.tensor2d(row, [nnz, 1], 'int32'),
    colIdx: tf.tensor2d(col, [nnz, 1], 'int32'),
    value: tf.tensor2d(value, [nnz, 1], 'float32'),
  };
  return { rows: m.rows, cols: m.cols, nnz, ...t, dispose: () => tf.dispose(Object.values(t)) };
}

/**
 * F · mix for a sparse F (rows, cols) and mix (cols, dim): each item's row is the sum of its
 * nonzeros times mix's rows, added in column order, the same products and the same order as
 * a dense matmul (zeros add nothing), so the values are those of matMul(F, mix). The gradient
 * goes to `mix` only (F is a constant): Fᵀ · dy, again over the nonzeros, in row order as the
 * dense Fᵀ · dy adds them. (gatherND, not tf.gather: tfjs-backend-wasm's GatherV2 takes ~40 ns
 * an element, ~130× its GatherNd, measured on (171k, 64) rows.)
 */
export function mixFeatures(F: FeatureMix, mix: tf.Tensor2D): tf.Tensor2D {
  const dim = mix.shape[1];
  const f = tf.customGrad((m) => ({
    value: tf.scatterND(F.rowIdx, tf.mul(tf.gatherND(m as tf.Tensor, F.colIdx), F.value), [
      F.rows,
      dim,
    ]),
    gradFunc: (dy: tf.Tensor) =>
      tf.scatterND(F.colIdx, tf.mul(tf.gatherND(dy, F.rowIdx), F.value), [F.cols, dim]),
  }));
  return (f as (m: tf.Tensor) => tf.Tensor)(mix) as tf.Tensor2D;
}

/** Throws unless `m` fits a model with this config. */
export function checkFeatureMatrix(c: SasrecConfig, m: ItemFeatureMatrix | undefined): void {
  if (!c.itemFeatures) return;
  if (!m)
    throw new LocalrecError('bad-input', 'this SASRec config has item features: pass their matrix');
  if (m.rows !== c.numItems + 1 || m.cols !== c.itemFeatures || m.data.length !== m.rows * m.cols)
    throw new LocalrecError(
      'bad-input',
      `item feature matrix is ${m.rows}×${m.cols} (${m.data.length} values), the model needs ${c.numItems + 1}×${c.itemFeatures}`,
    );
}

/**
 * The weights as the rest of SASRec reads them: `item_emb` is the id embedding plus F ·
 * item_feat (differentiable: use inside a loss), `item_feat` dropped. Without item features,
 * `w` itself.
 */
export function withItemFeatures(
  c: SasrecConfig,
  w: SasrecWeights,
  F: FeatureMix | null,
  idDropout?: { rate: number; seed: number },
): SasrecWeights {
  if (!c.itemFeatures) return w;
  if (!F) throw new LocalrecError('bad-input', 'this SASRec model needs its item feature matrix');
  const { item_feat: mix, ...rest } = w;
  if (!mix) throw new LocalrecError('bad-format', 'SASRec weights lack item_feat');
  let ids = w['item_emb']!;
  if (idDropout && idDropout.rate > 0) {
    // Training only: this share of items lose their id embedding for the step, so their
    // features alone must place them (as they must for an item the model has never seen).
    const keep = tf.cast(
      tf.greaterEqual(
        tf.randomUniform([ids.shape[0]!, 1], 0, 1, 'float32', idDropout.seed),
        idDropout.rate,
      ),
      'float32',
    );
    ids = tf.mul(ids, keep);
  }
  return { ...rest, item_emb: tf.add(ids, mixFeatures(F, mix as tf.Tensor2D)) };
}

/** The config of a baked model: a plain SASRec (see {@link withItemFeatures}). */
export function bakedConfig(c: SasrecConfig): SasrecConfig {
  const rest = { ...c };
  delete rest.itemFeatures;
  return rest;
}

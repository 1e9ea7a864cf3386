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
 * out[to_k] += value_k · x[from_k] for k = 0, 1, … in order (a sparse product), with each
 * distinct (from, value) product computed once: p = value_u · x[from_u] for the u distinct
 * pairs, then out[r] = Σ p[pick_k] over the terms of row r, in order. The same float products,
 * added in the same order.
 */
interface ScaledSum {
  /** (u, 1) int32 source row and (u, 1) float32 value of each distinct product. */
  from: tf.Tensor2D;
  value: tf.Tensor2D;
  /** (nnz) int32, by output row: the distinct product each term adds, and its output row. */
  pick: tf.Tensor1D;
  to: tf.Tensor1D;
  /** Output rows. */
  size: number;
}

function scaledSum(from: Int32Array, to: Int32Array, value: Float32Array, size: number): ScaledSum {
  const bits = new Uint32Array(value.buffer, value.byteOffset, value.length);
  const ids = new Map<string, number>();
  const uFrom: number[] = [];
  const uValue: number[] = [];
  // Stably by output row: each output row's terms stay in the order given.
  const order = Array.from({ length: from.length }, (_, k) => k).sort(
    (a, b) => to[a]! - to[b]! || a - b,
  );
  const pick = new Int32Array(from.length);
  const sortedTo = new Int32Array(from.length);
  for (let j = 0; j < order.length; j++) {
    const k = order[j]!;
    sortedTo[j] = to[k]!;
    const key = `${from[k]}:${bits[k]}`;
    let u = ids.get(key);
    if (u === undefined) {
      u = uFrom.length;
      ids.set(key, u);
      uFrom.push(from[k]!);
      uValue.push(value[k]!);
    }
    pick[j] = u;
  }
  return {
    from: tf.tensor2d(Int32Array.from(uFrom), [uFrom.length, 1], 'int32'),
    value: tf.tensor2d(Float32Array.from(uValue), [uValue.length, 1], 'float32'),
    pick: tf.tensor1d(pick, 'int32'),
    to: tf.tensor1d(sortedTo, 'int32'),
    size,
  };
}

/**
 * {@link ScaledSum} applied to the rows of x (n, dim): (size, dim). The sum is a sparse segment
 * sum over the distinct products (segments = output rows, sorted; each one's terms added in
 * order from zero, as scatterND and a dense matmul add them), so no (nnz, dim) array is made.
 */
function applyScaledSum(s: ScaledSum, x: tf.Tensor): tf.Tensor2D {
  if (s.pick.shape[0] === 0) return tf.zeros([s.size, x.shape[1]!]);
  const products = tf.mul(tf.gatherND(x, s.from), s.value); // (u, dim)
  const out = tf.sparse.sparseSegmentSum(products, s.pick, s.to); // (last output row + 1, dim)
  const n = out.shape[0]!;
  return (
    n === s.size ? out : tf.concat([out, tf.zeros([s.size - n, x.shape[1]!])], 0)
  ) as tf.Tensor2D;
}

/**
 * F's nonzeros, for {@link mixFeatures}: F · x and Fᵀ · y as {@link ScaledSum}s over them in
 * row-major order (by row, then column), the order a dense matmul adds them in. Tensors the
 * caller owns (created outside any tidy): `dispose()` when training ends.
 */
export interface FeatureMix {
  rows: number;
  cols: number;
  /** Nonzeros of F. */
  nnz: number;
  /** F · x: row r of the result sums value · x[col] over row r's nonzeros. */
  forward: ScaledSum;
  /** Fᵀ · y: row c of the result sums value · y[row] over column c's nonzeros, by row. */
  backward: ScaledSum;
  /** The nonzeros on the CPU, row-major: row r's are [rowStart[r], rowStart[r + 1]) of col, value. */
  rowStart: Int32Array;
  col: Int32Array;
  value: Float32Array;
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
  const rowStart = new Int32Array(m.rows + 1);
  for (let j = 0; j < nnz; j++) rowStart[row[j]! + 1]!++;
  for (let r = 0; r < m.rows; r++) rowStart[r + 1]! += rowStart[r]!;
  const forward = scaledSum(col, row, value, m.rows);
  const backward = scaledSum(row, col, value, m.cols);
  const all = [forward, backward].flatMap((s) => [s.from, s.value, s.pick, s.to]);
  return {
    rows: m.rows,
    cols: m.cols,
    nnz,
    forward,
    backward,
    rowStart,
    col,
    value,
    dispose: () => tf.dispose(all),
  };
}

/**
 * Fᵀ · y over the nonzeros of some rows of F only (any order, repeats allowed): the terms of
 * {@link FeatureMix.backward} whose row is one of `rows`, in the same order. Where every other
 * row of y is zero (a sampled loss reads only these rows of the table), the sums are those of
 * the whole Fᵀ · y bit for bit: each column's sum starts from +0 and skips only +0 terms.
 */
function rowsBackward(F: FeatureMix, rows: Iterable<number>): ScaledSum {
  const sorted = Int32Array.from(new Set(rows)).sort();
  let n = 0;
  for (const r of sorted) n += F.rowStart[r + 1]! - F.rowStart[r]!;
  const from = new Int32Array(n);
  const to = new Int32Array(n);
  const value = new Float32Array(n);
  let k = 0;
  for (const r of sorted)
    for (let j = F.rowStart[r]!; j < F.rowStart[r + 1]!; j++, k++) {
      from[k] = r;
      to[k] = F.col[j]!;
      value[k] = F.value[j]!;
    }
  return scaledSum(from, to, value, F.cols);
}

/**
 * F · mix for a sparse F (rows, cols) and mix (cols, dim): each item's row is the sum of its
 * nonzeros times mix's rows, added in column order, the same products and the same order as
 * a dense matmul (zeros add nothing), so the values are those of matMul(F, mix). The gradient
 * goes to `mix` only (F is a constant): Fᵀ · dy, again over the nonzeros, in row order as the
 * dense Fᵀ · dy adds them. Each distinct product is computed once (F's values are a few
 * fractions 1/n: the forward multiplies a few hundred rows of mix, not one per nonzero), and
 * summed by a sparse segment sum, with no (nonzeros, dim) array. gatherND, not tf.gather:
 * tfjs-backend-wasm's GatherV2 takes ~40 ns an element, ~130× its GatherNd ((171k, 64) rows).
 */
export function mixFeatures(F: FeatureMix, mix: tf.Tensor2D, touched?: Set<number>): tf.Tensor2D {
  const f = tf.customGrad((m) => ({
    value: applyScaledSum(F.forward, m as tf.Tensor),
    // Read when the gradient is taken: by then the loss has added every row it looked up.
    gradFunc: (dy: tf.Tensor) =>
      touched
        ? tf.tidy(() => applyScaledSum(rowsBackward(F, touched), dy))
        : applyScaledSum(F.backward, dy),
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
 * `w` itself. `touched`: where the loss reads only some rows of the table, a set it fills with
 * their ids before the gradient is taken; item_feat's gradient then sums over those rows'
 * nonzeros only (the same numbers: the other rows' gradient is zero).
 */
export function withItemFeatures(
  c: SasrecConfig,
  w: SasrecWeights,
  F: FeatureMix | null,
  idDropout?: { rate: number; seed: number },
  touched?: Set<number>,
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
  return { ...rest, item_emb: tf.add(ids, mixFeatures(F, mix as tf.Tensor2D, touched)) };
}

/** The config of a baked model: a plain SASRec (see {@link withItemFeatures}). */
export function bakedConfig(c: SasrecConfig): SasrecConfig {
  const rest = { ...c };
  delete rest.itemFeatures;
  return rest;
}

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

/**
 * The fixed feature matrix, (rows = numItems+1) × cols, as its nonzeros (CSR: row r's are
 * col[start[r]..start[r+1]) and value[…], by column): about ten a row, so a 1M-item catalog's
 * is tens of MB where the dense matrix would be ~1 GB. Row 0 (padding) is empty.
 */
export interface ItemFeatureMatrix {
  rows: number;
  cols: number;
  start: Int32Array;
  col: Int32Array;
  value: Float32Array;
}

/** The CSR form of a dense row-major (rows, cols) matrix: its nonzeros by row, then column. */
export function featureMatrixFromDense(
  rows: number,
  cols: number,
  data: Float32Array,
): ItemFeatureMatrix {
  const start = new Int32Array(rows + 1);
  const col: number[] = [];
  const value: number[] = [];
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const v = data[r * cols + c]!;
      if (v === 0) continue;
      col.push(c);
      value.push(v);
    }
    start[r + 1] = col.length;
  }
  return { rows, cols, start, col: Int32Array.from(col), value: Float32Array.from(value) };
}

/** The dense row-major form of a feature matrix (small catalogs and tests only). */
export function denseFeatures(m: ItemFeatureMatrix): Float32Array {
  const data = new Float32Array(m.rows * m.cols);
  for (let r = 0; r < m.rows; r++)
    for (let k = m.start[r]!; k < m.start[r + 1]!; k++) data[r * m.cols + m.col[k]!] = m.value[k]!;
  return data;
}

/**
 * Builds F from two-tower item features. Blocks: category ids, title buckets (remapped to the
 * ones some item uses), popularity buckets; each non-empty block of a row sums to 1 (an id
 * listed twice gets its share twice, added in float32 as a dense row would add it).
 */
export function itemFeatureMatrix(f: ItemFeatures): ItemFeatureMatrix {
  const rows = f.numItems + 1;
  const titleCol = new Map<number, number>();
  for (const b of f.titleTokens) if (b !== 0 && !titleCol.has(b)) titleCol.set(b, titleCol.size);
  const nCat = f.categoryVocab.length;
  const offTitle = nCat;
  const offPop = nCat + titleCol.size;
  const cols = offPop + f.popBuckets;
  const start = new Int32Array(rows + 1);
  let col = new Int32Array(8 * rows);
  let value = new Float32Array(8 * rows);
  let n = 0;
  const row = new Map<number, number>();
  const spread = (ids: number[]) => {
    for (const c of ids) row.set(c, Math.fround((row.get(c) ?? 0) + 1 / ids.length));
  };
  for (let i = 1; i < rows; i++) {
    row.clear();
    const cats: number[] = [];
    for (let k = 0; k < f.maxCategories; k++) {
      const c = f.categories[i * f.maxCategories + k]!;
      if (c !== 0) cats.push(c - 1);
    }
    spread(cats);
    const words: number[] = [];
    for (let k = 0; k < f.maxTitleTokens; k++) {
      const b = f.titleTokens[i * f.maxTitleTokens + k]!;
      if (b !== 0) words.push(offTitle + titleCol.get(b)!);
    }
    spread(words);
    spread([offPop + f.popBucket[i]!]);
    if (n + row.size > col.length) {
      const grow = <T extends Int32Array | Float32Array>(a: T, make: (k: number) => T) => {
        const b = make(2 * a.length + row.size);
        b.set(a);
        return b;
      };
      col = grow(col, (k) => new Int32Array(k));
      value = grow(value, (k) => new Float32Array(k));
    }
    for (const c of [...row.keys()].sort((a, b) => a - b)) {
      col[n] = c;
      value[n++] = row.get(c)!;
    }
    start[i + 1] = n;
  }
  return { rows, cols, start, col: col.slice(0, n), value: value.slice(0, n) };
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
  /** `to` as the CPU array it was made from (see {@link applyScaledSum}). */
  toIds: Int32Array;
  /** Output rows. */
  size: number;
}

/** A {@link ScaledSum}'s index arrays, before they become tensors. */
interface ScaledSumArrays {
  from: Int32Array;
  value: Float32Array;
  pick: Int32Array;
  to: Int32Array;
  size: number;
}

/**
 * The terms out[to_k] += value_k · x[from_k] grouped as {@link ScaledSum}: stably by output row
 * (a counting sort, so each output row's terms stay in the order given), each distinct (from,
 * value) pair numbered at its first occurrence in that order. `from` < 2^21 (the key below is
 * exact in a double).
 */
function scaledSumArrays(
  from: Int32Array,
  to: Int32Array,
  value: Float32Array,
  size: number,
): ScaledSumArrays {
  const bits = new Uint32Array(value.buffer, value.byteOffset, value.length);
  const n = from.length;
  const start = new Int32Array(size + 1);
  for (let k = 0; k < n; k++) start[to[k]! + 1]!++;
  for (let r = 0; r < size; r++) start[r + 1]! += start[r]!;
  const order = new Int32Array(n);
  for (let k = 0; k < n; k++) order[start[to[k]!]!++] = k;
  const ids = new Map<number, number>();
  const uFrom: number[] = [];
  const uValue: number[] = [];
  const pick = new Int32Array(n);
  const sortedTo = new Int32Array(n);
  for (let j = 0; j < n; j++) {
    const k = order[j]!;
    sortedTo[j] = to[k]!;
    const key = from[k]! * 4294967296 + bits[k]!;
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
    from: Int32Array.from(uFrom),
    value: Float32Array.from(uValue),
    pick,
    to: sortedTo,
    size,
  };
}

function toTensors(a: ScaledSumArrays): ScaledSum {
  return {
    from: tf.tensor2d(a.from, [a.from.length, 1], 'int32'),
    value: tf.tensor2d(a.value, [a.value.length, 1], 'float32'),
    pick: tf.tensor1d(a.pick, 'int32'),
    to: tf.tensor1d(a.to, 'int32'),
    toIds: a.to,
    size: a.size,
  };
}

function scaledSum(from: Int32Array, to: Int32Array, value: Float32Array, size: number): ScaledSum {
  return toTensors(scaledSumArrays(from, to, value, size));
}

/**
 * {@link ScaledSum} applied to the rows of x (n, dim): (size, dim). The sum is a sparse segment
 * sum over the distinct products (segments = output rows, sorted; each one's terms added in
 * order from zero, as scatterND and a dense matmul add them), so no (nnz, dim) array is made.
 */
function applyScaledSum(s: ScaledSum, x: tf.Tensor): tf.Tensor2D {
  if (s.pick.shape[0] === 0) return tf.zeros([s.size, x.shape[1]!]);
  const products = tf.mul(tf.gatherND(x, s.from), s.value); // (u, dim)
  // tfjs-backend-webgpu's SparseSegmentSum reads the segment ids on the CPU, and a tensor it
  // has uploaded keeps no CPU copy (nor can Node read one back synchronously): there, the ids
  // go as a new tensor each call.
  const to = tf.getBackend() === 'webgpu' ? tf.tensor1d(s.toIds, 'int32') : s.to;
  const out = tf.sparse.sparseSegmentSum(products, s.pick, to); // (last output row + 1, dim)
  const n = out.shape[0]!;
  return (
    n === s.size ? out : tf.concat([out, tf.zeros([s.size - n, x.shape[1]!])], 0)
  ) as tf.Tensor2D;
}

/**
 * F's nonzeros, for {@link mixFeatures} and {@link mixRows}: row-major (by row, then column),
 * the order a dense matmul adds them in. The whole-table F · x and Fᵀ · y ({@link ScaledSum}s
 * over every nonzero) are built on first use. Tensors the caller owns (created outside any
 * tidy): `dispose()` when training ends.
 */
export interface FeatureMix {
  rows: number;
  cols: number;
  /** Nonzeros of F. */
  nnz: number;
  /** Row r's nonzeros are col[start[r]..start[r+1]) and value[…] (CSR). */
  start: Int32Array;
  col: Int32Array;
  value: Float32Array;
  /** F · x over the whole table: row r of the result sums value · x[col] over row r's nonzeros. */
  forward(): ScaledSum;
  /** Fᵀ · y over the whole table: row c of the result sums value · y[row] over column c's nonzeros, by row. */
  backward(): ScaledSum;
  dispose(): void;
}

/** The nonzeros of a feature matrix, as a {@link FeatureMix}. */
export function featureMix(m: ItemFeatureMatrix): FeatureMix {
  const { start, col, value } = m;
  const nnz = col.length;
  const row = new Int32Array(nnz);
  for (let r = 0; r < m.rows; r++) row.fill(r, start[r]!, start[r + 1]!);
  let sums: [ScaledSum, ScaledSum] | null = null;
  const whole = () => {
    if (!sums) {
      // Kept: the first use may come inside a tidy (validation's baking), the sums outlive it.
      sums = [scaledSum(col, row, value, m.rows), scaledSum(row, col, value, m.cols)];
      for (const s of sums) for (const t of [s.from, s.value, s.pick, s.to]) tf.keep(t);
    }
    return sums;
  };
  return {
    rows: m.rows,
    cols: m.cols,
    nnz,
    start,
    col,
    value,
    forward: () => whole()[0],
    backward: () => whole()[1],
    dispose: () => {
      if (sums) tf.dispose(sums.flatMap((s) => [s.from, s.value, s.pick, s.to]));
      sums = null;
    },
  };
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
export function mixFeatures(F: FeatureMix, mix: tf.Tensor2D): tf.Tensor2D {
  const f = tf.customGrad((m) => ({
    value: applyScaledSum(F.forward(), m as tf.Tensor),
    gradFunc: (dy: tf.Tensor) => applyScaledSum(F.backward(), dy),
  }));
  return (f as (m: tf.Tensor) => tf.Tensor)(mix) as tf.Tensor2D;
}

/**
 * Rows `rows` (sorted, distinct item ids) of F · mix, (rows.length, dim): the rows of
 * {@link mixFeatures}' result, value for value (each row the same products added in the same
 * order). The gradient Fᵀ · dy sums over those rows' nonzeros only, by row as the whole-table
 * gradient does: the rows left out have dy = 0 there, whose products add nothing. For a step
 * that reads a few thousand rows of a large table (the sampled loss).
 */
export function mixRows(F: FeatureMix, rows: Int32Array, mix: tf.Tensor2D): tf.Tensor2D {
  let n = 0;
  for (const r of rows) n += F.start[r + 1]! - F.start[r]!;
  const out = new Int32Array(n);
  const col = new Int32Array(n);
  const value = new Float32Array(n);
  let k = 0;
  rows.forEach((r, i) => {
    for (let j = F.start[r]!; j < F.start[r + 1]!; j++) {
      out[k] = i;
      col[k] = F.col[j]!;
      value[k++] = F.value[j]!;
    }
  });
  const fwd = scaledSumArrays(col, out, value, rows.length);
  const bwd = scaledSumArrays(out, col, value, F.cols);
  const f = tf.customGrad((m) => ({
    value: tf.tidy(() => {
      const s = toTensors(fwd);
      return applyScaledSum(s, m as tf.Tensor);
    }),
    // Index tensors made here, not captured: the forward's tensors are gone by the backward.
    gradFunc: (dy: tf.Tensor) => applyScaledSum(toTensors(bwd), dy),
  }));
  return (f as (m: tf.Tensor) => tf.Tensor)(mix) as tf.Tensor2D;
}

/** Throws unless `m` fits a model with this config. */
export function checkFeatureMatrix(c: SasrecConfig, m: ItemFeatureMatrix | undefined): void {
  if (!c.itemFeatures) return;
  if (!m)
    throw new LocalrecError('bad-input', 'this SASRec config has item features: pass their matrix');
  const nnz = m.col.length;
  if (
    m.rows !== c.numItems + 1 ||
    m.cols !== c.itemFeatures ||
    m.start.length !== m.rows + 1 ||
    m.start[m.rows] !== nnz ||
    m.value.length !== nnz
  )
    throw new LocalrecError(
      'bad-input',
      `item feature matrix is ${m.rows}×${m.cols} (${nnz} nonzeros), the model needs ${c.numItems + 1}×${c.itemFeatures}`,
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
  const { mix, rest, ids } = featureParts(w, F);
  const keep = idKeepMask(ids.shape[0]!, idDropout);
  return {
    ...rest,
    item_emb: tf.add(keep ? tf.mul(ids, keep) : ids, mixFeatures(F!, mix)),
  };
}

/**
 * {@link withItemFeatures} for some rows of the table: `w`'s item_emb (and item_bias) hold the
 * rows `rows` (sorted, distinct ids) of the id table; the result's item_emb is those rows of
 * the id embedding plus F · item_feat, value for value the rows of withItemFeatures' table
 * (the id dropout mask drawn for the whole table, as there, and read at these rows).
 */
export function withItemFeatureRows(
  c: SasrecConfig,
  w: SasrecWeights,
  F: FeatureMix | null,
  rows: Int32Array,
  idDropout?: { rate: number; seed: number },
): SasrecWeights {
  if (!c.itemFeatures) return w;
  const { mix, rest, ids } = featureParts(w, F);
  const keep = idKeepMask(F!.rows, idDropout);
  const kept = keep
    ? tf.mul(ids, tf.gatherND(keep, tf.tensor2d(rows, [rows.length, 1], 'int32')))
    : ids;
  return { ...rest, item_emb: tf.add(kept, mixRows(F!, rows, mix)) };
}

/** The id table and the feature mix of a model trained with features; the other weights. */
function featureParts(w: SasrecWeights, F: FeatureMix | null) {
  if (!F) throw new LocalrecError('bad-input', 'this SASRec model needs its item feature matrix');
  const { item_feat: mix, ...rest } = w;
  if (!mix) throw new LocalrecError('bad-format', 'SASRec weights lack item_feat');
  return { mix: mix as tf.Tensor2D, rest, ids: w['item_emb']! };
}

/**
 * Training only: the id dropout's mask over the whole table of `n` rows (1 keeps a row's id
 * embedding, 0 drops it for the step, so its features alone must place it, as they must for an
 * item the model has never seen); null without id dropout.
 */
function idKeepMask(n: number, idDropout?: { rate: number; seed: number }): tf.Tensor | null {
  if (!idDropout || !(idDropout.rate > 0)) return null;
  return tf.cast(
    tf.greaterEqual(tf.randomUniform([n, 1], 0, 1, 'float32', idDropout.seed), idDropout.rate),
    'float32',
  );
}

/** The config of a baked model: a plain SASRec (see {@link withItemFeatures}). */
export function bakedConfig(c: SasrecConfig): SasrecConfig {
  const rest = { ...c };
  delete rest.itemFeatures;
  return rest;
}

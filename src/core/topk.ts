/**
 * Retrieval kernels: dot-product scoring of one query against a block of item rows
 * (int8 with per-row scales, f16, f32) and a bounded top-k selection.
 *
 * Pure typed-array code so the same kernels run in the recommender worker, in Node benchmarks
 * and in the CLI. The inner loops are unrolled by four because V8 does not vectorise
 * JavaScript; four independent accumulators let it overlap the multiply-adds.
 */
import { LocalrecError } from './errors.ts';
import { float16Table } from './quantize.ts';

/** The `k` best entries of a score array, best first. */
export interface TopK {
  /** Positions in the score array. */
  indices: Int32Array;
  /** Their scores (same order). */
  scores: Float32Array;
}

/** Either a predicate on positions or a set of positions to leave out of the ranking. */
export type Exclusion = ((index: number) => boolean) | Set<number>;

function checkBlock(
  name: string,
  query: Float32Array,
  rowsLength: number,
  dim: number,
  out: Float32Array,
): number {
  if (!Number.isInteger(dim) || dim < 1)
    throw new LocalrecError('bad-input', `${name}: dim must be a positive integer, got ${dim}`);
  if (query.length !== dim)
    throw new LocalrecError(
      'bad-input',
      `${name}: query has ${query.length} values but dim is ${dim}`,
    );
  if (rowsLength % dim !== 0) {
    throw new LocalrecError(
      'bad-input',
      `${name}: rows hold ${rowsLength} values, not a multiple of dim ${dim}`,
    );
  }
  const count = rowsLength / dim;
  if (out.length < count)
    throw new LocalrecError(
      'bad-input',
      `${name}: out has room for ${out.length} scores but there are ${count} rows`,
    );
  return count;
}

/**
 * Scores int8 rows: `out[r] = scales[r] * Σ_j query[j] * rows[r*dim + j]`, i.e. the dot
 * product with the dequantized row, without dequantizing (one multiply per row, not per value).
 *
 * @param query - (dim) the user vector.
 * @param rows - (count, dim) row-major int8 values.
 * @param scales - (count) per-row scale.
 * @param out - receives `count` scores at positions 0..count-1.
 */
export function scoreInt8(
  query: Float32Array,
  rows: Int8Array,
  scales: Float32Array,
  dim: number,
  out: Float32Array,
): void {
  const count = checkBlock('scoreInt8', query, rows.length, dim, out);
  if (scales.length !== count)
    throw new LocalrecError('bad-input', `scoreInt8: ${scales.length} scales for ${count} rows`);
  const tail = dim & ~3;
  for (let r = 0, base = 0; r < count; r++, base += dim) {
    let a0 = 0;
    let a1 = 0;
    let a2 = 0;
    let a3 = 0;
    let j = 0;
    for (; j < tail; j += 4) {
      a0 += query[j]! * rows[base + j]!;
      a1 += query[j + 1]! * rows[base + j + 1]!;
      a2 += query[j + 2]! * rows[base + j + 2]!;
      a3 += query[j + 3]! * rows[base + j + 3]!;
    }
    for (; j < dim; j++) a0 += query[j]! * rows[base + j]!;
    out[r] = scales[r]! * (a0 + a1 + (a2 + a3));
  }
}

/**
 * Scores f32 rows: `out[r] = Σ_j query[j] * rows[r*dim + j]`.
 *
 * @param rows - (count, dim) row-major.
 */
export function scoreF32(
  query: Float32Array,
  rows: Float32Array,
  dim: number,
  out: Float32Array,
): void {
  const count = checkBlock('scoreF32', query, rows.length, dim, out);
  const tail = dim & ~3;
  for (let r = 0, base = 0; r < count; r++, base += dim) {
    let a0 = 0;
    let a1 = 0;
    let a2 = 0;
    let a3 = 0;
    let j = 0;
    for (; j < tail; j += 4) {
      a0 += query[j]! * rows[base + j]!;
      a1 += query[j + 1]! * rows[base + j + 1]!;
      a2 += query[j + 2]! * rows[base + j + 2]!;
      a3 += query[j + 3]! * rows[base + j + 3]!;
    }
    for (; j < dim; j++) a0 += query[j]! * rows[base + j]!;
    out[r] = a0 + a1 + (a2 + a3);
  }
}

/**
 * Scores f16 rows given as raw IEEE half bit patterns: `out[r] = Σ_j query[j] * half(rows[r*dim + j])`.
 *
 * @param rows - (count, dim) row-major half-precision bit patterns.
 */
export function scoreF16(
  query: Float32Array,
  rows: Uint16Array,
  dim: number,
  out: Float32Array,
): void {
  const count = checkBlock('scoreF16', query, rows.length, dim, out);
  const t = float16Table();
  const tail = dim & ~3;
  for (let r = 0, base = 0; r < count; r++, base += dim) {
    let a0 = 0;
    let a1 = 0;
    let a2 = 0;
    let a3 = 0;
    let j = 0;
    for (; j < tail; j += 4) {
      a0 += query[j]! * t[rows[base + j]!]!;
      a1 += query[j + 1]! * t[rows[base + j + 1]!]!;
      a2 += query[j + 2]! * t[rows[base + j + 2]!]!;
      a3 += query[j + 3]! * t[rows[base + j + 3]!]!;
    }
    for (; j < dim; j++) a0 += query[j]! * t[rows[base + j]!]!;
    out[r] = a0 + a1 + (a2 + a3);
  }
}

/**
 * The `k` highest scores, best first; equal scores rank the LOWER index first, so results
 * are deterministic across devices and runs. NaN never ranks (it marks padding and holes),
 * and excluded positions never rank. Returns fewer than `k` entries when fewer qualify.
 *
 * A bounded min-heap holding the current k best, whose root is the worst of them: O(N log k)
 * time and O(k) memory, instead of sorting all N scores. A score that cannot beat the root is
 * rejected with one comparison, before the (possibly costly) exclusion check.
 */
export function topK(scores: Float32Array, k: number, exclude?: Exclusion): TopK {
  if (!Number.isInteger(k) || k < 0)
    throw new LocalrecError('bad-input', `topK: k must be a non-negative integer, got ${k}`);
  const cap = Math.min(k, scores.length);
  const hIdx = new Int32Array(cap);
  const hScore = new Float32Array(cap);
  let size = 0;
  const isExcluded: ((i: number) => boolean) | null =
    exclude === undefined ? null : typeof exclude === 'function' ? exclude : (i) => exclude.has(i);

  // "a is worse than b": lower score, or equal score and higher index.
  const worse = (sa: number, ia: number, sb: number, ib: number) =>
    sa < sb || (sa === sb && ia > ib);

  const siftDown = (pos: number) => {
    const s = hScore[pos]!;
    const i = hIdx[pos]!;
    for (;;) {
      const l = 2 * pos + 1;
      if (l >= size) break;
      const r = l + 1;
      // The worse child moves up, so the root stays the worst entry.
      let c = l;
      if (r < size && worse(hScore[r]!, hIdx[r]!, hScore[l]!, hIdx[l]!)) c = r;
      if (!worse(hScore[c]!, hIdx[c]!, s, i)) break;
      hScore[pos] = hScore[c]!;
      hIdx[pos] = hIdx[c]!;
      pos = c;
    }
    hScore[pos] = s;
    hIdx[pos] = i;
  };

  if (cap > 0) {
    for (let i = 0; i < scores.length; i++) {
      const s = scores[i]!;
      if (s !== s) continue; // NaN
      if (size === cap) {
        // Indices arrive in increasing order, so an equal score never beats the root.
        if (s <= hScore[0]!) continue;
        if (isExcluded && isExcluded(i)) continue;
        hScore[0] = s;
        hIdx[0] = i;
        siftDown(0);
      } else {
        if (isExcluded && isExcluded(i)) continue;
        // Sift up.
        let pos = size++;
        while (pos > 0) {
          const parent = (pos - 1) >> 1;
          if (!worse(s, i, hScore[parent]!, hIdx[parent]!)) break;
          hScore[pos] = hScore[parent]!;
          hIdx[pos] = hIdx[parent]!;
          pos = parent;
        }
        hScore[pos] = s;
        hIdx[pos] = i;
      }
    }
  }

  // Pop the worst entry into the last free slot each time: the result comes out best first.
  const indices = new Int32Array(size);
  const out = new Float32Array(size);
  for (let n = size; n > 0; n--) {
    indices[n - 1] = hIdx[0]!;
    out[n - 1] = hScore[0]!;
    size--;
    if (size > 0) {
      hScore[0] = hScore[size]!;
      hIdx[0] = hIdx[size]!;
      siftDown(0);
    }
  }
  return { indices, scores: out };
}

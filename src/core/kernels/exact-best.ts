/**
 * What lets fast kernels return exactly what the plain TypeScript kernel returns.
 *
 * A fast kernel (WASM SIMD, WebGPU) computes approximate scores — int16-quantized queries,
 * float32 sums in another order — whose distance from the TypeScript scores is below a bound
 * `eps` known before the search ({@link int8Eps}, {@link floatEps}). {@link Contenders} uses
 * the bounds to drop every item that k others provably beat, and rescores the few survivors
 * with the TypeScript kernel's own functions ({@link exactScore}); `topK` then ranks exactly
 * the scores the reference would have, so indices, order, ties and scores all match bit for bit.
 */
import type { SearchStats } from '../topk-engine.ts';
import { scoreF16, scoreF32, scoreInt8, topK, type TopK } from '../topk.ts';

/** float32 unit roundoff, 2^-24. */
const U = 2 ** -24;

/** Above this, a float32 sum of products might overflow; such blocks are scored exactly instead. */
export const SAFE_MAGNITUDE = 1e37;

/**
 * The bound on |approx − exact| for an int8 row scored as
 * `f32(f32(Σ q16_j r_j) · f32(scale · qs))` with `q16 = round(query / qs)`:
 * quantization error ≤ scale · (qs/2) · Σ|r_j|, and ≤ 4 float32 roundings (conversion, two
 * products, and the reference's own rounding to float32) of a value ≤ scale · 128 · dim · max|q|;
 * 16 roundings are allowed for margin.
 *
 * @param maxScale - the largest |scale| in the block.
 * @param qs - the query's quantization step (query ≈ q16 · qs).
 */
export function int8Eps(maxScale: number, dim: number, maxAbsQuery: number, qs: number): number {
  return maxScale * 128 * dim * (qs / 2 + 16 * U * maxAbsQuery);
}

/**
 * The bound on |approx − exact| for a float32 dot product summed in any order of ≤ `dim`
 * terms plus a few pairwise reductions: the textbook γ_n · Σ|q_j x_j| with n = dim + 4,
 * doubled for margin, where Σ|q_j x_j| ≤ dim · max|q| · max|x|. `extra` adds an absolute term
 * (a GPU that flushes subnormals).
 */
export function floatEps(dim: number, maxAbsQuery: number, maxAbsRow: number, extra = 0): number {
  return 2 * (dim + 4) * U * dim * maxAbsQuery * maxAbsRow + extra;
}

/** The largest float32 that is ≤ x: a threshold rounded to float32 must not rise. */
export function f32AtMost(x: number): number {
  const f = Math.fround(x);
  if (f <= x || !Number.isFinite(x)) return f;
  const buf = new Float32Array([f]);
  const bits = new Int32Array(buf.buffer);
  // Stepping the bit pattern towards −∞: down for positives, up for negatives.
  bits[0] = f > 0 ? bits[0]! - 1 : f < 0 ? bits[0]! + 1 : 0x80000001 | 0;
  return buf[0]!;
}

/** The largest |x| in an array, ignoring NaN (a NaN row scores NaN on every kernel and never ranks). */
export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const v = a[i]!;
    const x = v < 0 ? -v : v;
    if (x > m) m = x;
  }
  return m;
}

const one = new Float32Array(1);

/**
 * One row's score exactly as the TypeScript kernel computes it: the same function on a
 * one-row slice runs the same arithmetic in the same order.
 *
 * @param row - (dim) the row's values (int8, f16 bits, or f32 by `dtype`).
 * @param scale - the row's scale (int8 only).
 */
export function exactScore(
  dtype: 'int8' | 'f16' | 'f32',
  query: Float32Array,
  row: Int8Array | Uint16Array | Float32Array,
  scale: Float32Array | null,
  dim: number,
): number {
  if (dtype === 'int8') scoreInt8(query, row as Int8Array, scale!, dim, one);
  else if (dtype === 'f16') scoreF16(query, row as Uint16Array, dim, one);
  else scoreF32(query, row as Float32Array, dim, one);
  return one[0]!;
}

/**
 * The items that may still make the top k, by approximate score, and at the end the exact
 * top k among them.
 *
 * Each entry has a value `v` whose exact score lies within `eps` of it: `|exact − v| < eps`,
 * or `exact = v` when `eps` is 0 (items scored exactly, or a bound that is exactly 0). With
 * `A` the k-th largest value held and `epsMax` the largest bound of the search, the k entries
 * at or above `A` all have exact scores ≥ `A − epsMax`, so an entry with `v + eps < A − epsMax`
 * is beaten by k others and can go. An item later in index order than everything held must
 * even be strictly better, so a scan may skip it unless `v > A − epsMax − eps`
 * ({@link floorFor}). Survivors — about k plus the near-ties — are rescored exactly by the
 * caller and ranked by `topK`, which then sees exactly what the reference kernel saw.
 */
export class Contenders {
  private idx: Int32Array;
  private val: Float32Array;
  private eps: Float64Array;
  private n = 0;
  private kth = -Infinity;
  /** Items pushed so far (for diagnostics). */
  pushed = 0;
  /** Items rescored exactly by {@link result} (for diagnostics). */
  rescored = 0;

  /**
   * @param k - how many items the search returns (≥ 1).
   * @param epsMax - the largest error bound any entry will carry.
   */
  constructor(
    private readonly k: number,
    private readonly epsMax: number,
  ) {
    const cap = k + Math.max(k, 1024);
    this.idx = new Int32Array(cap);
    this.val = new Float32Array(cap);
    this.eps = new Float64Array(cap);
  }

  /** Entries held. */
  get size(): number {
    return this.n;
  }

  /** Whether k values are known, so {@link floorFor} prunes. */
  get full(): boolean {
    return this.kth !== -Infinity;
  }

  /**
   * The float32 threshold a scan in index order (after every entry held) may apply to items
   * with bound `eps`: only values strictly above it can still enter. −Infinity until k are known.
   */
  floorFor(eps: number): number {
    return this.kth === -Infinity ? -Infinity : f32AtMost(this.kth - this.epsMax - eps);
  }

  /** Adds an item with approximate score `v` (NaN is dropped: it never ranks). */
  push(index: number, v: number, eps: number): void {
    if (v !== v) return;
    this.pushed++;
    if (this.n === this.idx.length) this.compact();
    this.idx[this.n] = index;
    this.val[this.n] = v;
    this.eps[this.n++] = eps;
  }

  /** Updates the k-th value and drops every entry that k others beat for sure. */
  compact(): void {
    if (this.n < this.k) return;
    const best = topK(this.val.subarray(0, this.n), this.k);
    this.kth = best.scores[this.k - 1]!;
    const bar = this.kth - this.epsMax;
    let m = 0;
    for (let j = 0; j < this.n; j++) {
      if (this.val[j]! + this.eps[j]! < bar) continue;
      this.idx[m] = this.idx[j]!;
      this.val[m] = this.val[j]!;
      this.eps[m++] = this.eps[j]!;
    }
    this.n = m;
    // compact() may run inside push(): guarantee room even when nothing could be dropped.
    if (this.n === this.idx.length) this.grow();
  }

  /**
   * The exact top k: survivors rescored with `exact` (the reference arithmetic), in index
   * order so that `topK` breaks ties by index.
   */
  result(exact: (index: number) => number): TopK {
    this.compact();
    const order = this.idx.slice(0, this.n).sort();
    this.rescored = order.length;
    const scores = Float32Array.from(order, (i) => exact(i));
    const best = topK(scores, this.k);
    for (let j = 0; j < best.indices.length; j++) best.indices[j] = order[best.indices[j]!]!;
    return best;
  }

  /**
   * The end of a kernel's search over its blocks: {@link result} with each survivor rescored by
   * `exactRow` on the block holding it, and what the search did written into `stats`.
   */
  finish<B extends { baseIndex: number }>(
    blockOf: (index: number) => B,
    exactRow: (block: B, row: number) => number,
    stats: SearchStats,
    rows: Pick<SearchStats, 'approxRows' | 'exactRows'>,
  ): TopK {
    const best = this.result((index) => {
      const b = blockOf(index);
      return exactRow(b, index - b.baseIndex);
    });
    Object.assign(stats, { ...rows, contenders: this.pushed, rescored: this.rescored });
    return best;
  }

  private grow(): void {
    const cap = this.idx.length * 2;
    const idx = new Int32Array(cap);
    const val = new Float32Array(cap);
    const eps = new Float64Array(cap);
    idx.set(this.idx);
    val.set(this.val);
    eps.set(this.eps);
    this.idx = idx;
    this.val = val;
    this.eps = eps;
  }
}

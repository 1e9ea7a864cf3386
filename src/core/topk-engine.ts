/**
 * The top-k retrieval engine: one interface ({@link TopKKernel}) over interchangeable kernels
 * — plain TypeScript ({@link createTsKernel}), WASM SIMD (kernels/wasm-kernel.ts), WebGPU
 * (src/client/ranker/kernels/webgpu-topk.ts) — and one front ({@link TopKEngine}) that checks every
 * input once, so kernels can trust what they get.
 *
 * Items arrive in blocks (an embedding shard decoded by `decodeShard` is one): block b holds
 * internal indices `baseIndex .. baseIndex + count - 1`. Blocks can be added one by one as
 * shards download, in any order; a search covers everything added so far.
 *
 * The contract every kernel keeps: the SAME indices, in the same order, as the plain
 * TypeScript kernel — scores from `scoreInt8` / `scoreF16` / `scoreF32`, ranked by `topK`
 * (best first, equal scores to the lower index, NaN never ranks, exclusions honoured). Fast
 * kernels get there by computing approximate scores with a proven error bound and rescoring
 * every item that could still make the top k with those same functions (kernels/exact-best.ts),
 * so their scores are the TypeScript kernel's scores exactly, not merely close.
 */
import { LocalrecError } from './errors.ts';
import { dequantizeRowsInt8 } from './quantize.ts';
import type { ShardDtype } from './shard.ts';
import { scoreF16, scoreF32, scoreInt8, topK, type Exclusion, type TopK } from './topk.ts';

export type { Exclusion, TopK } from './topk.ts';

/** Row storage of a block: the shard dtypes. */
export type ItemDtype = ShardDtype;

/** Every dtype the engine knows, for checks and error messages. */
export const ITEM_DTYPES: readonly ItemDtype[] = ['int8', 'f16', 'f32'];

/**
 * A run of consecutive items. Exactly the arrays of its dtype are set — the shape of a
 * `DecodedShard`, so `engine.add(decodeShard(bytes))` works as is.
 */
export interface ItemBlock {
  dtype: ItemDtype;
  /** Values per row; the same for every block of one engine. */
  dim: number;
  /** Internal index of row 0. */
  baseIndex: number;
  /** Rows in the block. */
  count: number;
  /** int8 only: (count, dim) row-major. */
  int8?: Int8Array;
  /** int8 only: (count) per-row scales; a row's scores are `scale * (query · row)`. */
  scales?: Float32Array;
  /**
   * int8 only: scales per row (default 1). With S > 1, `scales` is (count, S) and segment s of a
   * row (dim / S values) has its own scale — an ensemble's shard (src/core/shard.ts version 2).
   * {@link TopKEngine.add} hands such a block to the kernel as f32 rows, dequantized exactly as
   * `shardRowsAsFloat32` does, so every kernel scores the same values.
   */
  segments?: number;
  /** f16 only: (count, dim) IEEE binary16 bit patterns. */
  f16?: Uint16Array;
  /** f32 only: (count, dim). */
  f32?: Float32Array;
}

/** What a fast kernel's last search did: how much the exact rescoring had to do (tests, benchmarks). */
export interface SearchStats {
  /** Rows scored approximately on the fast path (WASM SIMD or the GPU). */
  approxRows: number;
  /** Items considered for the top k: approximate scores close enough, plus exactly scored rows. */
  contenders: number;
  /** Items rescored with the reference functions at the end. */
  rescored: number;
  /** Rows scored exactly on the CPU instead (overflow-prone blocks, GPU tiles near the cut). */
  exactRows: number;
}

/**
 * One retrieval backend. Use it through {@link TopKEngine}, which validates blocks and
 * queries before they reach a kernel; a kernel may assume well-formed input.
 */
export interface TopKKernel {
  /** Short stable name for reports: `ts`, `wasm-simd`, `webgpu`. */
  readonly name: string;
  /** Whether blocks of this dtype can be added. */
  supports(dtype: string): boolean;
  /**
   * Takes in one validated, non-empty block that overlaps no earlier one. A kernel may keep
   * views of the block's arrays or copy them once (into WASM or GPU memory), never more.
   */
  prepare(block: ItemBlock): void;
  /**
   * The `k` best items over every prepared block for a (dim) query, best first, as internal
   * indices. `k` is at most the number of items prepared.
   */
  search(query: Float32Array, k: number, exclude?: Exclusion): TopK | Promise<TopK>;
  /** Frees what the kernel holds (WASM memory, GPU buffers); it is unusable afterwards. */
  dispose(): void;
  /** Fast kernels: what the last search did. */
  readonly lastSearch?: SearchStats;
}

/** Options of {@link TopKEngine.search}. */
export interface SearchOptions {
  /** Internal indices never to return: a set, or a predicate called only on contenders. */
  exclude?: Exclusion;
}

function bad(message: string): LocalrecError {
  return new LocalrecError('bad-input', message);
}

/** Largest internal index + 1: results are Int32Array. */
const MAX_INDEX = 0x7fffffff;

/** Checks the arrays of one block against its dtype, dim and count. */
function checkBlockArrays(b: ItemBlock, what: string): void {
  const n = b.count * b.dim;
  const need = <T>(
    arr: T | undefined,
    ctor: { new (n: number): T; name: string },
    len: number,
    field: string,
  ) => {
    if (!(arr instanceof ctor))
      throw bad(`${what}: a ${b.dtype} block needs \`${field}\` as a ${ctor.name}`);
    const got = (arr as unknown as { length: number }).length;
    if (got !== len)
      throw bad(
        `${what}: \`${field}\` holds ${got} values but count ${b.count}${field === 'scales' ? '' : ` × dim ${b.dim}`} needs ${len}`,
      );
  };
  if (b.dtype === 'int8') {
    need(b.int8, Int8Array, n, 'int8');
    need(b.scales, Float32Array, b.count, 'scales');
  } else if (b.dtype === 'f16') need(b.f16, Uint16Array, n, 'f16');
  else need(b.f32, Float32Array, n, 'f32');
}

/**
 * A block with S > 1 scale segments per int8 row as f32 rows (q · its segment's scale, in
 * float32: the values a decoder reads); any other block as it is. The kernels' int8 paths take
 * one scale per row, so a segmented block is scored as f32 — 4 bytes a value in the kernel's
 * memory instead of 1, the same bytes over the network.
 */
function widenSegments(b: ItemBlock): ItemBlock {
  const S = b.segments ?? 1;
  if (S === 1) return b;
  if (b.dtype !== 'int8' || !Number.isInteger(S) || S < 1 || b.dim % S !== 0)
    throw bad(
      `add: segments must be a positive integer dividing dim ${b.dim}, and 1 unless dtype is int8; got ${String(S)} for ${b.dtype}`,
    );
  const n = b.count * b.dim;
  if (!(b.int8 instanceof Int8Array) || b.int8.length !== n)
    throw bad(`add: an int8 block needs \`int8\` as an Int8Array of count × dim = ${n} values`);
  if (!(b.scales instanceof Float32Array) || b.scales.length !== b.count * S)
    throw bad(`add: \`scales\` must hold count ${b.count} × segments ${S} = ${b.count * S} values`);
  const f32 = dequantizeRowsInt8(b.int8, b.scales, b.count * S, b.dim / S);
  return { dtype: 'f32', dim: b.dim, baseIndex: b.baseIndex, count: b.count, f32 };
}

/**
 * Blocks plus a kernel: validates, keeps the index ranges, and delegates the math.
 *
 * ```ts
 * const engine = new TopKEngine({ kernel: await createWasmKernel() });
 * for await (const bytes of shardDownloads) engine.add(decodeShard(bytes)); // search any time
 * const { indices, scores } = await engine.search(userVec, 100, { exclude: seen });
 * ```
 */
export class TopKEngine {
  /** The kernel doing the math. */
  readonly kernel: TopKKernel;
  private dimValue: number | undefined;
  private itemCount = 0;
  /** Added ranges [start, end), sorted by start, for the overlap check. */
  private readonly ranges: { start: number; end: number }[] = [];
  private disposed = false;

  constructor(options: { kernel: TopKKernel }) {
    if (!options || typeof options.kernel?.search !== 'function')
      throw bad('TopKEngine needs { kernel }: a TopKKernel such as createTsKernel()');
    this.kernel = options.kernel;
  }

  /** Row width, fixed by the first block; undefined before it. */
  get dim(): number | undefined {
    return this.dimValue;
  }

  /** Items added so far. */
  get items(): number {
    return this.itemCount;
  }

  /**
   * Adds a block of items: searches from now on cover it too.
   *
   * @throws LocalrecError `bad-input` when the block is malformed, its dtype is unknown or
   *   unsupported by the kernel, its dim differs from earlier blocks', or its index range
   *   overlaps an earlier block's.
   */
  add(block: ItemBlock): void {
    this.alive();
    if (!block || typeof block !== 'object')
      throw bad('add: a block is { dtype, dim, baseIndex, count, int8 + scales | f16 | f32 }');
    block = widenSegments(block);
    const { dtype, dim, baseIndex, count } = block;
    if (!ITEM_DTYPES.includes(dtype))
      throw bad(
        `add: unknown dtype ${JSON.stringify(dtype)}; valid dtypes are ${ITEM_DTYPES.join(', ')}`,
      );
    if (!this.kernel.supports(dtype))
      throw bad(
        `add: the '${this.kernel.name}' kernel does not support ${dtype} blocks; supported: ${ITEM_DTYPES.filter((d) => this.kernel.supports(d)).join(', ')}`,
      );
    if (!Number.isInteger(dim) || dim < 1)
      throw bad(`add: dim must be a positive integer, got ${dim}`);
    if (this.dimValue !== undefined && dim !== this.dimValue)
      throw bad(
        `add: block has dim ${dim} but earlier blocks have dim ${this.dimValue}; all blocks of one engine share one width`,
      );
    if (!Number.isInteger(baseIndex) || baseIndex < 0)
      throw bad(`add: baseIndex must be a non-negative integer, got ${baseIndex}`);
    if (!Number.isInteger(count) || count < 0)
      throw bad(`add: count must be a non-negative integer, got ${count}`);
    if (baseIndex + count > MAX_INDEX)
      throw bad(`add: indices up to ${baseIndex + count - 1} exceed the limit ${MAX_INDEX - 1}`);
    checkBlockArrays(block, 'add');

    const end = baseIndex + count;
    // First range starting at or after `end`; only its predecessor can overlap.
    let lo = 0;
    let hi = this.ranges.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.ranges[mid]!.start < end) lo = mid + 1;
      else hi = mid;
    }
    const prev = this.ranges[lo - 1];
    if (count > 0 && prev && prev.end > baseIndex)
      throw bad(
        `add: block indices ${baseIndex}..${end - 1} overlap an earlier block's ${prev.start}..${prev.end - 1}`,
      );
    this.dimValue = dim;
    if (count === 0) return;
    this.kernel.prepare(block);
    this.ranges.splice(lo, 0, { start: baseIndex, end });
    this.itemCount += count;
  }

  /**
   * The `k` best items for a query, best first, as internal indices with their scores.
   * Fewer than `k` when fewer items qualify (none before the first block).
   *
   * @param query - (dim) the user vector; every value finite.
   * @throws LocalrecError `bad-input` for a query of the wrong length or with a non-finite
   *   value, a `k` that is not a non-negative integer, or an `exclude` that is neither a Set
   *   nor a function.
   */
  async search(query: Float32Array, k: number, options: SearchOptions = {}): Promise<TopK> {
    this.alive();
    if (!Number.isInteger(k) || k < 0)
      throw bad(`search: k must be a non-negative integer, got ${k}`);
    if (!(query instanceof Float32Array))
      throw bad('search: the query must be a Float32Array of dim values');
    const { exclude } = options ?? {};
    if (exclude !== undefined && !(exclude instanceof Set) && typeof exclude !== 'function')
      throw bad('search: `exclude` must be a Set of internal indices or a predicate on them');
    if (this.dimValue !== undefined && query.length !== this.dimValue)
      throw bad(`search: query has ${query.length} values but the items have dim ${this.dimValue}`);
    for (let j = 0; j < query.length; j++) {
      if (!Number.isFinite(query[j]!))
        throw bad(`search: query[${j}] is ${query[j]}; every query value must be finite`);
    }
    const kk = Math.min(k, this.itemCount);
    if (kk === 0) return { indices: new Int32Array(0), scores: new Float32Array(0) };
    return this.kernel.search(query, kk, exclude);
  }

  /** Frees the kernel's memory; the engine is unusable afterwards. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.kernel.dispose();
  }

  private alive(): void {
    if (this.disposed) throw new LocalrecError('not-loaded', 'this TopKEngine was disposed');
  }
}

/** A predicate over internal indices, from either form of {@link Exclusion}. */
export function exclusionPredicate(exclude?: Exclusion): ((index: number) => boolean) | null {
  if (exclude === undefined) return null;
  return typeof exclude === 'function' ? exclude : (i) => exclude.has(i);
}

/**
 * Blocks kept sorted by baseIndex, with each block's position in a packed score array (the
 * sum of the counts before it): positions follow index order, so ties in a packed array break
 * by index exactly as they would in an array indexed by internal index.
 */
export class BlockList<B extends { baseIndex: number; count: number }> {
  readonly blocks: B[] = [];
  /** offsets[i]: position of blocks[i]'s row 0 in the packed order. */
  offsets: Int32Array = new Int32Array(0);
  total = 0;

  insert(block: B): void {
    let i = this.blocks.length;
    while (i > 0 && this.blocks[i - 1]!.baseIndex > block.baseIndex) i--;
    this.blocks.splice(i, 0, block);
    this.offsets = new Int32Array(this.blocks.length);
    let o = 0;
    this.blocks.forEach((b, j) => {
      this.offsets[j] = o;
      o += b.count;
    });
    this.total = o;
  }

  /** The block holding packed position `p`. */
  blockAt(p: number): number {
    let lo = 0;
    let hi = this.blocks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.offsets[mid]! <= p) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** The block whose index range holds internal index `index` (which must be in one). */
  blockOf(index: number): B {
    let lo = 0;
    let hi = this.blocks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.blocks[mid]!.baseIndex <= index) lo = mid;
      else hi = mid - 1;
    }
    return this.blocks[lo]!;
  }

  /** Internal index of packed position `p`. */
  indexAt(p: number): number {
    const b = this.blockAt(p);
    return this.blocks[b]!.baseIndex + (p - this.offsets[b]!);
  }
}

/**
 * The plain TypeScript kernel: the reference the others must match. Keeps views of the
 * blocks' arrays (no copy); each search scores every block into one packed array with
 * scoreInt8 / scoreF16 / scoreF32 and ranks it with topK.
 */
export function createTsKernel(): TopKKernel {
  const list = new BlockList<ItemBlock>();
  let scores = new Float32Array(0);
  return {
    name: 'ts',
    supports: (dtype) => (ITEM_DTYPES as readonly string[]).includes(dtype),
    prepare(block) {
      list.insert(block);
    },
    search(query, k, exclude) {
      if (scores.length !== list.total) scores = new Float32Array(list.total);
      list.blocks.forEach((b, i) => {
        const o = list.offsets[i]!;
        const dst = scores.subarray(o, o + b.count);
        if (b.dtype === 'int8') scoreInt8(query, b.int8!, b.scales!, b.dim, dst);
        else if (b.dtype === 'f16') scoreF16(query, b.f16!, b.dim, dst);
        else scoreF32(query, b.f32!, b.dim, dst);
      });
      const skip = exclusionPredicate(exclude);
      const best = topK(scores, k, skip ? (p) => skip(list.indexAt(p)) : undefined);
      for (let n = 0; n < best.indices.length; n++)
        best.indices[n] = list.indexAt(best.indices[n]!);
      return best;
    },
    dispose() {
      list.blocks.length = 0;
      scores = new Float32Array(0);
    },
  };
}

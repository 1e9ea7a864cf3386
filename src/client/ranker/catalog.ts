/**
 * Catalogs: the item side of a ranker model, apart from ONNX — shards decoded and checked against
 * each other, added to the top-k engine of the chosen kernel, and read back row by row.
 */
import { LocalrecError, isLocalrecError } from '../../core/errors.ts';
import { createWasmKernel } from '../../core/kernels/wasm-kernel.ts';
import { float16ToFloat32 } from '../../core/quantize.ts';
import { decodeShard, type DecodedShard } from '../../core/shard.ts';
import { createTsKernel, TopKEngine, type TopKKernel } from '../../core/topk-engine.ts';
import type { Bytes, KernelChoice } from './api.ts';

/** The item side of one model: its shards, searchable so far, and its id table. */
export interface Catalog {
  dim: number;
  engine: TopKEngine;
  /** External id → internal index (1..N). */
  indexOf: Map<string, number>;
  /** Internal index → external id (undefined for padding and for items not loaded yet). */
  idOf: string[];
  /** Loaded index ranges sorted by start: the cold-start ranking walks them in index order. */
  ranges: { start: number; end: number }[];
  /**
   * The decoded shards, sorted by baseIndex, for reading single rows (itemVectors). Their arrays
   * are views into the shard bytes, so keeping them costs no copy (the WASM and WebGPU kernels
   * hold their own copies for scoring).
   */
  blocks: DecodedShard[];
  shards: number;
}

export function toU8(b: Bytes, what: string): Uint8Array {
  if (b instanceof Uint8Array) return b;
  if (b instanceof ArrayBuffer) return new Uint8Array(b);
  throw new LocalrecError('bad-input', `${what} must be an ArrayBuffer or a Uint8Array`);
}

export function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Decodes shards, wrapping a decoding failure with which shard it was. */
export function decodeAll(shardBytes: Bytes[], what: string): DecodedShard[] {
  if (!Array.isArray(shardBytes))
    throw new LocalrecError(
      'bad-input',
      `${what}: \`shards\` must be an array of embedding shards`,
    );
  return shardBytes.map((b, i) => {
    const bytes = toU8(b, `shards[${i}]`);
    try {
      return decodeShard(bytes);
    } catch (e) {
      const code = isLocalrecError(e) ? e.code : 'bad-format';
      throw new LocalrecError(
        code,
        `shards[${i}] (${bytes.byteLength} bytes) is not a valid embedding shard: ${message(e)}`,
        { cause: e },
      );
    }
  });
}

/**
 * Checks new shards against each other and against what `into` already holds — one dim, indices
 * from 1, no overlapping rows, unique ids — and only then adds them all (a bad shard adds none).
 */
export function addToCatalog(into: Catalog, shards: DecodedShard[]): void {
  const newIds = new Map<string, number>();
  const newRanges: { start: number; end: number; i: number }[] = [];
  shards.forEach((s, i) => {
    if (s.dim !== into.dim)
      throw new LocalrecError(
        'bad-format',
        `shards[${i}] has dim ${s.dim} but this model's items have dim ${into.dim}; all shards of a catalog share one width`,
      );
    if (!Number.isInteger(s.baseIndex) || s.baseIndex < 1) {
      throw new LocalrecError(
        'bad-format',
        `shards[${i}] starts at item index ${s.baseIndex}; indices start at 1 (0 is padding)`,
      );
    }
    const r = { start: s.baseIndex, end: s.baseIndex + s.count, i };
    for (const o of [...into.ranges, ...newRanges]) {
      if (r.start < o.end && o.start < r.end && r.end > r.start)
        throw new LocalrecError(
          'bad-format',
          `shards[${i}] (items ${r.start}..${r.end - 1}) overlaps items ${Math.max(r.start, o.start)}..${Math.min(r.end, o.end) - 1} of another shard`,
        );
    }
    newRanges.push(r);
    s.ids.forEach((id, row) => {
      if (into.indexOf.has(id) || newIds.has(id))
        throw new LocalrecError(
          'bad-format',
          `item id '${id}' appears twice in the shards (shards[${i}] row ${row})`,
        );
      newIds.set(id, s.baseIndex + row);
    });
  });
  for (const s of shards) {
    into.engine.add(s);
    into.blocks.push(s);
    into.shards++;
    if (s.count > 0) into.ranges.push({ start: s.baseIndex, end: s.baseIndex + s.count });
    s.ids.forEach((id, row) => (into.idOf[s.baseIndex + row] = id));
  }
  for (const [id, index] of newIds) into.indexOf.set(id, index);
  into.ranges.sort((a, b) => a.start - b.start);
  into.blocks.sort((a, b) => a.baseIndex - b.baseIndex);
}

/** Writes item `index`'s row, as the kernels score it, into `out` at `at`; false when not loaded. */
export function readRow(c: Catalog, index: number, out: Float32Array, at: number): boolean {
  let lo = 0;
  let hi = c.blocks.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (c.blocks[mid]!.baseIndex <= index) lo = mid;
    else hi = mid - 1;
  }
  const b = c.blocks[lo];
  if (!b || index < b.baseIndex || index >= b.baseIndex + b.count) return false;
  const r = index - b.baseIndex;
  const from = r * b.dim;
  if (b.dtype === 'int8') {
    // One scale per segment of the row (an ensemble's members; one segment in most shards).
    const S = b.segments;
    const seg = b.dim / S;
    for (let j = 0; j < b.dim; j++)
      out[at + j] = b.int8![from + j]! * b.scales![r * S + Math.floor(j / seg)]!;
  } else if (b.dtype === 'f16') {
    float16ToFloat32(b.f16!.subarray(from, from + b.dim), out.subarray(at, at + b.dim));
  } else out.set(b.f32!.subarray(from, from + b.dim), at);
  return true;
}

/** The first `k` loaded items in index order that `skip` does not hold (the cold-start list). */
export function firstItems(c: Catalog, k: number, skip: Set<number>): number[] {
  const out: number[] = [];
  for (const r of c.ranges) {
    for (let i = r.start; i < r.end && out.length < k; i++) if (!skip.has(i)) out.push(i);
    if (out.length >= k) break;
  }
  return out;
}

const KERNELS: readonly KernelChoice[] = ['auto', 'ts', 'wasm-simd', 'webgpu'];

/** `choice` if it names a kernel, else a `bad-input` error listing the valid ones. */
export function checkKernel(choice: unknown, what: string): KernelChoice {
  if (!KERNELS.includes(choice as KernelChoice))
    throw new LocalrecError(
      'bad-input',
      `${what}: kernel must be one of ${KERNELS.join(', ')}, got ${JSON.stringify(choice)}`,
    );
  return choice as KernelChoice;
}

async function makeKernel(choice: KernelChoice): Promise<TopKKernel> {
  if (choice === 'ts') return createTsKernel();
  if (choice === 'webgpu') {
    // Loaded only when asked for: pages on the CPU path never fetch the shader code.
    const { createWebGpuKernel } = await import('./kernels/webgpu-topk.ts');
    return createWebGpuKernel();
  }
  try {
    return await createWasmKernel();
  } catch (e) {
    if (choice === 'wasm-simd') throw e;
    return createTsKernel(); // 'auto' on a browser without WebAssembly SIMD
  }
}

/** A catalog of decoded shards searched by a fresh kernel (disposed again if anything fails). */
export async function newCatalog(
  shardBytes: Bytes[],
  kernelChoice: KernelChoice,
  what: string,
): Promise<{ catalog: Catalog; kernel: TopKKernel }> {
  const shards = decodeAll(shardBytes, what);
  if (shards.length === 0)
    throw new LocalrecError(
      'bad-input',
      `${what}: \`shards\` must list at least one embedding shard (the rest can follow through addShards)`,
    );
  const kernel = await makeKernel(checkKernel(kernelChoice, what));
  const catalog: Catalog = {
    dim: shards[0]!.dim,
    engine: new TopKEngine({ kernel }),
    indexOf: new Map(),
    idOf: [],
    ranges: [],
    blocks: [],
    shards: 0,
  };
  try {
    addToCatalog(catalog, shards);
  } catch (e) {
    catalog.engine.dispose();
    throw e;
  }
  return { catalog, kernel };
}

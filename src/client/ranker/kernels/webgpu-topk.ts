/// <reference types="@webgpu/types" />
/**
 * The WebGPU retrieval kernel: a WGSL compute shader scores item rows (int8 + scales, f16,
 * f32) against the query and sorts each 2048-row tile in workgroup memory (bitonic, by score
 * then index), keeping the tile's best `k + 8`; the CPU merges the tiles' lists. As with the
 * WASM kernel, GPU scores are approximate (float32 sums in another order, maybe subnormals
 * flushed) with a proven bound, and the merge rescores every item that could still make the top
 * k with the TypeScript kernel's functions (src/core/kernels/exact-best.ts) — so results equal
 * the plain TypeScript kernel's exactly. A full tile (more rows than it could list) whose last
 * listed score is still within reach is rescored on the CPU whole, which keeps that guarantee
 * whatever the data; it is rare on real embeddings.
 *
 * Lives in src/client because it needs `navigator.gpu`. On a software adapter (SwiftShader)
 * it is correct but slower than the WASM kernel; pick it only for a real GPU (device.ts).
 */
import { LocalrecError } from '../../../core/errors.ts';
import {
  Contenders,
  exactScore,
  floatEps,
  maxAbs,
  SAFE_MAGNITUDE,
} from '../../../core/kernels/exact-best.ts';
import type {
  Exclusion,
  ItemBlock,
  SearchStats,
  TopK,
  TopKKernel,
} from '../../../core/topk-engine.ts';
import { BlockList, exclusionPredicate, ITEM_DTYPES } from '../../../core/topk-engine.ts';
import { fromFloat16Bits } from '../../../core/quantize.ts';
import { NO_ROW, SLACK, TILE, topkShader } from './webgpu-topk.wgsl.ts';
import { scoreF16, scoreF32, scoreInt8 } from '../../../core/topk.ts';

/** Options of {@link createWebGpuKernel}. */
export interface WebGpuKernelOptions {
  /** The device to run on (the kernel then does not destroy it). Default: one of `adapter`. */
  device?: GPUDevice;
  /** The adapter to open a device on. Default: `navigator.gpu.requestAdapter()`, whatever it is. */
  adapter?: GPUAdapter;
}

/** A block's rows as uploaded: up to the device's binding limit, so big blocks become several. */
interface Chunk {
  block: GpuBlock;
  /** First row of the block in this chunk, and rows in it. */
  start: number;
  count: number;
  rows: GPUBuffer;
  scales: GPUBuffer | null;
  params: GPUBuffer;
  bindGroup: GPUBindGroup | null;
}

interface GpuBlock {
  src: ItemBlock;
  baseIndex: number;
  count: number;
  /** Largest |row value| (dequantized for int8: 128 × max|scale|). */
  maxAbsRow: number;
  /** Some f16 value is subnormal (a GPU may flush it to 0). */
  subnormal: boolean;
  /** Non-finite values: scored on the CPU only. */
  cpuOnly: boolean;
  chunks: Chunk[];
}

function units(dim: number): number {
  return Math.ceil(dim / 4);
}

/** Rows padded to whole units of 4 values, as bytes (a view when no padding is needed). */
function rowBytes(b: ItemBlock, start: number, count: number): Uint8Array {
  const u = units(b.dim);
  const src = b.dtype === 'int8' ? b.int8! : b.dtype === 'f16' ? b.f16! : b.f32!;
  const width = src.BYTES_PER_ELEMENT;
  const rows = src.subarray(start * b.dim, (start + count) * b.dim);
  if (b.dim === 4 * u) return new Uint8Array(rows.buffer, rows.byteOffset, rows.byteLength);
  const out = new Uint8Array(count * 4 * u * width);
  for (let r = 0; r < count; r++)
    out.set(
      new Uint8Array(rows.buffer, rows.byteOffset + r * b.dim * width, b.dim * width),
      r * 4 * u * width,
    );
  return out;
}

/**
 * Creates a WebGPU kernel (int8, f16, f32 blocks).
 *
 * @throws LocalrecError `device-unavailable` when there is no WebGPU adapter or device.
 */
export async function createWebGpuKernel(options: WebGpuKernelOptions = {}): Promise<TopKKernel> {
  let device = options.device;
  const owned = !device;
  if (!device) {
    const gpu = (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
    const adapter =
      options.adapter ?? (await gpu?.requestAdapter({ powerPreference: 'high-performance' }));
    if (!adapter)
      throw new LocalrecError(
        'device-unavailable',
        'WebGPU has no adapter here; use the WASM kernel',
      );
    const limits = adapter.limits;
    device = await adapter.requestDevice({
      requiredLimits: {
        maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
        maxBufferSize: limits.maxBufferSize,
      },
    });
  }
  const gpu = device;
  let lost: string | null = null;
  void gpu.lost.then((info) => {
    lost = info.message || info.reason;
  });
  const pipelines = new Map<string, Promise<GPUComputePipeline>>();
  const pipelineFor = (dtype: ItemBlock['dtype']) => {
    let p = pipelines.get(dtype);
    if (!p) {
      p = gpu.createComputePipelineAsync({
        layout: 'auto',
        compute: {
          module: gpu.createShaderModule({ code: topkShader(dtype) }),
          entryPoint: 'main',
        },
      });
      pipelines.set(dtype, p);
    }
    return p;
  };
  const maxBinding = Math.min(gpu.limits.maxStorageBufferBindingSize, gpu.limits.maxBufferSize);
  const maxTilesX = gpu.limits.maxComputeWorkgroupsPerDimension;

  const list = new BlockList<GpuBlock>();
  const stats: SearchStats = { approxRows: 0, contenders: 0, rescored: 0, exactRows: 0 };
  let dim = 0;
  let queryBuf: GPUBuffer | null = null;
  let outCap = 0;
  let outIdx: GPUBuffer | null = null;
  let outScore: GPUBuffer | null = null;
  let staging: GPUBuffer | null = null;
  let queue: Promise<unknown> = Promise.resolve();

  const prepare = (b: ItemBlock): void => {
    if (lost) throw new LocalrecError('device-unavailable', `the WebGPU device was lost: ${lost}`);
    if (dim === 0) {
      dim = b.dim;
      queryBuf = gpu.createBuffer({
        size: units(dim) * 16,
        usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST,
      });
    }
    let maxAbsRow: number;
    let cpuOnly = false;
    let subnormal = false;
    if (b.dtype === 'int8') {
      const m = maxAbs(b.scales!);
      cpuOnly = !b.scales!.every(Number.isFinite);
      maxAbsRow = 128 * m;
    } else if (b.dtype === 'f32') {
      cpuOnly = !b.f32!.every(Number.isFinite);
      maxAbsRow = maxAbs(b.f32!);
    } else {
      let m = 0;
      for (const h of b.f16!) {
        const e = h & 0x7c00;
        if (e === 0x7c00) cpuOnly = true;
        else if (e === 0 && (h & 0x3ff) !== 0) subnormal = true;
        const a = h & 0x7fff;
        if (a > m && e !== 0x7c00) m = a;
      }
      maxAbsRow = fromFloat16Bits(m);
    }
    const gb: GpuBlock = {
      src: b,
      baseIndex: b.baseIndex,
      count: b.count,
      maxAbsRow,
      subnormal,
      cpuOnly,
      chunks: [],
    };
    if (!cpuOnly) {
      const bytesPerRow = units(dim) * 4 * (b.dtype === 'int8' ? 1 : b.dtype === 'f16' ? 2 : 4);
      // Rows per chunk: what one storage binding holds (the scales take 4 bytes ≤ a row's).
      const perChunk = Math.max(1, Math.floor(maxBinding / bytesPerRow));
      for (let start = 0; start < b.count; start += perChunk) {
        const count = Math.min(perChunk, b.count - start);
        const data = rowBytes(b, start, count);
        // Whole units of 4 values per row: every row's byte length is a multiple of 4.
        const rows = gpu.createBuffer({
          size: Math.max(16, data.byteLength),
          usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST,
        });
        gpu.queue.writeBuffer(rows, 0, data.buffer, data.byteOffset, data.byteLength);
        let scales: GPUBuffer | null = null;
        if (b.dtype === 'int8') {
          scales = gpu.createBuffer({
            size: Math.max(16, count * 4),
            usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST,
          });
          gpu.queue.writeBuffer(scales, 0, b.scales!.slice(start, start + count));
        }
        const params = gpu.createBuffer({
          size: 32,
          usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
        });
        gb.chunks.push({ block: gb, start, count, rows, scales, params, bindGroup: null });
      }
      void pipelineFor(b.dtype);
    }
    list.insert(gb);
  };

  const search = async (query: Float32Array, k: number, exclude?: Exclusion): Promise<TopK> => {
    if (lost) throw new LocalrecError('device-unavailable', `the WebGPU device was lost: ${lost}`);
    const skip = exclusionPredicate(exclude);
    const maxQ = maxAbs(query);
    const kOut = Math.min(TILE, k + SLACK);
    const epsOf = (b: GpuBlock): number | null => {
      if (b.cpuOnly || !(dim * maxQ * b.maxAbsRow < SAFE_MAGNITUDE)) return null;
      if (maxQ === 0) return 0; // every product is exactly 0, flushed or not
      // Flushed subnormals: ≤ 2^-126 per operation, and f16 subnormals read as 0 (< 2^-14 each).
      const flush =
        (dim + 4) * 2 ** -126 * (1 + b.maxAbsRow) + (b.subnormal ? dim * maxQ * 2 ** -14 : 0);
      return floatEps(dim, maxQ, b.maxAbsRow, flush);
    };
    const eps = list.blocks.map(epsOf);
    const pool = new Contenders(k, Math.max(0, ...eps.map((e) => e ?? 0)));

    // Exact rows straight from the caller's arrays (kept, not copied).
    const exactRow = (b: GpuBlock, r: number): number => {
      const s = b.src;
      const row = (s.dtype === 'int8' ? s.int8! : s.dtype === 'f16' ? s.f16! : s.f32!).subarray(
        r * dim,
        (r + 1) * dim,
      );
      return exactScore(
        s.dtype,
        query,
        row,
        s.dtype === 'int8' ? s.scales!.subarray(r, r + 1) : null,
        dim,
      );
    };
    let exactRows = 0;
    let approxRows = 0;
    /** Rows [start, end) of a block scored exactly with one kernel call, pushed unless `emitted` lists them. */
    const exactRange = (b: GpuBlock, start: number, end: number, emitted?: Set<number>) => {
      exactRows += end - start;
      const s = b.src;
      const out = new Float32Array(end - start);
      if (s.dtype === 'int8')
        scoreInt8(
          query,
          s.int8!.subarray(start * dim, end * dim),
          s.scales!.subarray(start, end),
          dim,
          out,
        );
      else if (s.dtype === 'f16')
        scoreF16(query, s.f16!.subarray(start * dim, end * dim), dim, out);
      else scoreF32(query, s.f32!.subarray(start * dim, end * dim), dim, out);
      for (let r = start; r < end; r++) {
        const index = b.baseIndex + r;
        if (emitted?.has(index) || (skip && skip(index))) continue;
        pool.push(index, out[r - start]!, 0);
      }
    };

    const gpuChunks: { c: Chunk; e: number; base: number; tiles: number }[] = [];
    let total = 0;
    list.blocks.forEach((b, i) => {
      const e = eps[i]!;
      if (e === null) exactRange(b, 0, b.count);
      else
        for (const c of b.chunks) {
          const tiles = Math.ceil(c.count / TILE);
          gpuChunks.push({ c, e, base: total, tiles });
          approxRows += c.count;
          total += tiles * kOut;
        }
    });

    if (gpuChunks.length > 0) {
      if (total > outCap) {
        outIdx?.destroy();
        outScore?.destroy();
        staging?.destroy();
        outCap = Math.max(total, 2 * outCap);
        outIdx = gpu.createBuffer({
          size: outCap * 4,
          usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC,
        });
        outScore = gpu.createBuffer({
          size: outCap * 4,
          usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC,
        });
        staging = gpu.createBuffer({
          size: outCap * 8,
          usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
        });
        for (const b of list.blocks) for (const c of b.chunks) c.bindGroup = null;
      }
      const padded = new Float32Array(units(dim) * 4);
      padded.set(query);
      gpu.queue.writeBuffer(queryBuf!, 0, padded);
      const pipelines = await Promise.all(gpuChunks.map(({ c }) => pipelineFor(c.block.src.dtype)));
      const encoder = gpu.createCommandEncoder();
      const pass = encoder.beginComputePass();
      for (const [n, { c, base, tiles }] of gpuChunks.entries()) {
        const pipeline = pipelines[n]!;
        if (!c.bindGroup) {
          const entries: GPUBindGroupEntry[] = [
            { binding: 0, resource: { buffer: c.rows } },
            { binding: 2, resource: { buffer: queryBuf! } },
            { binding: 3, resource: { buffer: c.params } },
            { binding: 4, resource: { buffer: outIdx! } },
            { binding: 5, resource: { buffer: outScore! } },
          ];
          if (c.scales) entries.push({ binding: 1, resource: { buffer: c.scales } });
          c.bindGroup = gpu.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
        }
        const tilesX = Math.min(tiles, maxTilesX);
        gpu.queue.writeBuffer(
          c.params,
          0,
          new Uint32Array([c.count, units(dim), kOut, base, tilesX]),
        );
        pass.setPipeline(pipeline);
        pass.setBindGroup(0, c.bindGroup);
        pass.dispatchWorkgroups(tilesX, Math.ceil(tiles / tilesX));
      }
      pass.end();
      encoder.copyBufferToBuffer(outIdx!, 0, staging!, 0, total * 4);
      encoder.copyBufferToBuffer(outScore!, 0, staging!, outCap * 4, total * 4);
      gpu.queue.submit([encoder.finish()]);
      await staging!.mapAsync(GPUMapMode.READ);
      const idx = new Uint32Array(staging!.getMappedRange(0, total * 4).slice(0));
      const val = new Float32Array(staging!.getMappedRange(outCap * 4, total * 4).slice(0));
      staging!.unmap();

      // Every listed row first, then the full tiles whose unlisted rows might still matter.
      for (const { c, e, base, tiles } of gpuChunks) {
        for (let t = 0; t < tiles; t++)
          for (let j = base + t * kOut, end = j + kOut; j < end && idx[j] !== NO_ROW; j++) {
            const index = c.block.baseIndex + c.start + idx[j]!;
            if (!(skip && skip(index))) pool.push(index, val[j]!, e);
          }
      }
      pool.compact();
      for (const { c, e, base, tiles } of gpuChunks) {
        for (let t = 0; t < tiles; t++) {
          const rowsInTile = Math.min(TILE, c.count - t * TILE);
          const last = base + t * kOut + kOut - 1;
          if (rowsInTile <= kOut || val[last]! < pool.floorFor(e)) continue;
          const listed = new Set<number>();
          for (let j = base + t * kOut; j <= last; j++)
            listed.add(c.block.baseIndex + c.start + idx[j]!);
          const first = c.start + t * TILE;
          exactRange(c.block, first, first + rowsInTile, listed);
        }
      }
    }
    return pool.finish((index) => list.blockOf(index), exactRow, stats, { approxRows, exactRows });
  };

  return {
    name: 'webgpu',
    supports: (dtype) => (ITEM_DTYPES as readonly string[]).includes(dtype),
    prepare,
    // One search at a time: they share the output and staging buffers.
    search(query, k, exclude) {
      const p = queue.then(() => search(query, k, exclude));
      queue = p.catch(() => undefined);
      return p;
    },
    dispose() {
      for (const b of list.blocks)
        for (const c of b.chunks) {
          c.rows.destroy();
          c.scales?.destroy();
          c.params.destroy();
        }
      list.blocks.length = 0;
      for (const buf of [queryBuf, outIdx, outScore, staging]) buf?.destroy();
      if (owned) gpu.destroy();
    },
    lastSearch: stats,
  };
}

/**
 * The WGSL of the WebGPU retrieval kernel (webgpu-topk.ts), one variant per row dtype.
 *
 * One workgroup per tile of 2048 rows: each of its 256 threads scores 8 rows (dot products
 * over the row in units of 4 values, times the row scale for int8), the tile is sorted in
 * workgroup memory by a bitonic network (higher score first, then lower row), and the best
 * `kOut` (row, score) pairs go to the output at `outBase + tile * kOut`. Rows past the end
 * sort last as (NO_ROW, -FLT_MAX).
 */
import type { ItemBlock } from '../../../core/topk-engine.ts';

/** Rows per workgroup tile, sorted in workgroup memory: 2048 × (f32 + u32) = 16 KiB, WebGPU's default limit. */
export const TILE = 2048;
/** Threads per workgroup: each scores TILE / THREADS rows. */
export const THREADS = 256;
/** Extra entries each tile lists beyond k, so a few exclusions do not force a CPU rescore. */
export const SLACK = 8;
/** The row id of an empty slot (past the end of the rows). */
export const NO_ROW = 0xffffffff;

/** Reads 4 row values as a vec4<f32>, per dtype; rows are padded to whole units of 4 values. */
const ROW: Record<ItemBlock['dtype'], { type: string; read: string; scale: string }> = {
  int8: {
    type: 'u32',
    read: `let w = rows[i];
  return vec4<f32>(vec4<i32>(bitcast<i32>(w << 24u), bitcast<i32>(w << 16u), bitcast<i32>(w << 8u), bitcast<i32>(w)) >> vec4<u32>(24u));`,
    scale: 'acc * scales[r]',
  },
  f16: {
    type: 'vec2<u32>',
    read: `let w = rows[i];
  return vec4<f32>(unpack2x16float(w.x), unpack2x16float(w.y));`,
    scale: 'acc',
  },
  f32: { type: 'vec4<f32>', read: 'return rows[i];', scale: 'acc' },
};

/** The compute shader for one row dtype. */
export function topkShader(dtype: ItemBlock['dtype']): string {
  const row = ROW[dtype];
  return `
struct Params { count: u32, units: u32, kOut: u32, outBase: u32, tilesX: u32 }
@group(0) @binding(0) var<storage, read> rows: array<${row.type}>;
@group(0) @binding(2) var<storage, read> query: array<vec4<f32>>;
@group(0) @binding(3) var<uniform> params: Params;
@group(0) @binding(4) var<storage, read_write> outIdx: array<u32>;
@group(0) @binding(5) var<storage, read_write> outScore: array<f32>;
${dtype === 'int8' ? '@group(0) @binding(1) var<storage, read> scales: array<f32>;' : ''}
var<workgroup> sScore: array<f32, ${TILE}>;
var<workgroup> sIdx: array<u32, ${TILE}>;

fn rowUnit(i: u32) -> vec4<f32> {
  ${row.read}
}

@compute @workgroup_size(${THREADS})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let tile = wid.y * params.tilesX + wid.x;
  let start = tile * ${TILE}u;
  if (start >= params.count) { return; }
  for (var t = 0u; t < ${TILE / THREADS}u; t++) {
    let local = t * ${THREADS}u + lid;
    let r = start + local;
    var s = -3.402823e38;
    var id = ${NO_ROW}u;
    if (r < params.count) {
      var acc = 0.0;
      for (var u = 0u; u < params.units; u++) { acc += dot(rowUnit(r * params.units + u), query[u]); }
      s = ${row.scale};
      id = r;
    }
    sScore[local] = s;
    sIdx[local] = id;
  }
  workgroupBarrier();
  // Bitonic sort, best first: higher score, then lower row.
  for (var size = 2u; size <= ${TILE}u; size = size << 1u) {
    for (var stride = size >> 1u; stride > 0u; stride = stride >> 1u) {
      for (var t = 0u; t < ${TILE / 2 / THREADS}u; t++) {
        let p = t * ${THREADS}u + lid;
        let i = ((p & ~(stride - 1u)) << 1u) | (p & (stride - 1u));
        let j = i + stride;
        let si = sScore[i];
        let sj = sScore[j];
        let ii = sIdx[i];
        let ij = sIdx[j];
        let iFirst = si > sj || (si == sj && ii < ij);
        if (iFirst != ((i & size) == 0u)) {
          sScore[i] = sj;
          sScore[j] = si;
          sIdx[i] = ij;
          sIdx[j] = ii;
        }
      }
      workgroupBarrier();
    }
  }
  for (var t = lid; t < params.kOut; t += ${THREADS}u) {
    let o = params.outBase + tile * params.kOut + t;
    outIdx[o] = sIdx[t];
    outScore[o] = sScore[t];
  }
}
`;
}

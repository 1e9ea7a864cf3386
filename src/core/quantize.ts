/**
 * Symmetric weight quantization (int8 per row / per column, int4 in blocks) and float16
 * conversion. Pure: typed arrays in, typed arrays out.
 *
 * Every scheme is symmetric with zero point 0, so dequantization is `q * scale` computed in
 * float32 — exactly what ONNX DequantizeLinear (and com.microsoft GatherBlockQuantized) do, so
 * an exported model and a tfjs model built from {@link dequantizeRowsInt8} & co. see the same
 * weights bit for bit.
 *
 * Rounding is half-to-even, as ONNX QuantizeLinear rounds. Matrices are row-major (rows, cols).
 */
import { LocalrecError } from './errors.ts';

/** Largest int8 magnitude used: the range is [-127, 127] (symmetric; -128 is never produced). */
export const INT8_MAX = 127;
/**
 * Largest int4 magnitude used: the range is [-7, 7] (symmetric, so +x and -x quantize alike;
 * -8 is never produced, though {@link unpackInt4} and the dequantizers accept it).
 */
export const INT4_MAX = 7;
/** Default int4 block length: a power of two ≥ 16, as onnxruntime's int4 kernels require. */
export const DEFAULT_INT4_BLOCK = 32;

/** int8 values and their float32 scales (one per row or per column). */
export interface Int8Quantized {
  q: Int8Array;
  scales: Float32Array;
}

/** Round half to even (banker's rounding), as ONNX QuantizeLinear does. */
function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** The largest float32 below a positive finite float32. */
function nextDownF32(x: number): number {
  f32Scratch[0] = x;
  u32Scratch[0] = u32Scratch[0]! - 1;
  return f32Scratch[0];
}

/**
 * The float32 scale for a group whose largest magnitude is `maxAbs`, quantized to [-qmax, qmax].
 * All-zero groups (and groups so tiny the scale underflows) get scale 1: every q is then 0 and
 * dequantizes to exactly 0. Near float32's max the scale is nudged down so q*scale stays finite.
 */
function scaleFor(maxAbs: number, qmax: number): number {
  let s = Math.fround(maxAbs / qmax);
  if (s === 0) return 1;
  while (!Number.isFinite(Math.fround(qmax * s))) s = nextDownF32(s);
  return s;
}

function quantizeValue(x: number, scale: number, qmax: number): number {
  const q = roundHalfEven(x / scale);
  return q > qmax ? qmax : q < -qmax ? -qmax : q;
}

function checkMatrix(what: string, length: number, rows: number, cols: number): void {
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 0 || cols < 0) {
    throw new LocalrecError(
      'bad-input',
      `${what}: rows and cols must be non-negative integers, got ${rows}x${cols}`,
    );
  }
  if (length !== rows * cols) {
    throw new LocalrecError(
      'bad-input',
      `${what}: expected ${rows}x${cols} = ${rows * cols} values, got ${length}`,
    );
  }
}

function nonFinite(what: string, r: number, c: number, v: number): LocalrecError {
  return new LocalrecError(
    'bad-input',
    `${what}: cannot quantize the non-finite value ${v} at row ${r}, column ${c}`,
  );
}

/**
 * Symmetric int8 with one scale per row: scale[r] = max|row r| / 127, q = round(x / scale).
 * For embedding tables (each item row keeps its own range) — ONNX DequantizeLinear axis 0.
 * Throws `bad-input` on NaN or ±Infinity.
 */
export function quantizeRowsInt8(data: Float32Array, rows: number, cols: number): Int8Quantized {
  checkMatrix('quantizeRowsInt8', data.length, rows, cols);
  const q = new Int8Array(rows * cols);
  const scales = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let maxAbs = 0;
    for (let c = 0; c < cols; c++) {
      const v = data[o + c]!;
      if (!Number.isFinite(v)) throw nonFinite('quantizeRowsInt8', r, c, v);
      const a = Math.abs(v);
      if (a > maxAbs) maxAbs = a;
    }
    const s = scaleFor(maxAbs, INT8_MAX);
    scales[r] = s;
    for (let c = 0; c < cols; c++) q[o + c] = quantizeValue(data[o + c]!, s, INT8_MAX);
  }
  return { q, scales };
}

/** Inverse of {@link quantizeRowsInt8}: x = q * scale[row], in float32. Writes into `out` when given. */
export function dequantizeRowsInt8(
  q: Int8Array,
  scales: Float32Array,
  rows: number,
  cols: number,
  out: Float32Array = new Float32Array(rows * cols),
): Float32Array {
  checkMatrix('dequantizeRowsInt8', q.length, rows, cols);
  if (scales.length !== rows)
    throw new LocalrecError(
      'bad-input',
      `dequantizeRowsInt8: expected ${rows} scales, got ${scales.length}`,
    );
  if (out.length !== rows * cols)
    throw new LocalrecError(
      'bad-input',
      `dequantizeRowsInt8: output holds ${out.length} values, need ${rows * cols}`,
    );
  for (let r = 0; r < rows; r++) {
    const s = scales[r]!;
    const o = r * cols;
    for (let c = 0; c < cols; c++) out[o + c] = q[o + c]! * s;
  }
  return out;
}

/**
 * Symmetric int8 with one scale per column: for (in, out) weight matrices used as x @ W, so
 * each output channel keeps its own range — ONNX DequantizeLinear axis 1. scales: (cols).
 */
export function quantizeColumnsInt8(data: Float32Array, rows: number, cols: number): Int8Quantized {
  checkMatrix('quantizeColumnsInt8', data.length, rows, cols);
  const maxAbs = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const v = data[r * cols + c]!;
      if (!Number.isFinite(v)) throw nonFinite('quantizeColumnsInt8', r, c, v);
      const a = Math.abs(v);
      if (a > maxAbs[c]!) maxAbs[c] = a;
    }
  }
  const scales = new Float32Array(cols);
  for (let c = 0; c < cols; c++) scales[c] = scaleFor(maxAbs[c]!, INT8_MAX);
  const q = new Int8Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++)
      q[r * cols + c] = quantizeValue(data[r * cols + c]!, scales[c]!, INT8_MAX);
  }
  return { q, scales };
}

/** Inverse of {@link quantizeColumnsInt8}: x = q * scale[col], in float32. */
export function dequantizeColumnsInt8(
  q: Int8Array,
  scales: Float32Array,
  rows: number,
  cols: number,
): Float32Array {
  checkMatrix('dequantizeColumnsInt8', q.length, rows, cols);
  if (scales.length !== cols)
    throw new LocalrecError(
      'bad-input',
      `dequantizeColumnsInt8: expected ${cols} scales, got ${scales.length}`,
    );
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) out[r * cols + c] = q[r * cols + c]! * scales[c]!;
  }
  return out;
}

/**
 * Packs int4 values (each in [-8, 7]) two per byte, the first in the low nibble — the
 * layout of ONNX INT4 tensors. An odd count leaves the last high nibble 0.
 */
export function packInt4(values: Int8Array): Uint8Array {
  const out = new Uint8Array(Math.ceil(values.length / 2));
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v < -8 || v > 7)
      throw new LocalrecError('bad-input', `packInt4: value ${v} at ${i} is outside [-8, 7]`);
    out[i >> 1] = out[i >> 1]! | ((v & 0x0f) << ((i & 1) << 2));
  }
  return out;
}

/** Inverse of {@link packInt4}: the first `count` signed nibbles. */
export function unpackInt4(packed: Uint8Array, count: number): Int8Array {
  if (packed.length < Math.ceil(count / 2)) {
    throw new LocalrecError(
      'bad-input',
      `unpackInt4: ${count} values need ${Math.ceil(count / 2)} bytes, got ${packed.length}`,
    );
  }
  const out = new Int8Array(count);
  for (let i = 0; i < count; i++) {
    const n = (packed[i >> 1]! >> ((i & 1) << 2)) & 0x0f;
    out[i] = n >= 8 ? n - 16 : n; // sign-extend the nibble
  }
  return out;
}

/** How an int4 matrix is cut into scale groups (ONNX blocked quantization, opset 21). */
export interface Int4Options {
  /**
   * The axis cut into blocks: 0 = blocks run down each column (for (in, out) weights: one
   * scale per output channel per `blockSize` inputs); 1 = blocks run along each row (for
   * embedding tables: one scale per row per `blockSize` dims).
   */
  axis: 0 | 1;
  /** Block length along `axis` (default {@link DEFAULT_INT4_BLOCK}); ≥ the axis length gives one scale per column (axis 0) or per row (axis 1). */
  blockSize?: number;
}

/** An int4 matrix: packed values, scales and the layout needed to read them back. */
export interface Int4Quantized {
  /** (rows, cols) int4 values, row-major, packed by {@link packInt4}. */
  packed: Uint8Array;
  /** float32 scales, row-major with shape {@link scaleShape}. */
  scales: Float32Array;
  /** axis 0: (ceil(rows / blockSize), cols); axis 1: (rows, ceil(cols / blockSize)). */
  scaleShape: [number, number];
  rows: number;
  cols: number;
  axis: 0 | 1;
  blockSize: number;
}

/** Index of the scale of element (r, c). */
function int4ScaleIndex(
  r: number,
  c: number,
  axis: 0 | 1,
  blockSize: number,
  scaleCols: number,
): number {
  return axis === 0
    ? Math.floor(r / blockSize) * scaleCols + c
    : r * scaleCols + Math.floor(c / blockSize);
}

/**
 * Symmetric int4 in [-7, 7] with one float32 scale per block of `blockSize` elements along
 * `axis`: scale = max|block| / 7. Matches ONNX DequantizeLinear (opset 21) with `axis` and
 * `block_size`, and com.microsoft GatherBlockQuantized with quantize_axis = 1 for axis 1.
 */
export function quantizeInt4(
  data: Float32Array,
  rows: number,
  cols: number,
  opts: Int4Options,
): Int4Quantized {
  checkMatrix('quantizeInt4', data.length, rows, cols);
  const blockSize = opts.blockSize ?? DEFAULT_INT4_BLOCK;
  if (!Number.isInteger(blockSize) || blockSize < 1) {
    throw new LocalrecError(
      'bad-input',
      `quantizeInt4: blockSize must be a positive integer, got ${blockSize}`,
    );
  }
  const { axis } = opts;
  const scaleShape: [number, number] =
    axis === 0 ? [Math.ceil(rows / blockSize), cols] : [rows, Math.ceil(cols / blockSize)];
  const maxAbs = new Float64Array(scaleShape[0] * scaleShape[1]);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const v = data[r * cols + c]!;
      if (!Number.isFinite(v)) throw nonFinite('quantizeInt4', r, c, v);
      const k = int4ScaleIndex(r, c, axis, blockSize, scaleShape[1]);
      const a = Math.abs(v);
      if (a > maxAbs[k]!) maxAbs[k] = a;
    }
  }
  const scales = new Float32Array(maxAbs.length);
  for (let k = 0; k < maxAbs.length; k++) scales[k] = scaleFor(maxAbs[k]!, INT4_MAX);
  const q = new Int8Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const s = scales[int4ScaleIndex(r, c, axis, blockSize, scaleShape[1])]!;
      q[r * cols + c] = quantizeValue(data[r * cols + c]!, s, INT4_MAX);
    }
  }
  return { packed: packInt4(q), scales, scaleShape, rows, cols, axis, blockSize };
}

/** Inverse of {@link quantizeInt4}: x = q * scale[block], in float32, shape (rows, cols). */
export function dequantizeInt4(qz: Int4Quantized): Float32Array {
  const { rows, cols, axis, blockSize, scales, scaleShape } = qz;
  checkMatrix('dequantizeInt4', rows * cols, rows, cols);
  if (scales.length !== scaleShape[0] * scaleShape[1]) {
    throw new LocalrecError(
      'bad-input',
      `dequantizeInt4: scale shape ${scaleShape.join('x')} does not match ${scales.length} scales`,
    );
  }
  const q = unpackInt4(qz.packed, rows * cols);
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      out[r * cols + c] =
        q[r * cols + c]! * scales[int4ScaleIndex(r, c, axis, blockSize, scaleShape[1])]!;
    }
  }
  return out;
}

/**
 * IEEE 754 binary16 bits of a number (first rounded to float32, as Float32Array storage would),
 * rounded to nearest, ties to even. Overflow gives ±Infinity, values below half the smallest
 * subnormal (2^-25) give ±0, subnormals are kept, NaN stays a (quiet) NaN.
 */
export function toFloat16Bits(x: number): number {
  f32Scratch[0] = x;
  const b = u32Scratch[0]!;
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  const mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 127 + 15; // the half-precision biased exponent
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Half subnormal: value = m * 2^-24, m = M * 2^(exp-126) with M the 24-bit significand.
    if (e < -10) return sign;
    const M = mant | 0x800000;
    const shift = 14 - e; // 14..24
    let m = M >>> shift;
    const rem = M & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && (m & 1) === 1)) m++; // m may carry to 0x400: the smallest normal, correctly
    return sign | m;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1) === 1)) h++; // a carry moves into the exponent, up to Infinity
  return sign | h;
}

/** The number a binary16 bit pattern encodes (exact: every half is a float32). */
export function fromFloat16Bits(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** float32 → float16 bits, element-wise. */
export function float32ToFloat16(src: Float32Array): Uint16Array {
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = toFloat16Bits(src[i]!);
  return out;
}

let halfTable: Float32Array | null = null;

/**
 * Every binary16 bit pattern decoded once (256 KiB): a table lookup per value is several
 * times faster than bit twiddling in hot loops, and Float16Array is not everywhere yet.
 */
export function float16Table(): Float32Array {
  if (!halfTable) {
    halfTable = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) halfTable[h] = fromFloat16Bits(h);
  }
  return halfTable;
}

/** float16 bits → float32, element-wise (through a 256 KB table built on first use). */
export function float16ToFloat32(
  src: Uint16Array,
  out: Float32Array = new Float32Array(src.length),
): Float32Array {
  const table = float16Table();
  if (out.length !== src.length)
    throw new LocalrecError(
      'bad-input',
      `float16ToFloat32: output holds ${out.length} values, need ${src.length}`,
    );
  for (let i = 0; i < src.length; i++) out[i] = table[src[i]!]!;
  return out;
}

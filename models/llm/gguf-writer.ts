/**
 * Writes GGUF files (src/core/gguf/format.ts): typed metadata and F32 or F16 tensors, laid out
 * as llama.cpp reads them. Used to build the tiny llama model the tests and the benchmark run
 * (./tiny-llama.ts); any GGUF it writes reads back with src/core/gguf/reader.ts.
 */
import { LocalrecError } from '../../src/core/errors.ts';
import {
  GGML_TYPE_F16,
  GGML_TYPE_F32,
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  GGUF_SCALAR_BYTES,
  GGUF_VALUE_TYPES,
  GGUF_VERSION,
  alignTo,
  type GgufItemType,
  type GgufValue,
} from '../../src/core/gguf/format.ts';

/** One tensor to write: `dims` innermost axis first (ggml's `ne`), `data` in that order. */
export interface GgufTensorInput {
  name: string;
  dims: number[];
  data: Float32Array;
  /** Stored as F32 (default) or F16. */
  type?: 'F32' | 'F16';
}

export interface GgufInput {
  /** Written in this order; `general.alignment` is added when `alignment` is not the default. */
  metadata: ReadonlyArray<readonly [string, GgufValue]>;
  tensors: readonly GgufTensorInput[];
  /** A power of two; default 32. */
  alignment?: number;
}

const utf8 = new TextEncoder();

/** IEEE 754 half from a float32, rounding to nearest even (what numpy's astype(float16) does). */
export function toHalf(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer)[0]!;
  const sign = (u >>> 16) & 0x8000;
  const exp = (u >>> 23) & 0xff;
  const mant = u & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    const m = (mant | 0x800000) >>> 0;
    const shift = 14 - e;
    let h = m >>> shift;
    const rest = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rest > half || (rest === half && (h & 1) === 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (h & 1) === 1)) h++;
  return sign | h;
}

/** A growable little-endian byte buffer. */
class Out {
  private buf = new Uint8Array(1 << 16);
  private view = new DataView(this.buf.buffer);
  length = 0;
  private room(n: number): number {
    if (this.length + n > this.buf.length) {
      const next = new Uint8Array(Math.max(this.buf.length * 2, this.length + n));
      next.set(this.buf.subarray(0, this.length));
      this.buf = next;
      this.view = new DataView(next.buffer);
    }
    const at = this.length;
    this.length += n;
    return at;
  }
  u32(v: number): void {
    this.view.setUint32(this.room(4), v, true);
  }
  u64(v: number | bigint): void {
    this.view.setBigUint64(this.room(8), BigInt(v), true);
  }
  bytes(b: Uint8Array): void {
    const at = this.room(b.length); // may replace this.buf
    this.buf.set(b, at);
  }
  string(s: string): void {
    const b = utf8.encode(s);
    this.u64(b.length);
    this.bytes(b);
  }
  pad(alignment: number): void {
    this.room(alignTo(this.length, alignment) - this.length);
  }
  scalar(type: Exclude<GgufItemType, 'string'>, v: number | bigint | boolean): void {
    const at = this.room(GGUF_SCALAR_BYTES[type]);
    const d = this.view;
    if (type === 'bool') d.setUint8(at, v ? 1 : 0);
    else if (type === 'uint64') d.setBigUint64(at, BigInt(v as bigint), true);
    else if (type === 'int64') d.setBigInt64(at, BigInt(v as bigint), true);
    else {
      const n = v as number;
      if (type === 'float32') d.setFloat32(at, n, true);
      else if (type === 'float64') d.setFloat64(at, n, true);
      else if (type === 'uint8') d.setUint8(at, n);
      else if (type === 'int8') d.setInt8(at, n);
      else if (type === 'uint16') d.setUint16(at, n, true);
      else if (type === 'int16') d.setInt16(at, n, true);
      else if (type === 'uint32') d.setUint32(at, n, true);
      else d.setInt32(at, n, true);
    }
  }
  done(): Uint8Array<ArrayBuffer> {
    return this.buf.slice(0, this.length);
  }
}

const code = (t: (typeof GGUF_VALUE_TYPES)[number]) => GGUF_VALUE_TYPES.indexOf(t);

function writeValue(out: Out, v: GgufValue): void {
  out.u32(code(v.type));
  if (v.type === 'string') return out.string(v.value);
  if (v.type !== 'array') return out.scalar(v.type, v.value);
  out.u32(code(v.itemType));
  out.u64(v.value.length);
  for (const item of v.value)
    if (v.itemType === 'string') out.string(item as string);
    else out.scalar(v.itemType, item as number | bigint | boolean);
}

function tensorBytes(t: GgufTensorInput): Uint8Array {
  if (t.type === 'F16') {
    const h = new Uint16Array(t.data.length);
    for (let i = 0; i < h.length; i++) h[i] = toHalf(t.data[i]!);
    return new Uint8Array(h.buffer);
  }
  // Little-endian hosts only (every browser and Node platform localrec runs on).
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

/**
 * The bytes of a GGUF version 3 file holding `input`.
 *
 * @throws LocalrecError `bad-input` for a tensor whose data length is not the product of its
 *   dims, a duplicate key or tensor name, or an alignment that is not a power of two.
 */
export function writeGguf(input: GgufInput): Uint8Array<ArrayBuffer> {
  const alignment = input.alignment ?? GGUF_DEFAULT_ALIGNMENT;
  if (!Number.isInteger(alignment) || alignment < 1 || (alignment & (alignment - 1)) !== 0)
    throw new LocalrecError('bad-input', `alignment must be a power of two, got ${alignment}`);
  const metadata = [...input.metadata];
  if (alignment !== GGUF_DEFAULT_ALIGNMENT && !metadata.some(([k]) => k === 'general.alignment'))
    metadata.push(['general.alignment', { type: 'uint32', value: alignment }]);
  const keys = new Set<string>();
  for (const [k] of metadata) {
    if (keys.has(k)) throw new LocalrecError('bad-input', `metadata key "${k}" given twice`);
    keys.add(k);
  }
  const names = new Set<string>();
  const datas = input.tensors.map((t) => {
    const n = t.dims.reduce((a, b) => a * b, 1);
    if (t.data.length !== n)
      throw new LocalrecError(
        'bad-input',
        `tensor "${t.name}" has ${t.data.length} values for dims [${t.dims.join(', ')}] (${n})`,
      );
    if (names.has(t.name)) throw new LocalrecError('bad-input', `tensor "${t.name}" given twice`);
    names.add(t.name);
    return tensorBytes(t);
  });

  const out = new Out();
  out.u32(GGUF_MAGIC);
  out.u32(GGUF_VERSION);
  out.u64(input.tensors.length);
  out.u64(metadata.length);
  for (const [k, v] of metadata) {
    out.string(k);
    writeValue(out, v);
  }
  let offset = 0;
  input.tensors.forEach((t, i) => {
    out.string(t.name);
    out.u32(t.dims.length);
    for (const d of t.dims) out.u64(d);
    out.u32(t.type === 'F16' ? GGML_TYPE_F16 : GGML_TYPE_F32);
    out.u64(offset);
    offset = alignTo(offset + datas[i]!.length, alignment);
  });
  out.pad(alignment);
  datas.forEach((d) => {
    out.bytes(d);
    out.pad(alignment);
  });
  return out.done();
}

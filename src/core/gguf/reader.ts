/**
 * Reads and checks a GGUF file's header (./format.ts) without touching its tensor data, so a
 * model can be checked before it is handed to llama.cpp: a wrong magic, an unknown version, a
 * header cut short, a tensor whose data lies outside the file or off the alignment is a clear
 * `bad-format` error here instead of a crash inside the engine's WebAssembly.
 */
import { LocalrecError } from '../errors.ts';
import {
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  GGUF_SCALAR_BYTES,
  GGUF_VALUE_TYPES,
  alignTo,
  ggmlTensorBytes,
  type GgufItemType,
  type GgufTensorInfo,
  type GgufValue,
} from './format.ts';

/** What a GGUF header says. */
export interface GgufHeader {
  version: number;
  metadata: Map<string, GgufValue>;
  tensors: GgufTensorInfo[];
  alignment: number;
  /** Byte offset of the data section (the header's end, aligned). */
  dataOffset: number;
  /** Bytes the file must have: the data section's end. */
  byteLength: number;
}

/** Thrown inside the parser when the bytes end before the header does. */
class Truncated extends Error {}

const bad = (msg: string) => new LocalrecError('bad-format', `not a valid GGUF file: ${msg}`);

/** Counts in a header beyond these are corruption, not a model (they would exhaust memory). */
const MAX_COUNT = 1 << 24;

class Cursor {
  private readonly view: DataView;
  private readonly utf8 = new TextDecoder('utf-8', { fatal: true });
  at = 0;
  constructor(private readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  private need(n: number): number {
    if (this.at + n > this.bytes.length) throw new Truncated();
    const at = this.at;
    this.at += n;
    return at;
  }
  u8 = () => this.view.getUint8(this.need(1));
  u32 = () => this.view.getUint32(this.need(4), true);
  u64(): bigint {
    return this.view.getBigUint64(this.need(8), true);
  }
  /** A uint64 that must be a safe integer (a count, a length, an offset). */
  size(what: string, max = Number.MAX_SAFE_INTEGER): number {
    const v = this.u64();
    if (v > BigInt(max)) throw bad(`${what} is ${v}, more than ${max}`);
    return Number(v);
  }
  string(what: string): string {
    const n = this.size(`the length of ${what}`, this.bytes.length);
    const at = this.need(n);
    try {
      return this.utf8.decode(this.bytes.subarray(at, at + n));
    } catch {
      throw bad(`${what} is not UTF-8`);
    }
  }
  scalar(type: Exclude<GgufItemType, 'string'>): number | bigint | boolean {
    const at = this.need(GGUF_SCALAR_BYTES[type]);
    const v = this.view;
    switch (type) {
      case 'uint8':
        return v.getUint8(at);
      case 'int8':
        return v.getInt8(at);
      case 'uint16':
        return v.getUint16(at, true);
      case 'int16':
        return v.getInt16(at, true);
      case 'uint32':
        return v.getUint32(at, true);
      case 'int32':
        return v.getInt32(at, true);
      case 'float32':
        return v.getFloat32(at, true);
      case 'float64':
        return v.getFloat64(at, true);
      case 'uint64':
        return v.getBigUint64(at, true);
      case 'int64':
        return v.getBigInt64(at, true);
      case 'bool': {
        const b = v.getUint8(at);
        if (b > 1) throw bad(`a bool holds ${b}`);
        return b === 1;
      }
    }
  }
}

function valueType(code: number, key: string): (typeof GGUF_VALUE_TYPES)[number] {
  const t = GGUF_VALUE_TYPES[code];
  if (t === undefined) throw bad(`metadata "${key}" has unknown value type ${code}`);
  return t;
}

function readValue(c: Cursor, key: string): GgufValue {
  const type = valueType(c.u32(), key);
  if (type === 'string') return { type, value: c.string(`the value of "${key}"`) };
  if (type !== 'array') return { type, value: c.scalar(type) } as GgufValue;
  const itemType = valueType(c.u32(), key);
  if (itemType === 'array') throw bad(`metadata "${key}" is an array of arrays`);
  const n = c.size(`the length of "${key}"`, MAX_COUNT);
  const items: unknown[] = new Array(n);
  for (let i = 0; i < n; i++)
    items[i] = itemType === 'string' ? c.string(`item ${i} of "${key}"`) : c.scalar(itemType);
  return { type, itemType, value: items } as GgufValue;
}

function parse(bytes: Uint8Array, fileSize: number): GgufHeader {
  const c = new Cursor(bytes);
  const magic = c.u32();
  if (magic !== GGUF_MAGIC) {
    const got = [...bytes.subarray(0, 4)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    throw bad(`it starts with bytes ${got}, not "GGUF" (47 47 55 46)`);
  }
  const version = c.u32();
  if (version !== 2 && version !== 3)
    throw new LocalrecError(
      'unsupported-version',
      `GGUF version ${version} is not supported (versions 2 and 3 are)`,
    );
  const nTensors = c.size('the tensor count', MAX_COUNT);
  const nKv = c.size('the metadata count', MAX_COUNT);
  const metadata = new Map<string, GgufValue>();
  for (let i = 0; i < nKv; i++) {
    const key = c.string(`metadata key ${i}`);
    if (metadata.has(key)) throw bad(`metadata key "${key}" appears twice`);
    metadata.set(key, readValue(c, key));
  }
  const al = metadata.get('general.alignment');
  let alignment = GGUF_DEFAULT_ALIGNMENT;
  if (al !== undefined) {
    if (al.type !== 'uint32' || al.value === 0 || (al.value & (al.value - 1)) !== 0)
      throw bad('general.alignment must be a uint32 power of two');
    alignment = al.value;
  }
  const tensors: GgufTensorInfo[] = [];
  const names = new Set<string>();
  for (let i = 0; i < nTensors; i++) {
    const name = c.string(`tensor name ${i}`);
    if (names.has(name)) throw bad(`tensor "${name}" appears twice`);
    names.add(name);
    const nDims = c.u32();
    if (nDims < 1 || nDims > 4) throw bad(`tensor "${name}" has ${nDims} dimensions (1 to 4)`);
    const dims: number[] = [];
    for (let d = 0; d < nDims; d++) dims.push(c.size(`a dimension of "${name}"`, 2 ** 40));
    const type = c.u32();
    const offset = c.size(`the offset of "${name}"`);
    if (offset % alignment !== 0)
      throw bad(
        `tensor "${name}" starts at ${offset}, not a multiple of the alignment ${alignment}`,
      );
    tensors.push({ name, dims, type, offset });
  }
  const dataOffset = alignTo(c.at, alignment);
  let byteLength = dataOffset;
  for (const t of tensors) {
    const size = ggmlTensorBytes(t.type, t.dims) ?? 0;
    const end = dataOffset + t.offset + size;
    if (end > fileSize)
      throw bad(
        `tensor "${t.name}" ends at byte ${end}, past the end of the ${fileSize}-byte file (truncated?)`,
      );
    byteLength = Math.max(byteLength, end);
  }
  return { version, metadata, tensors, alignment, dataOffset, byteLength };
}

/**
 * Parses the header at the start of `bytes`, a GGUF file of `fileSize` bytes (default: all of
 * `bytes`). Returns `'need-more'` when `bytes` is a prefix that ends inside the header, so a
 * caller can read a larger prefix of a large file.
 *
 * ```ts
 * import { parseGgufHeader } from 'localrec/core';
 *
 * const file = new Uint8Array(await (await fetch('/model.gguf')).arrayBuffer());
 * const header = parseGgufHeader(file);
 * if (header !== 'need-more') console.log(header.metadata.get('general.architecture'));
 * ```
 *
 * @throws LocalrecError `bad-format` for a file that is not GGUF, is cut short or is
 *   inconsistent (the message says what is wrong); `unsupported-version` for a GGUF version
 *   other than 2 or 3.
 */
export function parseGgufHeader(
  bytes: Uint8Array,
  fileSize = bytes.length,
): GgufHeader | 'need-more' {
  try {
    return parse(bytes, fileSize);
  } catch (e) {
    if (!(e instanceof Truncated)) throw e;
    if (bytes.length < fileSize) return 'need-more';
    throw bad(`the file ends inside its header (${fileSize} bytes)`);
  }
}

/** A string or number metadata value, or undefined when absent or of another type. */
export function ggufScalar(h: GgufHeader, key: string): string | number | undefined {
  const v = h.metadata.get(key);
  return v && (typeof v.value === 'string' || typeof v.value === 'number') ? v.value : undefined;
}

/**
 * The embedding shard codec: a slice of the item-embedding table with its external item ids,
 * as one little-endian binary blob (format versions 1 and 2).
 *
 * ```
 * offset  size  field
 *  0      4     magic "LRSH"
 *  4      2     u16 version (1 or 2)
 *  6      1     u8 dtype: 0 = f32, 1 = f16, 2 = int8
 *  7      1     version 1: u8 flags (0; reserved)
 *               version 2: u8 scale segments S (int8 only, 2..255, dividing dim)
 *  8      4     u32 dim
 * 12      4     u32 count (rows)
 * 16      4     u32 baseIndex: internal index of the first row (items are 1-based)
 * 20      4     u32 idTableBytes
 * 24      …     id table: count × (u16 byteLength + UTF-8 bytes of the external id)
 *         …     zero padding to a multiple of 4
 *         …     int8 only: f32 scales × count × S (S = 1 in version 1), row-major
 *         …     rows: count × dim values (f32: 4 bytes, f16: 2, int8: 1), contiguous
 * ```
 * The blob's length is exactly what the header implies; anything else is rejected.
 *
 * Version 2 splits each int8 row into S equal segments of dim / S values, each with its own
 * scale: value j of row i is q · scales[i · S + ⌊j / (dim / S)⌋]. An ensemble's row is its
 * members' vectors side by side, and one scale per row would size every member's step by the
 * largest member (a member 100× smaller would round to zeros). A shard with S = 1 is written as
 * version 1, byte for byte what earlier versions wrote, so a single model's shards (and their
 * sha256 in signed manifests and the SDK's blob cache) do not change; an older reader refuses a
 * version 2 shard with `unsupported-version` rather than misreading its scales.
 */
import { LocalrecError } from './errors.ts';
import {
  dequantizeRowsInt8,
  float16ToFloat32,
  float32ToFloat16,
  quantizeRowsInt8,
} from './quantize.ts';
import { encodeIdTable, readIdTable, writeIdTable } from './shard-ids.ts';

/** The first four bytes of every shard. */
export const SHARD_MAGIC = 'LRSH';
/** The newest shard format version this code reads and writes (it reads and writes 1 too). */
export const SHARD_VERSION = 2;
/** Most scale segments a version 2 row can have (a u8). */
export const MAX_SCALE_SEGMENTS = 255;
/** Fixed header length in bytes. */
export const SHARD_HEADER_BYTES = 24;

/** Row storage of a shard. */
export type ShardDtype = 'f32' | 'f16' | 'int8';

const DTYPE_CODES: Record<ShardDtype, number> = { f32: 0, f16: 1, int8: 2 };
const DTYPE_NAMES: readonly ShardDtype[] = ['f32', 'f16', 'int8'];
const DTYPE_BYTES: Record<ShardDtype, number> = { f32: 4, f16: 2, int8: 1 };
const U32_MAX = 0xffffffff;

// Typed-array views read the platform's byte order; the format is little-endian.
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** What {@link encodeShard} takes. */
export interface ShardInput {
  dtype: ShardDtype;
  dim: number;
  /** Internal index of the first row (1-based item indices; row i is item baseIndex + i). */
  baseIndex: number;
  /** External item id of each row. */
  ids: string[];
  /** (count, dim) row-major float32. int8 quantizes per row; f16 rounds to nearest even. */
  rows: Float32Array;
  /**
   * int8 only: scales per row (default 1), one for each of this many equal segments — an
   * ensemble's members, so each member keeps its own int8 range. More than 1 writes version 2.
   */
  segments?: number;
}

/** The fixed header of a shard, plus the total length it implies. */
export interface ShardHeader {
  version: number;
  dtype: ShardDtype;
  dim: number;
  count: number;
  baseIndex: number;
  idTableBytes: number;
  /** Scales per row (int8; 1 for version 1 and for f32/f16). */
  segments: number;
  /** Byte offset of the int8 scales (int8 only; otherwise where rows start). */
  scalesOffset: number;
  /** Byte offset of the first row value. */
  rowsOffset: number;
  /** Total shard length the header implies. */
  byteLength: number;
}

/**
 * A decoded shard. Exactly one of `f32`, `f16`, `int8` is set, by dtype; they (and `scales`)
 * are views into the input bytes when its alignment allows, else copies.
 */
export interface DecodedShard {
  version: number;
  dtype: ShardDtype;
  dim: number;
  count: number;
  baseIndex: number;
  ids: string[];
  /** Scales per row: 1, or an ensemble's members (int8, version 2); see the format above. */
  segments: number;
  /** int8 only: (count, segments) scales, one per row segment. */
  scales?: Float32Array;
  /** int8 only: (count, dim). */
  int8?: Int8Array;
  /** f16 only: (count, dim) IEEE binary16 bits. */
  f16?: Uint16Array;
  /** f32 only: (count, dim). */
  f32?: Float32Array;
}

function badFormat(message: string): LocalrecError {
  return new LocalrecError('bad-format', message);
}

function align4(n: number): number {
  return (n + 3) & ~3;
}

function isU32(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= U32_MAX;
}

/**
 * Builds one shard blob from float32 rows. Throws `bad-input` on inconsistent input.
 *
 * ```ts
 * import { encodeShard } from 'localrec/core';
 *
 * const rows = new Float32Array([0.1, -0.4, 0.3, 0.2, 0.5, 0.1]); // (count 2, dim 3)
 * const blob = encodeShard({ dtype: 'int8', dim: 3, baseIndex: 1, ids: ['50', '172'], rows });
 * ```
 */
export function encodeShard(input: ShardInput): Uint8Array {
  const { dtype, dim, baseIndex, ids, rows } = input;
  const code = DTYPE_CODES[dtype];
  if (code === undefined)
    throw new LocalrecError(
      'bad-input',
      `encodeShard: dtype must be one of ${DTYPE_NAMES.join(', ')}, got ${String(dtype)}`,
    );
  if (!isU32(dim) || dim < 1)
    throw new LocalrecError(
      'bad-input',
      `encodeShard: dim must be a positive 32-bit integer, got ${dim}`,
    );
  if (!isU32(baseIndex))
    throw new LocalrecError(
      'bad-input',
      `encodeShard: baseIndex must be a 32-bit unsigned integer, got ${baseIndex}`,
    );
  const segments = input.segments ?? 1;
  if (
    !Number.isInteger(segments) ||
    segments < 1 ||
    segments > MAX_SCALE_SEGMENTS ||
    dim % segments !== 0 ||
    (segments > 1 && dtype !== 'int8')
  )
    throw new LocalrecError(
      'bad-input',
      `encodeShard: segments must be an integer in 1..${MAX_SCALE_SEGMENTS} dividing dim ${dim}, and 1 unless dtype is int8; got ${String(segments)} for ${dtype}`,
    );
  const count = ids.length;
  if (rows.length !== count * dim) {
    throw new LocalrecError(
      'bad-input',
      `encodeShard: ${count} ids × dim ${dim} needs ${count * dim} row values, got ${rows.length}`,
    );
  }

  const { parts: idBytes, bytes: idTableBytes } = encodeIdTable(ids);
  const scalesOffset = align4(SHARD_HEADER_BYTES + idTableBytes);
  const rowsOffset = scalesOffset + (dtype === 'int8' ? 4 * count * segments : 0);
  const total = rowsOffset + count * dim * DTYPE_BYTES[dtype];
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);

  for (let i = 0; i < 4; i++) out[i] = SHARD_MAGIC.charCodeAt(i);
  view.setUint16(4, segments > 1 ? 2 : 1, true);
  view.setUint8(6, code);
  view.setUint8(7, segments > 1 ? segments : 0);
  view.setUint32(8, dim, true);
  view.setUint32(12, count, true);
  view.setUint32(16, baseIndex, true);
  view.setUint32(20, idTableBytes, true);
  writeIdTable(out, SHARD_HEADER_BYTES, idBytes);

  if (dtype === 'f32') {
    for (let i = 0; i < rows.length; i++) view.setFloat32(rowsOffset + 4 * i, rows[i]!, true);
  } else if (dtype === 'f16') {
    const h = float32ToFloat16(rows);
    for (let i = 0; i < h.length; i++) view.setUint16(rowsOffset + 2 * i, h[i]!, true);
  } else {
    // Row-major segments are contiguous: quantizing (count · S, dim / S) gives each its scale.
    const { q, scales } = quantizeRowsInt8(rows, count * segments, dim / segments);
    for (let i = 0; i < scales.length; i++) view.setFloat32(scalesOffset + 4 * i, scales[i]!, true);
    out.set(new Uint8Array(q.buffer, q.byteOffset, q.byteLength), rowsOffset);
  }
  return out;
}

/**
 * Reads and checks the fixed header: magic, version, dtype, flags, dim. Needs only the first
 * 24 bytes, so a loader can size a ranged download before fetching the rest.
 *
 * ```ts
 * import { readShardHeader, SHARD_HEADER_BYTES } from 'localrec/core';
 *
 * const headers = { Range: `bytes=0-${SHARD_HEADER_BYTES - 1}` };
 * const head = await fetch('https://recs.example/v1/blobs/SHARD_SHA256', { headers });
 * const { count, dim, byteLength } = readShardHeader(new Uint8Array(await head.arrayBuffer()));
 * ```
 */
export function readShardHeader(bytes: Uint8Array): ShardHeader {
  if (bytes.length < SHARD_HEADER_BYTES) {
    throw badFormat(
      `truncated shard: ${bytes.length} bytes is shorter than the ${SHARD_HEADER_BYTES}-byte header`,
    );
  }
  const magic = String.fromCharCode(bytes[0]!, bytes[1]!, bytes[2]!, bytes[3]!);
  if (magic !== SHARD_MAGIC) {
    const hex = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
    throw badFormat(
      `not a localrec embedding shard: magic ${JSON.stringify(magic)} (${hex}), expected "${SHARD_MAGIC}"`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint16(4, true);
  if (version !== 1 && version !== 2) {
    throw new LocalrecError(
      'unsupported-version',
      `embedding shard format version ${version} is not supported; this reader supports versions 1 and ${SHARD_VERSION} (update localrec, or re-export the shards)`,
    );
  }
  const code = view.getUint8(6);
  const dtype = DTYPE_NAMES[code];
  if (dtype === undefined)
    throw badFormat(`bad shard dtype code ${code}: expected 0 (f32), 1 (f16) or 2 (int8)`);
  const byte7 = view.getUint8(7);
  if (version === 1 && byte7 !== 0)
    throw badFormat(`bad shard flags 0x${byte7.toString(16)}: version 1 defines none`);
  const dim = view.getUint32(8, true);
  if (dim === 0) throw badFormat('bad shard: dim is 0');
  const segments = version === 1 ? 1 : byte7;
  if (version === 2 && (dtype !== 'int8' || segments < 2 || dim % segments !== 0))
    throw badFormat(
      `bad version 2 shard: ${segments} scale segments for a ${dtype} row of dim ${dim} (int8 only, 2..${MAX_SCALE_SEGMENTS}, dividing dim)`,
    );
  const count = view.getUint32(12, true);
  const baseIndex = view.getUint32(16, true);
  const idTableBytes = view.getUint32(20, true);
  // Each id needs at least its 2-byte length; a table too small for that cannot be right.
  if (idTableBytes < 2 * count)
    throw badFormat(`bad shard id table: ${idTableBytes} bytes cannot hold ${count} ids`);
  const scalesOffset = align4(SHARD_HEADER_BYTES + idTableBytes);
  const rowsOffset = scalesOffset + (dtype === 'int8' ? 4 * count * segments : 0);
  // Plain numbers: count * dim * 4 < 2^66 is not exact in a double, but any such value is
  // astronomically larger than a real blob, so the length check below still fails correctly.
  const byteLength = rowsOffset + count * dim * DTYPE_BYTES[dtype];
  return {
    version,
    dtype,
    dim,
    count,
    baseIndex,
    idTableBytes,
    segments,
    scalesOffset,
    rowsOffset,
    byteLength,
  };
}

/** A typed view at `offset` when aligned and little-endian, else a copy read through DataView. */
function f32At(bytes: Uint8Array, view: DataView, offset: number, n: number): Float32Array {
  const abs = bytes.byteOffset + offset;
  if (LITTLE_ENDIAN && abs % 4 === 0) return new Float32Array(bytes.buffer, abs, n);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = view.getFloat32(offset + 4 * i, true);
  return out;
}

function u16At(bytes: Uint8Array, view: DataView, offset: number, n: number): Uint16Array {
  const abs = bytes.byteOffset + offset;
  if (LITTLE_ENDIAN && abs % 2 === 0) return new Uint16Array(bytes.buffer, abs, n);
  const out = new Uint16Array(n);
  for (let i = 0; i < n; i++) out[i] = view.getUint16(offset + 2 * i, true);
  return out;
}

/**
 * Parses and validates a shard. Rows are not copied when the input's alignment allows
 * (an input starting on a 4-byte boundary always does). Throws `bad-format` for a malformed
 * blob and `unsupported-version` for a version other than 1 and 2.
 *
 * ```ts
 * import { decodeShard } from 'localrec/core';
 *
 * declare const blob: Uint8Array; // a shard whose sha256 checked out (see verifyBlob)
 * const { ids, dtype, dim } = decodeShard(blob); // row i is the embedding of item ids[i]
 * ```
 */
export function decodeShard(bytes: Uint8Array): DecodedShard {
  const h = readShardHeader(bytes);
  if (bytes.length < h.byteLength)
    throw badFormat(`truncated shard: header says ${h.byteLength} bytes, got ${bytes.length}`);
  if (bytes.length > h.byteLength)
    throw badFormat(`oversized shard: header says ${h.byteLength} bytes, got ${bytes.length}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);

  const ids = readIdTable(bytes, SHARD_HEADER_BYTES, h.count, h.idTableBytes);
  const tableEnd = SHARD_HEADER_BYTES + h.idTableBytes;
  for (let i = tableEnd; i < h.scalesOffset; i++) {
    if (bytes[i] !== 0) throw badFormat(`shard padding after the id table is not zero (byte ${i})`);
  }

  const n = h.count * h.dim;
  const out: DecodedShard = {
    version: h.version,
    dtype: h.dtype,
    dim: h.dim,
    count: h.count,
    baseIndex: h.baseIndex,
    ids,
    segments: h.segments,
  };
  if (h.dtype === 'f32') {
    out.f32 = f32At(bytes, view, h.rowsOffset, n);
  } else if (h.dtype === 'f16') {
    out.f16 = u16At(bytes, view, h.rowsOffset, n);
  } else {
    const scales = f32At(bytes, view, h.scalesOffset, h.count * h.segments);
    for (let i = 0; i < scales.length; i++) {
      const s = scales[i]!;
      if (!(Number.isFinite(s) && s > 0))
        throw badFormat(
          `shard scale of row ${Math.floor(i / h.segments)}${h.segments > 1 ? ` segment ${i % h.segments}` : ''} is ${s}; scales must be finite and positive`,
        );
    }
    out.scales = scales;
    out.int8 = new Int8Array(bytes.buffer, bytes.byteOffset + h.rowsOffset, n);
  }
  return out;
}

/**
 * The rows of a decoded shard as float32 (count, dim): the f32 view itself (no copy), or a
 * new array of the f16 values / the dequantized int8 values (q * its segment's scale).
 *
 * ```ts
 * import { decodeShard, shardRowsAsFloat32 } from 'localrec/core';
 *
 * declare const blob: Uint8Array;
 * const shard = decodeShard(blob);
 * const first = shardRowsAsFloat32(shard).subarray(0, shard.dim); // (dim) of item shard.ids[0]
 * ```
 */
export function shardRowsAsFloat32(s: DecodedShard): Float32Array {
  if (s.dtype === 'f32' && s.f32) return s.f32;
  if (s.dtype === 'f16' && s.f16) return float16ToFloat32(s.f16);
  if (s.dtype === 'int8' && s.int8 && s.scales) {
    const S = s.segments ?? 1;
    return dequantizeRowsInt8(s.int8, s.scales, s.count * S, s.dim / S);
  }
  throw new LocalrecError(
    'bad-input',
    `shardRowsAsFloat32: a ${s.dtype} shard without its ${s.dtype} rows`,
  );
}

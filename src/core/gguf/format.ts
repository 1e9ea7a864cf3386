/**
 * The GGUF file format (llama.cpp's model files), the parts localrec writes and checks: the
 * header, typed metadata, tensor descriptions and the aligned tensor data.
 *
 * Layout (little-endian throughout, version 3):
 *
 * ```
 * "GGUF"  uint32 version  uint64 tensor_count  uint64 metadata_kv_count
 * metadata_kv_count × { string key, uint32 value_type, value }
 * tensor_count      × { string name, uint32 n_dims, uint64 dims[n_dims], uint32 ggml_type,
 *                       uint64 offset }   // dims[0] is the innermost (contiguous) axis
 * padding to `general.alignment` (default 32)
 * tensor data: each tensor at data_start + offset, every offset a multiple of the alignment
 * ```
 *
 * A string is a uint64 byte length and UTF-8 bytes (no terminator); an array value is a uint32
 * item type, a uint64 count and the items.
 */

/** The file's first four bytes, "GGUF", as a little-endian uint32. */
export const GGUF_MAGIC = 0x46554747;
/** The version written; the reader also takes version 2 (same layout). */
export const GGUF_VERSION = 3;
/** `general.alignment` when the file does not say. */
export const GGUF_DEFAULT_ALIGNMENT = 32;

/** Metadata value types, by their wire code (gguf.h `gguf_type`). */
export const GGUF_VALUE_TYPES = [
  'uint8',
  'int8',
  'uint16',
  'int16',
  'uint32',
  'int32',
  'float32',
  'bool',
  'string',
  'array',
  'uint64',
  'int64',
  'float64',
] as const;
export type GgufValueType = (typeof GGUF_VALUE_TYPES)[number];
/** A type an array may hold (arrays of arrays are not used by llama.cpp's keys). */
export type GgufItemType = Exclude<GgufValueType, 'array'>;
export type GgufNumberType = Exclude<GgufItemType, 'bool' | 'string' | 'uint64' | 'int64'>;

/** One metadata value, tagged with its wire type so that writing it back gives the same bytes. */
export type GgufValue =
  | { type: GgufNumberType; value: number }
  | { type: 'uint64' | 'int64'; value: bigint }
  | { type: 'bool'; value: boolean }
  | { type: 'string'; value: string }
  | { type: 'array'; itemType: GgufNumberType; value: readonly number[] }
  | { type: 'array'; itemType: 'uint64' | 'int64'; value: readonly bigint[] }
  | { type: 'array'; itemType: 'bool'; value: readonly boolean[] }
  | { type: 'array'; itemType: 'string'; value: readonly string[] };

/** Byte size of each fixed-size scalar type. */
export const GGUF_SCALAR_BYTES: Readonly<Record<Exclude<GgufItemType, 'string'>, number>> = {
  uint8: 1,
  int8: 1,
  uint16: 2,
  int16: 2,
  uint32: 4,
  int32: 4,
  float32: 4,
  bool: 1,
  uint64: 8,
  int64: 8,
  float64: 8,
};

/**
 * Tensor element types by ggml code, with their block size (elements) and the bytes a block
 * takes (ggml.c `type_traits`). Only the types localrec checks are named; a file with another
 * type is still read, its data size just is not checked.
 */
export const GGML_TYPES: Readonly<Record<number, { name: string; block: number; bytes: number }>> =
  {
    0: { name: 'F32', block: 1, bytes: 4 },
    1: { name: 'F16', block: 1, bytes: 2 },
    2: { name: 'Q4_0', block: 32, bytes: 18 },
    3: { name: 'Q4_1', block: 32, bytes: 20 },
    8: { name: 'Q8_0', block: 32, bytes: 34 },
    30: { name: 'BF16', block: 1, bytes: 2 },
  };
export const GGML_TYPE_F32 = 0;
export const GGML_TYPE_F16 = 1;

/** One tensor's description in the header. */
export interface GgufTensorInfo {
  name: string;
  /** Innermost axis first, as ggml's `ne`: a (rows, cols) row-major matrix is `[cols, rows]`. */
  dims: number[];
  /** ggml type code ({@link GGML_TYPES}). */
  type: number;
  /** Byte offset of its data from the start of the data section. */
  offset: number;
}

/** Bytes a tensor's data takes, or undefined for a type not in {@link GGML_TYPES}. */
export function ggmlTensorBytes(type: number, dims: readonly number[]): number | undefined {
  const t = GGML_TYPES[type];
  if (!t) return undefined;
  const n = dims.reduce((a, b) => a * b, 1);
  return Math.ceil(n / t.block) * t.bytes;
}

/** `n` rounded up to a multiple of `alignment`. */
export function alignTo(n: number, alignment: number): number {
  return Math.ceil(n / alignment) * alignment;
}

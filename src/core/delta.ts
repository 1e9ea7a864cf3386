/**
 * The federated delta: what a browser posts to `POST /v1/rounds/{id}/updates`. A clipped model
 * update, quantized to int8 with one scale per parameter slice — and nothing else: no item ids,
 * events or timestamps (ARCHITECTURE.md, "Delta").
 *
 * Binary layout, little-endian, version 1:
 *
 * | offset   | size | field                                                                 |
 * |----------|------|-----------------------------------------------------------------------|
 * | 0        | 4    | magic `LRDU` (0x4c 0x52 0x44 0x55)                                    |
 * | 4        | 2    | format version, u16 = 1                                               |
 * | 6        | 2    | flags, u16 = 0 (reserved; anything else is rejected)                  |
 * | 8        | 4    | round id, u32 ≥ 1                                                     |
 * | 12       | 16   | update id: 16 random bytes chosen by the client, not all zero         |
 * | 28       | 4    | client clip norm, f32, finite and > 0: the L2 bound the client used   |
 * | 32       | 2    | slice count, u16 ≥ 1                                                  |
 * | 34       | 1    | base model version length L, 1..255                                   |
 * | 35       | L    | base model version, printable ASCII (0x21..0x7e)                      |
 * | 35+L     |      | slices, in order, each: slice index u16, reserved u16 = 0, value count |
 * |          |      | u32 ≥ 1, scale f32 (finite, ≥ 0), then `count` int8 values in −127..127 |
 * | end − 4  | 4    | CRC-32 (IEEE) of every byte before it                                 |
 *
 * The value of element i of a slice is `scale × q[i]`, evaluated in float64 (exact: a float32
 * times an int8 fits in float64's 53-bit mantissa). That dequantized value is what the server
 * checks (finite, L2 norm over all slices ≤ the round's clip bound) and adds into its sums.
 *
 * Over 400 lines: one wire format — its layout, encoder, strict decoder and quantizer together.
 */
import { toHex } from './blob.ts';
import { LocalrecError } from './errors.ts';

/** `LRDU` as a little-endian u32. */
const MAGIC = [0x4c, 0x52, 0x44, 0x55] as const;
/** The Content-Type of a delta post. */
export const DELTA_MEDIA_TYPE = 'application/octet-stream';
/** The one delta format version this code reads and writes. */
export const DELTA_FORMAT_VERSION = 1;
/** Bytes before the base version string. */
const FIXED_HEADER_BYTES = 35;
/** Per-slice header: index, reserved, count, scale. */
const SLICE_HEADER_BYTES = 12;
const CRC_BYTES = 4;
/** Bytes of an update id (32 hex characters). */
export const UPDATE_ID_BYTES = 16;
const UPDATE_ID_HEX = /^[0-9a-f]{32}$/;

/** One quantized parameter slice of a delta. */
export interface DeltaSlice {
  /** Position of this slice in the round's slice list. */
  index: number;
  /** Dequantized value = scale × value; float32 on the wire. */
  scale: number;
  /** (count) int8 values in −127..127. */
  values: Int8Array;
}

/** A decoded delta. */
export interface Delta {
  roundId: number;
  /** The model version the client trained from (the round's `baseModelVersion`). */
  baseVersion: string;
  /** 32 lowercase hex characters (16 bytes); the idempotency key. */
  updateId: string;
  /** The L2 bound the client clipped to (float32 on the wire). */
  clipNorm: number;
  slices: DeltaSlice[];
}

/** Limits a decoder enforces before it allocates anything. */
export interface DeltaLimits {
  /** Most slices accepted. Default 4096. */
  maxSlices?: number;
  /** The CRC-32 (IEEE) to check with; default {@link crc32} (the server passes node:zlib's). */
  crc32?: (bytes: Uint8Array) => number;
}

function bad(what: string): LocalrecError {
  return new LocalrecError('bad-format', `delta: ${what}`);
}

let crcTable: Uint32Array | undefined;

/** CRC-32 (IEEE 802.3, the zlib/PNG one) of `bytes`. */
export function crc32(bytes: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  const t = crcTable;
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = t[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/**
 * A fresh random update id (32 hex characters); a retry under the same id is counted once.
 *
 * ```ts
 * import { randomUpdateId } from 'localrec/core';
 *
 * const updateId = randomUpdateId(); // keep it with the queued update, for its retries
 * ```
 */
export function randomUpdateId(): string {
  const b = new Uint8Array(UPDATE_ID_BYTES);
  globalThis.crypto.getRandomValues(b);
  if (b.every((x) => x === 0)) b[0] = 1;
  return toHex(b);
}

function isPrintableAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

/**
 * Encoded size of a delta with this base version and these slice lengths, known before training.
 *
 * ```ts
 * import { deltaByteLength } from 'localrec/core';
 *
 * const bytes = deltaByteLength('ml100k-v3', [64 * 1683, 64]); // an embedding table and a bias
 * ```
 */
export function deltaByteLength(baseVersion: string, sliceLengths: readonly number[]): number {
  let n = FIXED_HEADER_BYTES + baseVersion.length + CRC_BYTES;
  for (const len of sliceLengths) n += SLICE_HEADER_BYTES + len;
  return n;
}

/**
 * Encodes a delta. Validates what the decoder would reject, so a client cannot build a delta
 * the server must refuse for its form (it can still exceed a round's norm or shapes).
 *
 * ```ts
 * import type { Recommender } from 'localrec';
 * import { encodeDelta, type Delta } from 'localrec/core';
 *
 * declare const recs: Recommender, delta: Delta; // delta: see quantizeDelta
 * await recs.contribute(encodeDelta(delta)); // queued in the visitor's outbox, posted when online
 * ```
 */
export function encodeDelta(d: Delta): Uint8Array {
  if (!Number.isInteger(d.roundId) || d.roundId < 1 || d.roundId > 0xffffffff)
    throw new LocalrecError('bad-input', `delta: round id must be a u32 ≥ 1, got ${d.roundId}`);
  if (!UPDATE_ID_HEX.test(d.updateId) || /^0+$/.test(d.updateId))
    throw new LocalrecError(
      'bad-input',
      'delta: update id must be 32 lowercase hex characters, not all zero',
    );
  if (d.baseVersion.length < 1 || d.baseVersion.length > 255 || !isPrintableAscii(d.baseVersion)) {
    throw new LocalrecError(
      'bad-input',
      'delta: base version must be 1..255 printable ASCII characters',
    );
  }
  const clip = Math.fround(d.clipNorm);
  if (!Number.isFinite(clip) || clip <= 0)
    throw new LocalrecError(
      'bad-input',
      `delta: clip norm must be finite and > 0, got ${d.clipNorm}`,
    );
  if (d.slices.length < 1 || d.slices.length > 0xffff)
    throw new LocalrecError('bad-input', `delta: 1..65535 slices, got ${d.slices.length}`);

  const out = new Uint8Array(
    deltaByteLength(
      d.baseVersion,
      d.slices.map((s) => s.values.length),
    ),
  );
  const dv = new DataView(out.buffer);
  out.set(MAGIC, 0);
  dv.setUint16(4, DELTA_FORMAT_VERSION, true);
  dv.setUint16(6, 0, true);
  dv.setUint32(8, d.roundId, true);
  for (let i = 0; i < UPDATE_ID_BYTES; i++)
    out[12 + i] = parseInt(d.updateId.slice(2 * i, 2 * i + 2), 16);
  dv.setFloat32(28, clip, true);
  dv.setUint16(32, d.slices.length, true);
  out[34] = d.baseVersion.length;
  for (let i = 0; i < d.baseVersion.length; i++) out[35 + i] = d.baseVersion.charCodeAt(i);
  let at = FIXED_HEADER_BYTES + d.baseVersion.length;
  for (const s of d.slices) {
    const scale = Math.fround(s.scale);
    if (!Number.isInteger(s.index) || s.index < 0 || s.index > 0xffff)
      throw new LocalrecError('bad-input', `delta: slice index ${s.index} is not a u16`);
    if (s.values.length < 1) throw new LocalrecError('bad-input', 'delta: a slice is empty');
    if (!Number.isFinite(scale) || scale < 0)
      throw new LocalrecError('bad-input', `delta: slice ${s.index} scale must be finite and ≥ 0`);
    if (s.values.includes(-128))
      throw new LocalrecError('bad-input', `delta: slice ${s.index} holds −128 (use −127..127)`);
    dv.setUint16(at, s.index, true);
    dv.setUint16(at + 2, 0, true);
    dv.setUint32(at + 4, s.values.length, true);
    dv.setFloat32(at + 8, scale, true);
    at += SLICE_HEADER_BYTES;
    out.set(new Uint8Array(s.values.buffer, s.values.byteOffset, s.values.length), at);
    at += s.values.length;
  }
  dv.setUint32(at, crc32(out.subarray(0, at)), true);
  return out;
}

/**
 * Decodes a delta strictly: every field is checked and the first thing wrong is named.
 *
 * ```ts
 * import { decodeDelta, deltaNorm } from 'localrec/core';
 *
 * declare const body: Uint8Array; // a POST /v1/rounds/:id/updates body
 * const delta = decodeDelta(body, { maxSlices: 64 });
 * const withinBound = deltaNorm(delta) <= 1; // the round's clipNorm
 * ```
 *
 * @throws LocalrecError `unsupported-version` for a format version other than 1; `bad-format`
 *   for a wrong magic, a truncated or overlong body, a checksum mismatch, a reserved field that
 *   is not zero, a non-finite or negative scale or clip norm, a −128 value, or slices out of order.
 */
export function decodeDelta(bytes: Uint8Array, limits: DeltaLimits = {}): Delta {
  const maxSlices = limits.maxSlices ?? 4096;
  if (bytes.length < 8) throw bad(`truncated: ${bytes.length} bytes is shorter than the header`);
  for (let i = 0; i < 4; i++)
    if (bytes[i] !== MAGIC[i]) throw bad('wrong magic (not a localrec delta; expected "LRDU")');
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = dv.getUint16(4, true);
  if (version !== DELTA_FORMAT_VERSION) {
    throw new LocalrecError(
      'unsupported-version',
      `delta: format version ${version} is not one this server reads (${DELTA_FORMAT_VERSION})`,
    );
  }
  if (bytes.length < FIXED_HEADER_BYTES + 1 + SLICE_HEADER_BYTES + 1 + CRC_BYTES)
    throw bad(`truncated: ${bytes.length} bytes cannot hold a header, one slice and a checksum`);
  const end = bytes.length - CRC_BYTES;
  const crc = dv.getUint32(end, true);
  if ((limits.crc32 ?? crc32)(bytes.subarray(0, end)) !== crc)
    throw bad('checksum mismatch: the body was truncated or corrupted in transit');
  if (dv.getUint16(6, true) !== 0) throw bad('flags must be 0 in format version 1');
  const roundId = dv.getUint32(8, true);
  if (roundId === 0) throw bad('round id 0 is not a round');
  const idBytes = bytes.subarray(12, 12 + UPDATE_ID_BYTES);
  if (idBytes.every((b) => b === 0)) throw bad('update id is all zero');
  const clipNorm = dv.getFloat32(28, true);
  if (!Number.isFinite(clipNorm) || clipNorm <= 0)
    throw bad(`client clip norm must be finite and > 0, got ${clipNorm}`);
  const sliceCount = dv.getUint16(32, true);
  if (sliceCount < 1) throw bad('no slices');
  if (sliceCount > maxSlices) throw bad(`${sliceCount} slices; at most ${maxSlices} are accepted`);
  const vlen = bytes[34]!;
  if (vlen < 1) throw bad('base model version is empty');
  if (FIXED_HEADER_BYTES + vlen > end) throw bad('truncated inside the base model version');
  let baseVersion = '';
  for (let i = 0; i < vlen; i++) {
    const c = bytes[35 + i]!;
    if (c < 0x21 || c > 0x7e) throw bad('base model version is not printable ASCII');
    baseVersion += String.fromCharCode(c);
  }
  let at = FIXED_HEADER_BYTES + vlen;
  const slices: DeltaSlice[] = [];
  for (let s = 0; s < sliceCount; s++) {
    if (at + SLICE_HEADER_BYTES > end) throw bad(`truncated in the header of slice ${s}`);
    const index = dv.getUint16(at, true);
    if (dv.getUint16(at + 2, true) !== 0) throw bad(`slice ${s}: reserved field must be 0`);
    const count = dv.getUint32(at + 4, true);
    const scale = dv.getFloat32(at + 8, true);
    at += SLICE_HEADER_BYTES;
    if (slices.length > 0 && index <= slices[slices.length - 1]!.index)
      throw bad(
        `slice indices must increase; ${index} follows ${slices[slices.length - 1]!.index}`,
      );
    if (count < 1) throw bad(`slice ${index} is empty`);
    if (count > end - at)
      throw bad(`truncated: slice ${index} claims ${count} values, ${end - at} bytes remain`);
    if (!Number.isFinite(scale) || scale < 0)
      throw bad(`slice ${index}: scale must be finite and ≥ 0, got ${scale}`);
    const values = new Int8Array(bytes.buffer, bytes.byteOffset + at, count);
    if (values.includes(-128)) throw bad(`slice ${index} holds −128; values are −127..127`);
    slices.push({ index, scale, values });
    at += count;
  }
  if (at !== end) throw bad(`${end - at} unexpected bytes after the last slice`);
  return { roundId, baseVersion, updateId: toHex(idBytes), clipNorm, slices };
}

/**
 * Number of values in a delta.
 *
 * ```ts
 * import { deltaLength, type Delta } from 'localrec/core';
 *
 * declare const delta: Delta, roundValues: number; // the sum of the round's slice sizes
 * if (deltaLength(delta) !== roundValues) throw new Error("not the round's shapes");
 * ```
 */
export function deltaLength(d: Delta): number {
  let n = 0;
  for (const s of d.slices) n += s.values.length;
  return n;
}

/**
 * The L2 norm of the dequantized values, in float64 (what the server holds to the clip bound).
 *
 * ```ts
 * import { deltaNorm, quantizeDelta } from 'localrec/core';
 *
 * const slices = [new Float32Array([3, 4])]; // norm 5
 * deltaNorm(quantizeDelta({ roundId: 1, baseVersion: 'v1', clipNorm: 1, slices })); // ≤ 1
 * ```
 */
export function deltaNorm(d: Delta): number {
  let sq = 0;
  for (const s of d.slices) {
    let q2 = 0;
    for (let i = 0; i < s.values.length; i++) q2 += s.values[i]! * s.values[i]!;
    // Σ(scale·q)² = scale²·Σq²; Σq² is an exact integer (at most 127²·2³²), so this is exact up to one rounding.
    sq += s.scale * s.scale * q2;
  }
  return Math.sqrt(sq);
}

/**
 * Adds the dequantized values (scale × q, in float64) of `d` into `sums`, which holds every
 * slice of the round concatenated in order.
 */
export function addDequantized(d: Delta, sums: Float64Array, offsets: readonly number[]): void {
  for (const s of d.slices) {
    const off = offsets[s.index]!;
    const { scale, values } = s;
    for (let i = 0; i < values.length; i++) sums[off + i]! += scale * values[i]!;
  }
}

/** Options of {@link quantizeDelta}. */
export interface QuantizeDeltaInput {
  roundId: number;
  baseVersion: string;
  /** Default: a fresh random id. */
  updateId?: string;
  /** The bound to clip to (the round's `clipNorm`). */
  clipNorm: number;
  /** One float array per round slice, in the round's order. */
  slices: readonly Float32Array[];
}

/**
 * Clips `slices` to L2 norm `clipNorm` and quantizes them to int8 with one scale per slice
 * (max |x| / 127, rounded to float32). Guarantees that the norm of the dequantized result —
 * what the server checks — is ≤ clipNorm, shrinking the scales if rounding pushed it over.
 *
 * ```ts
 * import { encodeDelta, quantizeDelta } from 'localrec/core';
 *
 * // The round from GET /v1/rounds/current; one array per round slice from your training step.
 * declare const round: { id: number; baseModelVersion: string; clipNorm: number };
 * declare const slices: Float32Array[];
 * const { id: roundId, baseModelVersion: baseVersion, clipNorm } = round;
 * const body = encodeDelta(quantizeDelta({ roundId, baseVersion, clipNorm, slices }));
 * ```
 */
export function quantizeDelta(input: QuantizeDeltaInput): Delta {
  let sq = 0;
  for (const s of input.slices)
    for (let i = 0; i < s.length; i++) {
      const x = s[i]!;
      if (!Number.isFinite(x)) throw new LocalrecError('bad-input', 'delta: a value is not finite');
      sq += x * x;
    }
  const norm = Math.sqrt(sq);
  const factor = norm > input.clipNorm ? input.clipNorm / norm : 1;
  const slices: DeltaSlice[] = input.slices.map((s, index) => {
    let max = 0;
    for (let i = 0; i < s.length; i++) max = Math.max(max, Math.abs(s[i]! * factor));
    const scale = max > 0 ? Math.fround(max / 127) : 0;
    const values = new Int8Array(s.length);
    if (scale > 0)
      for (let i = 0; i < s.length; i++)
        values[i] = Math.max(-127, Math.min(127, Math.round((s[i]! * factor) / scale)));
    return { index, scale, values };
  });
  const d: Delta = {
    roundId: input.roundId,
    baseVersion: input.baseVersion,
    updateId: input.updateId ?? randomUpdateId(),
    clipNorm: Math.fround(input.clipNorm),
    slices,
  };
  // Rounding to the nearest step can add up to half a step per value; pull the scales in until
  // the dequantized norm is within the bound.
  for (let tries = 0; deltaNorm(d) > input.clipNorm && tries < 64; tries++) {
    const shrink = (input.clipNorm / deltaNorm(d)) * (1 - 1e-7);
    for (const s of d.slices) s.scale = Math.fround(s.scale * shrink);
  }
  return d;
}

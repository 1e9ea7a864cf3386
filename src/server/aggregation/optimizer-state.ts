/**
 * A server optimizer's state as bytes, so it survives a restart beside the version it produced.
 *
 * Layout, little-endian, version 1:
 *
 * | offset | size  | field                                                               |
 * |--------|-------|---------------------------------------------------------------------|
 * | 0      | 4     | magic `LRSO`                                                        |
 * | 4      | 2     | format version, u16 = 1                                             |
 * | 6      | 2     | reserved, u16 = 0                                                   |
 * | 8      | 4     | header length H, u32                                                |
 * | 12     | H     | header, UTF-8 JSON: `{"kind","steps","slices":[{"name","shape"}]}`  |
 * | 12+H   | 8·P·A | A float64 arrays of P values (P = the slices' total; sgd A = 0,      |
 * |        |       | fedadam A = 2: m then v)                                            |
 * | end−4  | 4     | CRC-32 (IEEE) of every byte before it                               |
 *
 * The slices are the parameter set of the round spec the state was built for: moments of one
 * parameter set mean nothing for another, so loading checks them (see {@link checkStateSlices}).
 */
import { crc32 } from '../../core/delta.ts';
import { LocalrecError } from '../../core/errors.ts';
import { sliceOffsets, type SliceSpec } from '../store/round-store.ts';

/** The server optimizers. */
export type ServerOptimizerKind = 'sgd' | 'fedadam';

/** Arrays each kind keeps, in order. */
export const STATE_ARRAYS: Record<ServerOptimizerKind, number> = { sgd: 0, fedadam: 2 };

/** A decoded optimizer state. */
export interface OptimizerState {
  kind: ServerOptimizerKind;
  /** Rounds applied so far. */
  steps: number;
  slices: SliceSpec[];
  /** `STATE_ARRAYS[kind]` arrays of the slices' total length. */
  arrays: Float64Array[];
}

const MAGIC = [0x4c, 0x52, 0x53, 0x4f] as const; // LRSO
const VERSION = 1;
const FIXED = 12;
const CRC_BYTES = 4;

function bad(what: string, cause?: unknown): LocalrecError {
  return new LocalrecError('bad-format', `optimizer state: ${what}`, { cause });
}

/** The state as bytes. */
export function encodeOptimizerState(state: OptimizerState): Uint8Array {
  const header = new TextEncoder().encode(
    JSON.stringify({
      kind: state.kind,
      steps: state.steps,
      slices: state.slices.map((s) => ({ name: s.name, shape: s.shape })),
    }),
  );
  const values = state.arrays.reduce((a, x) => a + x.length, 0);
  const out = new Uint8Array(FIXED + header.length + 8 * values + CRC_BYTES);
  const dv = new DataView(out.buffer);
  out.set(MAGIC, 0);
  dv.setUint16(4, VERSION, true);
  dv.setUint16(6, 0, true);
  dv.setUint32(8, header.length, true);
  out.set(header, FIXED);
  let at = FIXED + header.length;
  for (const a of state.arrays)
    for (let i = 0; i < a.length; i++, at += 8) dv.setFloat64(at, a[i]!, true);
  dv.setUint32(at, crc32(out.subarray(0, at)), true);
  return out;
}

function isSlice(s: unknown): s is SliceSpec {
  const x = s as SliceSpec;
  return (
    typeof x === 'object' &&
    x !== null &&
    typeof x.name === 'string' &&
    Array.isArray(x.shape) &&
    x.shape.length >= 1 &&
    x.shape.every((d) => Number.isInteger(d) && d >= 1)
  );
}

/**
 * Reads bytes from {@link encodeOptimizerState}.
 *
 * @throws LocalrecError `bad-format` for a wrong magic, a truncated or corrupted file (CRC), a
 *   malformed header or arrays of the wrong size; `unsupported-version` for another version.
 */
export function decodeOptimizerState(bytes: Uint8Array): OptimizerState {
  if (bytes.length < FIXED + CRC_BYTES) throw bad(`${bytes.length} bytes is too short`);
  if (MAGIC.some((m, i) => bytes[i] !== m)) throw bad('not a localrec optimizer state (magic)');
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const end = bytes.length - CRC_BYTES;
  if (crc32(bytes.subarray(0, end)) !== dv.getUint32(end, true))
    throw bad('the CRC does not match: the file is truncated or corrupted');
  const version = dv.getUint16(4, true);
  if (version !== VERSION)
    throw new LocalrecError(
      'unsupported-version',
      `optimizer state: format version ${version}; this code reads version ${VERSION}`,
    );
  const headerLength = dv.getUint32(8, true);
  if (FIXED + headerLength > end) throw bad('the header runs past the end');
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(FIXED, FIXED + headerLength)));
  } catch (e) {
    throw bad('the header is not JSON', e);
  }
  const h = header as Partial<OptimizerState>;
  if (typeof h !== 'object' || h === null || !(h.kind === 'sgd' || h.kind === 'fedadam'))
    throw bad(`unknown optimizer kind ${JSON.stringify(h?.kind)}`);
  if (!(Number.isInteger(h.steps) && h.steps! >= 0)) throw bad('steps must be an integer ≥ 0');
  if (!Array.isArray(h.slices) || h.slices.length < 1 || !h.slices.every(isSlice))
    throw bad('slices must be a list of {name, shape}');
  const slices = h.slices.map((s) => ({ name: s.name, shape: [...s.shape] }));
  const length = sliceOffsets(slices).at(-1)!;
  const count = STATE_ARRAYS[h.kind];
  let at = FIXED + headerLength;
  if (end - at !== 8 * length * count)
    throw bad(`${end - at} bytes of arrays, expected ${8 * length * count}`);
  const arrays: Float64Array[] = [];
  for (let a = 0; a < count; a++) {
    const x = new Float64Array(length);
    for (let i = 0; i < length; i++, at += 8) x[i] = dv.getFloat64(at, true);
    arrays.push(x);
  }
  return { kind: h.kind, steps: h.steps!, slices, arrays };
}

const shapeText = (s: SliceSpec): string => s.shape.join('x');

/**
 * Checks that a loaded state belongs to the round's parameter set: the same slices, names and
 * shapes, in the same order.
 *
 * @throws LocalrecError `bad-input` naming the first difference.
 */
export function checkStateSlices(state: readonly SliceSpec[], round: readonly SliceSpec[]): void {
  const fix =
    'the state belongs to another parameter set; start the optimizer afresh (without the ' +
    'state) when the parameter set changes';
  if (state.length !== round.length)
    throw new LocalrecError(
      'bad-input',
      `optimizer state: it has ${state.length} slices, the round has ${round.length}; ${fix}`,
    );
  state.forEach((s, i) => {
    const r = round[i]!;
    if (s.name !== r.name || shapeText(s) !== shapeText(r))
      throw new LocalrecError(
        'bad-input',
        `optimizer state: slice ${i} is '${s.name}' of shape ${shapeText(s)} in the state but ` +
          `'${r.name}' of shape ${shapeText(r)} in the round; ${fix}`,
      );
  });
}

import { LocalrecError } from '../src/core/errors.ts';
import type { WeightArrays } from './weights.ts';

/**
 * A checkpoint: little-endian, "LRCK" magic, u32 version, u32 JSON header length, the JSON
 * header ({ model, config, meta, tensors: [{ name, shape, offset }] }), zero padding to a
 * multiple of 4, then every tensor's float32 data. Pure: bytes in, bytes out.
 */
export const CHECKPOINT_VERSION = 1;
const MAGIC = 0x4b43524c; // "LRCK" read as little-endian u32

export interface Checkpoint<C = unknown> {
  model: string;
  config: C;
  /** Free-form facts about how it was trained (epochs, metrics, item ids, ...). */
  meta: Record<string, unknown>;
  weights: WeightArrays;
}

interface Header {
  model: string;
  config: unknown;
  meta: Record<string, unknown>;
  tensors: { name: string; shape: number[]; offset: number }[];
}

export function encodeCheckpoint(ck: Checkpoint): Uint8Array {
  const tensors: Header['tensors'] = [];
  let offset = 0;
  for (const [name, a] of Object.entries(ck.weights)) {
    const n = a.shape.reduce((x, y) => x * y, 1);
    if (n !== a.data.length) {
      throw new LocalrecError(
        'bad-input',
        `checkpoint tensor ${name}: shape ${a.shape} has ${n} values, data has ${a.data.length}`,
      );
    }
    tensors.push({ name, shape: a.shape, offset });
    offset += n * 4;
  }
  const json = new TextEncoder().encode(
    JSON.stringify({ model: ck.model, config: ck.config, meta: ck.meta, tensors }),
  );
  const dataStart = Math.ceil((12 + json.length) / 4) * 4;
  const out = new Uint8Array(dataStart + offset);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, MAGIC, true);
  dv.setUint32(4, CHECKPOINT_VERSION, true);
  dv.setUint32(8, json.length, true);
  out.set(json, 12);
  const f32 = new Float32Array(out.buffer, dataStart, offset / 4);
  for (const t of tensors) f32.set(ck.weights[t.name]!.data, t.offset / 4);
  return out;
}

export function decodeCheckpoint<C = unknown>(
  bytes: Uint8Array,
  source = 'checkpoint',
): Checkpoint<C> {
  const fail = (code: 'bad-format' | 'unsupported-version', m: string): never => {
    throw new LocalrecError(code, `${source}: ${m}`);
  };
  if (bytes.length < 12)
    fail('bad-format', `too short to be a localrec checkpoint (${bytes.length} bytes)`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dv.getUint32(0, true) !== MAGIC)
    fail('bad-format', 'not a localrec checkpoint (magic is not LRCK)');
  const version = dv.getUint32(4, true);
  if (version !== CHECKPOINT_VERSION) {
    fail(
      'unsupported-version',
      `checkpoint version ${version}; this build reads version ${CHECKPOINT_VERSION}`,
    );
  }
  const jsonLen = dv.getUint32(8, true);
  if (12 + jsonLen > bytes.length) fail('bad-format', 'truncated header');
  let header: Header;
  try {
    header = JSON.parse(
      new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(12, 12 + jsonLen)),
    ) as Header;
  } catch (e) {
    return fail('bad-format', `header is not valid JSON (${(e as Error).message})`);
  }
  const dataStart = Math.ceil((12 + jsonLen) / 4) * 4;
  // Copy once into a fresh buffer so the float views are aligned and start at offset 0.
  // (Not bytes.slice(): on a Node Buffer that is a view into a shared pool.)
  const data = new Uint8Array(bytes.subarray(dataStart));
  const weights: WeightArrays = {};
  for (const t of header.tensors ?? []) {
    const n = t.shape.reduce((x, y) => x * y, 1);
    if (t.offset % 4 !== 0 || t.offset + n * 4 > data.length) {
      fail('bad-format', `tensor ${t.name} lies outside the data (truncated file?)`);
    }
    weights[t.name] = { data: new Float32Array(data.buffer, t.offset, n), shape: t.shape };
  }
  return { model: header.model, config: header.config as C, meta: header.meta ?? {}, weights };
}

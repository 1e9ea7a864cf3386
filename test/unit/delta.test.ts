import { describe, expect, it } from 'vitest';
import {
  addDequantized,
  crc32,
  decodeDelta,
  deltaByteLength,
  deltaNorm,
  encodeDelta,
  quantizeDelta,
  randomUpdateId,
  type Delta,
} from '../../src/core/delta.ts';
import { isLocalrecError } from '../../src/core/errors.ts';

function sample(): Delta {
  return {
    roundId: 7,
    baseVersion: '2026-11-22T08:00:00Z-abcd1234',
    updateId: '0123456789abcdef0123456789abcdef',
    clipNorm: 1.5,
    slices: [
      { index: 0, scale: 0.25, values: Int8Array.from([1, -2, 3, 127, -127, 0]) },
      { index: 1, scale: 0.5, values: Int8Array.from([4]) },
    ],
  };
}

function errorOf(f: () => unknown): { code: string; message: string } {
  try {
    f();
  } catch (e) {
    if (isLocalrecError(e)) return { code: e.code, message: e.message };
    return { code: `not a LocalrecError: ${String(e)}`, message: '' };
  }
  return { code: 'no error', message: '' };
}

/** Rewrites the trailing CRC so a deliberately changed field is what the decoder sees. */
function reseal(b: Uint8Array): Uint8Array {
  new DataView(b.buffer, b.byteOffset).setUint32(
    b.length - 4,
    crc32(b.subarray(0, b.length - 4)),
    true,
  );
  return b;
}

describe('delta codec', () => {
  it('round-trips every field and has the documented size', () => {
    const d = sample();
    const bytes = encodeDelta(d);
    expect(bytes.length).toBe(deltaByteLength(d.baseVersion, [6, 1]));
    expect(Array.from(bytes.subarray(0, 4))).toEqual([0x4c, 0x52, 0x44, 0x55]);
    const back = decodeDelta(bytes);
    expect(back.roundId).toBe(7);
    expect(back.baseVersion).toBe(d.baseVersion);
    expect(back.updateId).toBe(d.updateId);
    expect(back.clipNorm).toBe(1.5);
    expect(back.slices.map((s) => [s.index, s.scale, Array.from(s.values)])).toEqual([
      [0, 0.25, [1, -2, 3, 127, -127, 0]],
      [1, 0.5, [4]],
    ]);
  });

  it('crc32 matches the standard check value', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
  });

  it.each([
    ['wrong magic', (b: Uint8Array) => ((b[0] = 0x58), b), 'bad-format', /magic/],
    ['an unknown version', (b: Uint8Array) => ((b[4] = 2), b), 'unsupported-version', /version 2/],
    ['a flipped value bit', (b: Uint8Array) => ((b[70]! ^= 0x10), b), 'bad-format', /checksum/],
    [
      'a truncated body',
      (b: Uint8Array) => b.subarray(0, b.length - 3),
      'bad-format',
      /checksum|truncated/,
    ],
    ['a short header', (b: Uint8Array) => b.subarray(0, 6), 'bad-format', /truncated/],
    ['non-zero flags', (b: Uint8Array) => reseal(((b[6] = 1), b)), 'bad-format', /flags/],
    ['round id 0', (b: Uint8Array) => reseal((b.fill(0, 8, 12), b)), 'bad-format', /round id 0/],
    [
      'an all-zero update id',
      (b: Uint8Array) => reseal((b.fill(0, 12, 28), b)),
      'bad-format',
      /update id/,
    ],
    [
      'a NaN clip norm',
      (b: Uint8Array) => reseal((new DataView(b.buffer).setFloat32(28, NaN, true), b)),
      'bad-format',
      /clip norm/,
    ],
    [
      'an infinite scale',
      (b: Uint8Array) =>
        reseal((new DataView(b.buffer).setFloat32(35 + 29 + 8, Infinity, true), b)),
      'bad-format',
      /scale/,
    ],
    [
      'a −128 value',
      (b: Uint8Array) => reseal(((b[35 + 29 + 12] = 0x80), b)),
      'bad-format',
      /−128/,
    ],
    [
      'a slice claiming more values than sent',
      (b: Uint8Array) => reseal((new DataView(b.buffer).setUint32(35 + 29 + 4, 999, true), b)),
      'bad-format',
      /truncated|claims/,
    ],
  ])('rejects %s', (_what, mutate, code, message) => {
    const bytes = mutate(encodeDelta(sample()).slice());
    const e = errorOf(() => decodeDelta(bytes));
    expect(e.code).toBe(code);
    expect(e.message).toMatch(message);
  });

  it('rejects bytes after the last slice and slices out of order', () => {
    const good = encodeDelta(sample());
    const longer = new Uint8Array(good.length + 1);
    longer.set(good.subarray(0, good.length - 4));
    expect(errorOf(() => decodeDelta(reseal(longer))).message).toMatch(
      /unexpected bytes|truncated/,
    );
    const d = sample();
    d.slices[1]!.index = 0;
    expect(
      errorOf(() => decodeDelta(reseal(encodeDelta({ ...d, slices: d.slices }).slice()))).message,
    ).toMatch(/increase/);
  });

  it('refuses to encode what the decoder would reject', () => {
    expect(errorOf(() => encodeDelta({ ...sample(), updateId: 'xyz' })).code).toBe('bad-input');
    expect(errorOf(() => encodeDelta({ ...sample(), clipNorm: Infinity })).code).toBe('bad-input');
    expect(errorOf(() => encodeDelta({ ...sample(), baseVersion: 'has space' })).code).toBe(
      'bad-input',
    );
  });

  it('quantizes within the clip bound and dequantizes exactly as scale × q in float64', () => {
    const a = Float32Array.from({ length: 100 }, (_, i) => Math.sin(i) * 3);
    const b = Float32Array.from({ length: 10 }, (_, i) => i - 5);
    for (const clip of [0.1, 1, 1e3]) {
      const d = quantizeDelta({ roundId: 1, baseVersion: 'v1', clipNorm: clip, slices: [a, b] });
      expect(deltaNorm(d)).toBeLessThanOrEqual(clip);
      const back = decodeDelta(encodeDelta(d));
      const sums = new Float64Array(110);
      addDequantized(back, sums, [0, 100]);
      expect(sums[3]).toBe(back.slices[0]!.scale * back.slices[0]!.values[3]!);
      expect(sums[105]).toBe(back.slices[1]!.scale * back.slices[1]!.values[5]!);
    }
    // An unclipped small delta keeps its shape: the largest value maps to ±127.
    const d = quantizeDelta({ roundId: 1, baseVersion: 'v1', clipNorm: 100, slices: [b] });
    expect(Math.max(...Array.from(d.slices[0]!.values, Math.abs))).toBe(127);
    expect(randomUpdateId()).toMatch(/^[0-9a-f]{32}$/);
  });
});

import { describe, expect, it } from 'vitest';
import {
  dequantizeColumnsInt8,
  dequantizeInt4,
  dequantizeRowsInt8,
  float16ToFloat32,
  float32ToFloat16,
  fromFloat16Bits,
  packInt4,
  quantizeColumnsInt8,
  quantizeInt4,
  quantizeRowsInt8,
  toFloat16Bits,
  unpackInt4,
} from '../../src/core/quantize.ts';
import { Rng } from '../../src/core/random.ts';
import { isLocalrecError } from '../../src/core/errors.ts';

function randomMatrix(rows: number, cols: number, seed: number, spread = 1): Float32Array {
  const rng = new Rng(seed);
  const out = new Float32Array(rows * cols);
  // Rows of very different magnitudes, so per-row/per-column scales matter.
  for (let r = 0; r < rows; r++) {
    const mag = spread ** (rng.next() * 2 - 1);
    for (let c = 0; c < cols; c++) out[r * cols + c] = (rng.next() * 2 - 1) * mag;
  }
  return out;
}

/** Half a quantization step, plus the float32 rounding of q * scale (≤ 127 · 2^-24 · scale). */
const bound = (scale: number) => scale / 2 + scale * 1e-5;

describe('int8 per row', () => {
  it('round-trips within half a step, with scale = max|row| / 127', () => {
    const rows = 37;
    const cols = 19;
    const x = randomMatrix(rows, cols, 1, 1000);
    const { q, scales } = quantizeRowsInt8(x, rows, cols);
    const y = dequantizeRowsInt8(q, scales, rows, cols);
    for (let r = 0; r < rows; r++) {
      const row = x.subarray(r * cols, (r + 1) * cols);
      const maxAbs = Math.max(...Array.from(row, Math.abs));
      expect(scales[r]).toBe(Math.fround(maxAbs / 127));
      // The largest magnitude maps to ±127 exactly.
      expect(Math.max(...Array.from(q.subarray(r * cols, (r + 1) * cols), Math.abs))).toBe(127);
      for (let c = 0; c < cols; c++) {
        expect(Math.abs(x[r * cols + c]! - y[r * cols + c]!)).toBeLessThanOrEqual(
          bound(scales[r]!),
        );
      }
    }
  });

  it('gives zero rows scale 1 and exact zeros back', () => {
    const x = new Float32Array([0, 0, 0, 1, -2, 0.5, -0, 0, 0]);
    const { q, scales } = quantizeRowsInt8(x, 3, 3);
    expect(Array.from(scales)).toEqual([1, Math.fround(2 / 127), 1]);
    const y = dequantizeRowsInt8(q, scales, 3, 3);
    expect(Array.from(y.subarray(0, 3))).toEqual([0, 0, 0]);
    expect(Array.from(y.subarray(6, 9)).map(Math.abs)).toEqual([0, 0, 0]);
    expect(Array.from(q.subarray(3, 6))).toEqual([64, -127, 32]); // 63.5 rounds half to even → 64
  });

  it('handles extreme magnitudes without overflow or underflow', () => {
    const FLT_MAX = 3.4028234663852886e38;
    const tiny = 1e-42; // float32 subnormal
    const x = new Float32Array([FLT_MAX, -FLT_MAX, 1, tiny, -tiny, 0, 1e-45, 0, 0]);
    const { q, scales } = quantizeRowsInt8(x, 3, 3);
    const y = dequantizeRowsInt8(q, scales, 3, 3);
    for (const v of y) expect(Number.isFinite(v)).toBe(true);
    expect(q[0]).toBe(127);
    expect(q[1]).toBe(-127);
    for (let i = 0; i < 9; i++)
      expect(Math.abs(x[i]! - y[i]!)).toBeLessThanOrEqual(bound(scales[Math.floor(i / 3)]!));
  });

  it('rejects NaN and Infinity, and mismatched sizes', () => {
    for (const bad of [NaN, Infinity, -Infinity]) {
      try {
        quantizeRowsInt8(new Float32Array([1, bad]), 1, 2);
        expect.unreachable();
      } catch (e) {
        expect(isLocalrecError(e) && e.code === 'bad-input').toBe(true);
        expect(String(e)).toMatch(/non-finite .* row 0, column 1/);
      }
    }
    expect(() => quantizeRowsInt8(new Float32Array(5), 2, 3)).toThrow(
      /expected 2x3 = 6 values, got 5/,
    );
    expect(() => dequantizeRowsInt8(new Int8Array(6), new Float32Array(3), 2, 3)).toThrow(
      /expected 2 scales/,
    );
  });
});

describe('int8 per column (output channel)', () => {
  it('round-trips within half a step of each column scale', () => {
    const rows = 24;
    const cols = 11;
    const x = randomMatrix(rows, cols, 2, 100);
    // Make one column all zero and one column huge.
    for (let r = 0; r < rows; r++) {
      x[r * cols + 3] = 0;
      x[r * cols + 7]! *= 1e6;
    }
    const { q, scales } = quantizeColumnsInt8(x, rows, cols);
    expect(scales.length).toBe(cols);
    expect(scales[3]).toBe(1);
    const y = dequantizeColumnsInt8(q, scales, rows, cols);
    for (let c = 0; c < cols; c++) {
      let maxAbs = 0;
      for (let r = 0; r < rows; r++) maxAbs = Math.max(maxAbs, Math.abs(x[r * cols + c]!));
      if (maxAbs > 0) expect(scales[c]).toBe(Math.fround(maxAbs / 127));
      for (let r = 0; r < rows; r++) {
        expect(Math.abs(x[r * cols + c]! - y[r * cols + c]!)).toBeLessThanOrEqual(
          bound(scales[c]!),
        );
      }
    }
  });
});

describe('int4', () => {
  it('packs two per byte, first value in the low nibble, sign-extended back', () => {
    const v = new Int8Array([1, -1, 7, -8, 0, 5, -3]);
    const p = packInt4(v);
    expect(Array.from(p)).toEqual([0xf1, 0x87, 0x50, 0x0d]);
    expect(Array.from(unpackInt4(p, 7))).toEqual(Array.from(v));
    expect(() => packInt4(new Int8Array([8]))).toThrow(/outside \[-8, 7\]/);
    expect(() => unpackInt4(new Uint8Array(1), 3)).toThrow(/need 2 bytes/);
  });

  it('quantizes to [-7, 7] per block along axis 0 (weights) and axis 1 (embeddings)', () => {
    const rows = 50;
    const cols = 20;
    const x = randomMatrix(rows, cols, 3, 50);
    for (const [axis, blockSize] of [
      [0, 16],
      [1, 16],
      [0, 1000],
      [1, 3],
    ] as const) {
      const qz = quantizeInt4(x, rows, cols, { axis, blockSize });
      const expectShape =
        axis === 0 ? [Math.ceil(rows / blockSize), cols] : [rows, Math.ceil(cols / blockSize)];
      expect(qz.scaleShape).toEqual(expectShape);
      expect(qz.packed.length).toBe((rows * cols) / 2);
      const q = unpackInt4(qz.packed, rows * cols);
      expect(Math.max(...q)).toBeLessThanOrEqual(7);
      expect(Math.min(...q)).toBeGreaterThanOrEqual(-7);
      const y = dequantizeInt4(qz);
      for (let r = 0; r < rows; r++) {
        for (let c = 0; c < cols; c++) {
          const k =
            axis === 0
              ? Math.floor(r / blockSize) * expectShape[1]! + c
              : r * expectShape[1]! + Math.floor(c / blockSize);
          expect(Math.abs(x[r * cols + c]! - y[r * cols + c]!)).toBeLessThanOrEqual(
            bound(qz.scales[k]!),
          );
        }
      }
    }
  });

  it('gives an all-zero block scale 1 and zero values back', () => {
    const x = new Float32Array(32);
    x[20] = -3.5;
    const qz = quantizeInt4(x, 1, 32, { axis: 1, blockSize: 16 });
    expect(Array.from(qz.scales)).toEqual([1, 0.5]);
    const y = dequantizeInt4(qz);
    expect(y[20]).toBe(-3.5);
    expect(y.reduce((a, v) => a + Math.abs(v), 0)).toBe(3.5);
  });
});

describe('float16', () => {
  it('converts exact values, limits, subnormals and specials', () => {
    const cases: [number, number][] = [
      [0, 0x0000],
      [-0, 0x8000],
      [1, 0x3c00],
      [-2, 0xc000],
      [65504, 0x7bff], // largest finite half
      [65520, 0x7c00], // halfway to the next step: ties to even → Infinity
      [65519.99, 0x7bff],
      [Infinity, 0x7c00],
      [-Infinity, 0xfc00],
      [2 ** -14, 0x0400], // smallest normal
      [2 ** -24, 0x0001], // smallest subnormal
      [2 ** -25, 0x0000], // half of it: tie → even (0)
      [2 ** -25 * 1.0001, 0x0001],
      [3 * 2 ** -25, 0x0002], // 1.5 steps: tie → even (2)
      [1023 * 2 ** -24, 0x03ff], // largest subnormal
      [2 ** -14 - 2 ** -26, 0x0400], // rounds up into the smallest normal
      [1 + 2 ** -11, 0x3c00], // tie between 1 and 1+2^-10 → even (1)
      [1 + 3 * 2 ** -11, 0x3c02], // tie → even (1 + 2^-9)
      [0.1, 0x2e66],
      [1e-10, 0x0000],
    ];
    for (const [x, h] of cases) {
      expect(toFloat16Bits(x), `${x}`).toBe(h);
    }
    expect(Number.isNaN(fromFloat16Bits(toFloat16Bits(NaN)))).toBe(true);
    expect((toFloat16Bits(NaN) & 0x7c00) === 0x7c00 && (toFloat16Bits(NaN) & 0x3ff) !== 0).toBe(
      true,
    );
  });

  it('round-trips every half bit pattern exactly', () => {
    for (let h = 0; h < 65536; h++) {
      const x = fromFloat16Bits(h);
      if (Number.isNaN(x)) continue;
      expect(toFloat16Bits(x)).toBe(h);
    }
  });

  it('rounds float32 values to the nearest half (relative error ≤ 2^-11)', () => {
    const x = randomMatrix(100, 10, 4, 1e3);
    const y = float16ToFloat32(float32ToFloat16(x));
    for (let i = 0; i < x.length; i++) {
      expect(Math.abs(x[i]! - y[i]!)).toBeLessThanOrEqual(Math.abs(x[i]!) * 2 ** -11 + 2 ** -25);
    }
  });
});

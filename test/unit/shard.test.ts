import { describe, expect, it } from 'vitest';
import {
  decodeShard,
  encodeShard,
  readShardHeader,
  SHARD_HEADER_BYTES,
  shardRowsAsFloat32,
  type ShardDtype,
} from '../../src/core/shard.ts';
import { float16ToFloat32, float32ToFloat16, quantizeRowsInt8 } from '../../src/core/quantize.ts';
import { isLocalrecError, type LocalrecErrorCode } from '../../src/core/errors.ts';
import { Rng } from '../../src/core/random.ts';

const IDS = ['m1', 'Amélie (2001)', '千と千尋の神隠し', 'emoji 🎬🍿', '', 'x'.repeat(300)];
const DIM = 7;

function rowsFor(count: number, dim: number, seed = 1): Float32Array {
  const rng = new Rng(seed);
  const out = new Float32Array(count * dim);
  for (let i = 0; i < out.length; i++) out[i] = (rng.next() * 2 - 1) * 3;
  out.fill(0, dim, 2 * dim); // one all-zero row
  return out;
}

function expectError(f: () => unknown, code: LocalrecErrorCode, message: RegExp): void {
  try {
    f();
  } catch (e) {
    expect(isLocalrecError(e), String(e)).toBe(true);
    expect((e as { code: string }).code).toBe(code);
    expect(String((e as Error).message)).toMatch(message);
    return;
  }
  expect.unreachable(`expected a ${code} error matching ${message}`);
}

function idTableBytes(ids: string[]): number {
  return ids.reduce((a, id) => a + 2 + new TextEncoder().encode(id).length, 0);
}

describe('encodeShard / decodeShard round trips', () => {
  const rows = rowsFor(IDS.length, DIM);

  it('f32: exact values, header fields, total length', () => {
    const bytes = encodeShard({ dtype: 'f32', dim: DIM, baseIndex: 101, ids: IDS, rows });
    const table = idTableBytes(IDS);
    const pad = (4 - ((SHARD_HEADER_BYTES + table) % 4)) % 4;
    expect(bytes.length).toBe(SHARD_HEADER_BYTES + table + pad + IDS.length * DIM * 4);
    expect(new TextDecoder().decode(bytes.subarray(0, 4))).toBe('LRSH');
    const d = decodeShard(bytes);
    expect(d).toMatchObject({
      version: 1,
      dtype: 'f32',
      dim: DIM,
      count: IDS.length,
      baseIndex: 101,
    });
    expect(d.ids).toEqual(IDS);
    expect(Array.from(d.f32!)).toEqual(Array.from(rows));
    expect(d.f16 ?? d.int8 ?? d.scales).toBeUndefined();
    // A view into the input, not a copy.
    expect(d.f32!.buffer).toBe(bytes.buffer);
    expect(shardRowsAsFloat32(d)).toBe(d.f32);
  });

  it('f16: values are the nearest halves', () => {
    const bytes = encodeShard({ dtype: 'f16', dim: DIM, baseIndex: 1, ids: IDS, rows });
    const d = decodeShard(bytes);
    expect(d.ids).toEqual(IDS);
    expect(Array.from(d.f16!)).toEqual(Array.from(float32ToFloat16(rows)));
    expect(d.f16!.buffer).toBe(bytes.buffer);
    const back = shardRowsAsFloat32(d);
    expect(Array.from(back)).toEqual(Array.from(float16ToFloat32(float32ToFloat16(rows))));
    for (let i = 0; i < rows.length; i++)
      expect(Math.abs(back[i]! - rows[i]!)).toBeLessThanOrEqual(3 * 2 ** -11);
  });

  it('int8: per-row scales, zero row, dequantized within half a step', () => {
    const bytes = encodeShard({ dtype: 'int8', dim: DIM, baseIndex: 7, ids: IDS, rows });
    const d = decodeShard(bytes);
    const ref = quantizeRowsInt8(rows, IDS.length, DIM);
    expect(Array.from(d.scales!)).toEqual(Array.from(ref.scales));
    expect(Array.from(d.int8!)).toEqual(Array.from(ref.q));
    expect(d.scales![1]).toBe(1); // the all-zero row
    const back = shardRowsAsFloat32(d);
    for (let i = 0; i < rows.length; i++) {
      expect(Math.abs(back[i]! - rows[i]!)).toBeLessThanOrEqual(
        d.scales![Math.floor(i / DIM)]! * 0.50001,
      );
    }
  });

  it('an empty shard is valid', () => {
    for (const dtype of ['f32', 'f16', 'int8'] as ShardDtype[]) {
      const d = decodeShard(
        encodeShard({ dtype, dim: 4, baseIndex: 1, ids: [], rows: new Float32Array(0) }),
      );
      expect(d.count).toBe(0);
      expect(shardRowsAsFloat32(d).length).toBe(0);
    }
  });

  it('decodes from an unaligned slice of a bigger buffer (copies instead of views)', () => {
    for (const dtype of ['f32', 'f16', 'int8'] as ShardDtype[]) {
      const bytes = encodeShard({ dtype, dim: DIM, baseIndex: 3, ids: IDS, rows });
      const big = new Uint8Array(bytes.length + 1);
      big.set(bytes, 1);
      const d = decodeShard(big.subarray(1));
      expect(d.ids).toEqual(IDS);
      expect(Array.from(shardRowsAsFloat32(d))).toEqual(
        Array.from(shardRowsAsFloat32(decodeShard(bytes))),
      );
    }
  });

  it('header alone is enough to size the blob', () => {
    const bytes = encodeShard({ dtype: 'int8', dim: DIM, baseIndex: 3, ids: IDS, rows });
    const h = readShardHeader(bytes.subarray(0, SHARD_HEADER_BYTES));
    expect(h.byteLength).toBe(bytes.length);
    expect(h.rowsOffset).toBe(h.scalesOffset + 4 * IDS.length);
    expect(h.scalesOffset % 4).toBe(0);
  });
});

describe("int8 scale segments (an ensemble's members, version 2)", () => {
  // Two members side by side whose vectors differ 100× in magnitude.
  const count = 50;
  const seg = 8;
  const rng = new Rng(5);
  const rows = new Float32Array(count * 2 * seg);
  for (let r = 0; r < count; r++)
    for (let j = 0; j < 2 * seg; j++)
      rows[r * 2 * seg + j] = (rng.next() * 2 - 1) * (j < seg ? 1 : 0.01);
  const ids = Array.from({ length: count }, (_, i) => `i${i}`);
  /** Largest error of the small member's values relative to its own largest magnitude. */
  const smallMemberError = (back: Float32Array) => {
    let worst = 0;
    for (let r = 0; r < count; r++) {
      let max = 0;
      let err = 0;
      for (let j = seg; j < 2 * seg; j++) {
        const i = r * 2 * seg + j;
        max = Math.max(max, Math.abs(rows[i]!));
        err = Math.max(err, Math.abs(back[i]! - rows[i]!));
      }
      worst = Math.max(worst, err / max);
    }
    return worst;
  };

  it('each segment keeps its own range: the small member survives', () => {
    const bytes = encodeShard({
      dtype: 'int8',
      dim: 2 * seg,
      baseIndex: 1,
      ids,
      rows,
      segments: 2,
    });
    const d = decodeShard(bytes);
    expect(d).toMatchObject({ version: 2, segments: 2, dim: 16, count });
    expect(d.scales!.length).toBe(2 * count);
    expect(readShardHeader(bytes).rowsOffset).toBe(readShardHeader(bytes).scalesOffset + 8 * count);
    // Scales are the (count · 2, 8) per-row quantization: segment s of row r is row 2r + s.
    const ref = quantizeRowsInt8(rows, 2 * count, seg);
    expect(Array.from(d.scales!)).toEqual(Array.from(ref.scales));
    expect(Array.from(d.int8!)).toEqual(Array.from(ref.q));
    const back = shardRowsAsFloat32(d);
    expect(smallMemberError(back)).toBeLessThan(0.01); // within half a step of 1/127
    // One scale per row (version 1) sizes the step by the big member: the small one is lost.
    const one = decodeShard(encodeShard({ dtype: 'int8', dim: 2 * seg, baseIndex: 1, ids, rows }));
    expect(one).toMatchObject({ version: 1, segments: 1 });
    expect(smallMemberError(shardRowsAsFloat32(one))).toBeGreaterThan(0.3);
  });

  it('one segment writes version 1, byte for byte as before', () => {
    const a = encodeShard({ dtype: 'int8', dim: 16, baseIndex: 1, ids, rows });
    const b = encodeShard({ dtype: 'int8', dim: 16, baseIndex: 1, ids, rows, segments: 1 });
    expect(b).toEqual(a);
    expect(new DataView(a.buffer).getUint16(4, true)).toBe(1);
    expect(a[7]).toBe(0);
  });

  it('rejects segments that do not divide dim, or on a float dtype', () => {
    for (const [dtype, segments] of [
      ['int8', 3],
      ['int8', 0],
      ['int8', 1.5],
      ['int8', 256],
      ['f32', 2],
      ['f16', 2],
    ] as [ShardDtype, number][])
      expectError(
        () => encodeShard({ dtype, dim: 16, baseIndex: 1, ids, rows, segments }),
        'bad-input',
        /segments must be an integer in 1..255 dividing dim 16/,
      );
  });
});

describe('decodeShard errors', () => {
  const good = () =>
    encodeShard({
      dtype: 'int8',
      dim: 3,
      baseIndex: 1,
      ids: ['a', 'bé'],
      rows: new Float32Array([1, 2, 3, 4, 5, 6]),
    });
  const set = (b: Uint8Array, f: (v: DataView) => void) => {
    f(new DataView(b.buffer, b.byteOffset, b.byteLength));
    return b;
  };

  it('wrong magic', () => {
    const b = good();
    b[0] = 0x50; // 'P'
    expectError(() => decodeShard(b), 'bad-format', /not a localrec embedding shard: magic "PRSH"/);
    expectError(
      () => decodeShard(new TextEncoder().encode('{"json": "not a shard at all"}')),
      'bad-format',
      /magic "\{\\"js"/,
    );
  });

  it('unknown version names it and the supported ones', () => {
    const b = set(good(), (v) => v.setUint16(4, 3, true));
    expectError(
      () => decodeShard(b),
      'unsupported-version',
      /version 3 is not supported.*supports versions 1 and 2/,
    );
  });

  it('version 2 needs int8 and 2..255 scale segments that divide dim', () => {
    const two = () =>
      encodeShard({
        dtype: 'int8',
        dim: 4,
        baseIndex: 1,
        ids: ['a'],
        rows: new Float32Array([1, 2, 3, 4]),
        segments: 2,
      });
    expect(decodeShard(two()).segments).toBe(2);
    for (const [byte7, what] of [
      [1, /1 scale segments for a int8 row of dim 4/],
      [3, /3 scale segments for a int8 row of dim 4/],
      [0, /0 scale segments/],
    ] as const)
      expectError(() => decodeShard(set(two(), (v) => v.setUint8(7, byte7))), 'bad-format', what);
    // A version 1 int8 shard relabelled as version 2 with byte 7 = 0 is refused, never misread.
    expectError(
      () => decodeShard(set(good(), (v) => v.setUint16(4, 2, true))),
      'bad-format',
      /bad version 2 shard: 0 scale segments/,
    );
    const f32 = encodeShard({
      dtype: 'f32',
      dim: 4,
      baseIndex: 1,
      ids: ['a'],
      rows: new Float32Array(4),
    });
    expectError(
      () => decodeShard(set(f32, (v) => (v.setUint16(4, 2, true), v.setUint8(7, 2)))),
      'bad-format',
      /2 scale segments for a f32 row/,
    );
    // A non-positive segment scale is named with its row and segment.
    const bad = set(two(), (v) => v.setFloat32(SHARD_HEADER_BYTES + 4 + 4, 0, true));
    expectError(() => decodeShard(bad), 'bad-format', /scale of row 0 segment 1 is 0/);
  });

  it('truncated and oversized', () => {
    const b = good();
    expectError(
      () => decodeShard(b.subarray(0, b.length - 1)),
      'bad-format',
      new RegExp(`truncated shard: header says ${b.length} bytes, got ${b.length - 1}`),
    );
    expectError(
      () => decodeShard(b.subarray(0, 10)),
      'bad-format',
      /truncated shard: 10 bytes is shorter than the 24-byte header/,
    );
    const longer = new Uint8Array(b.length + 4);
    longer.set(b);
    expectError(
      () => decodeShard(longer),
      'bad-format',
      new RegExp(`oversized shard: header says ${b.length} bytes, got ${b.length + 4}`),
    );
    // A dim that claims more row values than the blob holds.
    const wider = set(good(), (v) => v.setUint32(8, 30, true));
    expectError(
      () => decodeShard(wider),
      'bad-format',
      new RegExp(`truncated shard: header says ${b.length + 2 * 27} bytes, got ${b.length}`),
    );
  });

  it('bad dtype, flags and dim', () => {
    expectError(
      () => decodeShard(set(good(), (v) => v.setUint8(6, 3))),
      'bad-format',
      /bad shard dtype code 3/,
    );
    expectError(
      () => decodeShard(set(good(), (v) => v.setUint8(7, 1))),
      'bad-format',
      /bad shard flags 0x1/,
    );
    expectError(
      () => decodeShard(set(good(), (v) => v.setUint32(8, 0, true))),
      'bad-format',
      /dim is 0/,
    );
  });

  it('id table overflow and trailing bytes', () => {
    // The second id claims more bytes than the table holds.
    const b = good();
    const lenAt = SHARD_HEADER_BYTES + 2 + 1;
    expectError(
      () => decodeShard(set(b, (v) => v.setUint16(lenAt, 200, true))),
      'bad-format',
      /id table overflow: id 1 \(200 bytes\)/,
    );
    // The first id swallows the second: after two "ids" the table has bytes left over.
    const c = good();
    expectError(
      () => decodeShard(set(c, (v) => v.setUint16(SHARD_HEADER_BYTES, 0, true))),
      'bad-format',
      /id table overflow|trailing bytes/,
    );
    // A table too small for `count` length prefixes.
    expectError(
      () => decodeShard(set(good(), (v) => v.setUint32(20, 1, true))),
      'bad-format',
      /cannot hold 2 ids/,
    );
    expectError(
      () => decodeShard(set(good(), (v) => v.setUint32(12, 3000, true))),
      'bad-format',
      /8 bytes cannot hold 3000 ids/,
    );
  });

  it('non-UTF-8 id bytes', () => {
    const b = good();
    // 'bé' is 62 c3 a9; break the continuation byte.
    const at = SHARD_HEADER_BYTES + 2 + 1 + 2 + 2;
    expect(b[at]).toBe(0xa9);
    b[at] = 0x41;
    expectError(() => decodeShard(b), 'bad-format', /shard id 1 is not valid UTF-8/);
  });

  it('bad int8 scales and non-zero padding', () => {
    const h = readShardHeader(good());
    expectError(
      () => decodeShard(set(good(), (v) => v.setFloat32(h.scalesOffset + 4, NaN, true))),
      'bad-format',
      /scale of row 1 is NaN/,
    );
    expectError(
      () => decodeShard(set(good(), (v) => v.setFloat32(h.scalesOffset, 0, true))),
      'bad-format',
      /scale of row 0 is 0/,
    );
    // One 3-byte id: a 5-byte table, so 3 bytes of padding follow it.
    const padded = encodeShard({
      dtype: 'f32',
      dim: 1,
      baseIndex: 1,
      ids: ['abc'],
      rows: new Float32Array([1]),
    });
    const table = SHARD_HEADER_BYTES + 5;
    expect(readShardHeader(padded).scalesOffset).toBe(table + 3);
    expect(decodeShard(padded).f32![0]).toBe(1);
    expectError(
      () => decodeShard(set(padded, (v) => v.setUint8(table + 2, 1))),
      'bad-format',
      /padding .* not zero/,
    );
  });
});

describe('encodeShard input checks', () => {
  it('rejects inconsistent input with bad-input', () => {
    const rows = new Float32Array(6);
    expectError(
      () => encodeShard({ dtype: 'f32', dim: 4, baseIndex: 1, ids: ['a', 'b'], rows }),
      'bad-input',
      /needs 8 row values, got 6/,
    );
    expectError(
      () => encodeShard({ dtype: 'f32', dim: 0, baseIndex: 1, ids: [], rows: new Float32Array(0) }),
      'bad-input',
      /dim must be/,
    );
    expectError(
      () => encodeShard({ dtype: 'f32', dim: 3, baseIndex: -1, ids: ['a', 'b'], rows }),
      'bad-input',
      /baseIndex/,
    );
    expectError(
      () =>
        encodeShard({ dtype: 'bf16' as ShardDtype, dim: 3, baseIndex: 1, ids: ['a', 'b'], rows }),
      'bad-input',
      /dtype must be one of f32, f16, int8/,
    );
    expectError(
      () =>
        encodeShard({ dtype: 'f32', dim: 3, baseIndex: 1, ids: ['a', 'x'.repeat(70000)], rows }),
      'bad-input',
      /70000 UTF-8 bytes; the limit is 65535/,
    );
    expectError(
      () => encodeShard({ dtype: 'f32', dim: 3, baseIndex: 1, ids: ['a', 'bad \ud800'], rows }),
      'bad-input',
      /lone surrogate/,
    );
    expectError(
      () =>
        encodeShard({
          dtype: 'int8',
          dim: 3,
          baseIndex: 1,
          ids: ['a', 'b'],
          rows: new Float32Array([0, 0, 0, 1, NaN, 0]),
        }),
      'bad-input',
      /non-finite/,
    );
  });
});

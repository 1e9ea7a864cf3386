/**
 * The GGUF writer (models/llm/gguf-writer.ts) and reader (src/core/gguf/reader.ts): the bytes
 * of the header are checked field by field against the format, the tiny llama model reads back
 * with every key and tensor llama.cpp's llama loader asks for, and damaged files are refused
 * with a message that says what is wrong.
 */
import { describe, expect, it } from 'vitest';
import { GGUF_MAGIC, ggmlTensorBytes } from '../../src/core/gguf/format.ts';
import { parseGgufHeader, type GgufHeader } from '../../src/core/gguf/reader.ts';
import { toHalf, writeGguf } from '../../models/llm/gguf-writer.ts';
import { buildTinyLlama, tinyLlamaVocab } from '../../models/llm/tiny-llama.ts';
import { refusal } from '../setup/refusal.ts';

const header = (bytes: Uint8Array): GgufHeader => {
  const h = parseGgufHeader(bytes);
  if (h === 'need-more') throw new Error('need-more for a whole file');
  return h;
};

describe('writeGguf', () => {
  const small = writeGguf({
    metadata: [
      ['general.architecture', { type: 'string', value: 'llama' }],
      ['n', { type: 'uint32', value: 7 }],
    ],
    tensors: [
      { name: 'a', dims: [3], data: new Float32Array([1, 2, 3]) },
      { name: 'b', dims: [2, 2], data: new Float32Array([0.5, -1, 2, 65504]), type: 'F16' },
    ],
  });

  it('writes the header fields in the format’s order, little-endian', () => {
    const v = new DataView(small.buffer);
    expect(v.getUint32(0, true)).toBe(GGUF_MAGIC);
    expect(new TextDecoder().decode(small.subarray(0, 4))).toBe('GGUF');
    expect(v.getUint32(4, true)).toBe(3);
    expect(v.getBigUint64(8, true)).toBe(2n); // tensors
    expect(v.getBigUint64(16, true)).toBe(2n); // metadata
    // First key: uint64 length 20, "general.architecture", type 8 (string), uint64 5, "llama".
    expect(v.getBigUint64(24, true)).toBe(20n);
    expect(new TextDecoder().decode(small.subarray(32, 52))).toBe('general.architecture');
    expect(v.getUint32(52, true)).toBe(8);
    expect(v.getBigUint64(56, true)).toBe(5n);
    expect(new TextDecoder().decode(small.subarray(64, 69))).toBe('llama');
  });

  it('places each tensor at an aligned offset in the data section, with its bytes', () => {
    const h = header(small);
    expect(h.alignment).toBe(32);
    expect(h.dataOffset % 32).toBe(0);
    expect(h.tensors.map((t) => [t.name, t.dims, t.type, t.offset])).toEqual([
      ['a', [3], 0, 0],
      ['b', [2, 2], 1, 32],
    ]);
    const a = new Float32Array(small.buffer.slice(h.dataOffset, h.dataOffset + 12));
    expect([...a]).toEqual([1, 2, 3]);
    const b = new Uint16Array(small.buffer.slice(h.dataOffset + 32, h.dataOffset + 40));
    expect([...b]).toEqual([0x3800, 0xbc00, 0x4000, 0x7bff]);
    expect(small.length).toBe(h.dataOffset + 64);
    expect(h.metadata.get('n')).toEqual({ type: 'uint32', value: 7 });
  });

  it('honours another alignment and records it as general.alignment', () => {
    const bytes = writeGguf({
      metadata: [],
      alignment: 64,
      tensors: [
        { name: 'x', dims: [5], data: new Float32Array(5) },
        { name: 'y', dims: [1], data: new Float32Array(1) },
      ],
    });
    const h = header(bytes);
    expect(h.alignment).toBe(64);
    expect(h.metadata.get('general.alignment')).toEqual({ type: 'uint32', value: 64 });
    expect(h.dataOffset % 64).toBe(0);
    expect(h.tensors[1]!.offset).toBe(64);
  });

  it('rounds to half precision as IEEE 754 does (to nearest, ties to even)', () => {
    expect(toHalf(1)).toBe(0x3c00);
    expect(toHalf(-2)).toBe(0xc000);
    expect(toHalf(0)).toBe(0);
    expect(toHalf(65520)).toBe(0x7c00); // rounds up to infinity
    expect(toHalf(2 ** -24)).toBe(1); // the smallest subnormal
    expect(toHalf(1 + 2 ** -11)).toBe(0x3c00); // a tie goes to the even mantissa
    expect(toHalf(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(toHalf(NaN) & 0x7c00).toBe(0x7c00);
  });

  it('refuses data that does not match its dims, and duplicate names', () => {
    expect(
      refusal(() =>
        writeGguf({
          metadata: [],
          tensors: [{ name: 'x', dims: [2, 3], data: new Float32Array(5) }],
        }),
      ),
    ).toEqual({ code: 'bad-input', message: 'tensor "x" has 5 values for dims [2, 3] (6)' });
    expect(
      refusal(() =>
        writeGguf({
          metadata: [
            ['k', { type: 'bool', value: true }],
            ['k', { type: 'bool', value: false }],
          ],
          tensors: [],
        }),
      ).message,
    ).toMatch(/"k" given twice/);
  });
});

describe('the tiny llama model', () => {
  const bytes = buildTinyLlama();
  const h = header(bytes);
  const num = (k: string) => h.metadata.get(k)?.value;

  it('carries the llama hyper-parameters and the SentencePiece vocabulary', () => {
    expect(num('general.architecture')).toBe('llama');
    expect(num('llama.embedding_length')).toBe(64);
    expect(num('llama.block_count')).toBe(2);
    expect(num('llama.attention.head_count')).toBe(4);
    expect(num('llama.attention.head_count_kv')).toBe(2);
    expect(num('llama.rope.dimension_count')).toBe(16);
    expect(num('tokenizer.ggml.model')).toBe('llama');
    const tokens = num('tokenizer.ggml.tokens') as string[];
    expect(tokens).toEqual(tinyLlamaVocab().tokens);
    expect(tokens.length).toBe(359);
    expect(new Set(tokens).size).toBe(tokens.length);
    for (const piece of ['{', '}', '[', ']', '"', ':', ',', '0', '9', 'a', 'Z', '\u2581', '<0x0A>'])
      expect(tokens, piece).toContain(piece);
    expect(num('llama.vocab_size')).toBe(359);
    const types = num('tokenizer.ggml.token_type') as number[];
    expect(types.length).toBe(359);
    // Byte fallback: <0x0A> is a byte token; the high bytes are control tokens (no text).
    expect(types[tokens.indexOf('<0x0A>')]).toBe(6);
    expect(types[tokens.indexOf('<0xC3>')]).toBe(3);
    expect(types[tokens.indexOf('é')]).toBe(1);
  });

  it('has every tensor llama.cpp’s llama loader needs, of the right shape', () => {
    const shapes = Object.fromEntries(h.tensors.map((t) => [t.name, t.dims]));
    expect(shapes['token_embd.weight']).toEqual([64, 359]);
    expect(shapes['output.weight']).toEqual([64, 359]);
    expect(shapes['output_norm.weight']).toEqual([64]);
    for (const l of [0, 1]) {
      expect(shapes[`blk.${l}.attn_q.weight`]).toEqual([64, 64]);
      expect(shapes[`blk.${l}.attn_k.weight`]).toEqual([64, 32]);
      expect(shapes[`blk.${l}.attn_v.weight`]).toEqual([64, 32]);
      expect(shapes[`blk.${l}.attn_output.weight`]).toEqual([64, 64]);
      expect(shapes[`blk.${l}.ffn_gate.weight`]).toEqual([64, 128]);
      expect(shapes[`blk.${l}.ffn_up.weight`]).toEqual([64, 128]);
      expect(shapes[`blk.${l}.ffn_down.weight`]).toEqual([128, 64]);
      expect(shapes[`blk.${l}.attn_norm.weight`]).toEqual([64]);
      expect(shapes[`blk.${l}.ffn_norm.weight`]).toEqual([64]);
    }
    expect(h.tensors).toHaveLength(3 + 2 * 9);
    // Tensors follow each other without overlap, each aligned, the last ending the file.
    let end = 0;
    for (const t of h.tensors) {
      expect(t.offset % 32).toBe(0);
      expect(t.offset).toBeGreaterThanOrEqual(end);
      end = t.offset + ggmlTensorBytes(t.type, t.dims)!;
    }
    expect(h.byteLength).toBe(h.dataOffset + end);
    expect(bytes.length).toBe(h.dataOffset + Math.ceil(end / 32) * 32);
  });

  it('is the same bytes for the same seed, and other weights for another', () => {
    expect(buildTinyLlama()).toEqual(bytes);
    const other = buildTinyLlama({ seed: 16 });
    expect(other.length).toBe(bytes.length);
    expect(other).not.toEqual(bytes);
  });
});

describe('parseGgufHeader refuses a damaged file', () => {
  const bytes = buildTinyLlama();

  it('with another magic', () => {
    const wrong = bytes.slice();
    wrong.set(new TextEncoder().encode('GGML'), 0);
    expect(refusal(() => parseGgufHeader(wrong))).toEqual({
      code: 'bad-format',
      message: 'not a valid GGUF file: it starts with bytes 47 47 4d 4c, not "GGUF" (47 47 55 46)',
    });
    expect(refusal(() => parseGgufHeader(new TextEncoder().encode('<!doctype html>'))).code).toBe(
      'bad-format',
    );
  });

  it('of a version it does not know', () => {
    const v9 = bytes.slice();
    new DataView(v9.buffer).setUint32(4, 9, true);
    expect(refusal(() => parseGgufHeader(v9))).toEqual({
      code: 'unsupported-version',
      message: 'GGUF version 9 is not supported (versions 2 and 3 are)',
    });
  });

  it('cut short, in the header or in the tensor data', () => {
    expect(refusal(() => parseGgufHeader(bytes.slice(0, 200))).message).toMatch(
      /ends inside its header \(200 bytes\)/,
    );
    expect(refusal(() => parseGgufHeader(bytes.slice(0, bytes.length - 1000))).message).toMatch(
      /tensor "output.weight" ends at byte \d+, past the end of the \d+-byte file \(truncated\?\)/,
    );
  });

  it('with a count that cannot be true', () => {
    const huge = bytes.slice();
    new DataView(huge.buffer).setBigUint64(16, 1n << 40n, true);
    expect(refusal(() => parseGgufHeader(huge)).message).toMatch(
      /the metadata count is 1099511627776/,
    );
  });

  it('and asks for more of a large file whose prefix ends inside the header', () => {
    expect(parseGgufHeader(bytes.slice(0, 200), bytes.length)).toBe('need-more');
    const h = parseGgufHeader(bytes.slice(0, 20_000), bytes.length);
    expect(h).not.toBe('need-more');
  });
});

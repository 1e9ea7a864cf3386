/**
 * A tiny llama-architecture language model with seeded random weights, written as GGUF
 * (./gguf-writer.ts) — the real engine's test and benchmark model (issue #15): llama.cpp (through
 * wllama) loads and runs it like any llama GGUF, and grammar-constrained decoding must give
 * parseable, grounded output even from weights that know nothing.
 *
 * The vocabulary is a SentencePiece ("llama") one: `<unk>`, `<s>`, `</s>`, the 256 byte-fallback
 * tokens `<0x00>`…`<0xFF>`, `▁` (SentencePiece's space), every printable ASCII character but
 * the space and a few non-ASCII characters (é, ü, ñ, —, ’) as their own tokens — so any text
 * tokenizes, and JSON punctuation, digits and letters are single tokens. 359 tokens in all.
 *
 * The byte tokens 0x80–0xFF are typed CONTROL, not BYTE: a prompt's other non-ASCII characters
 * still tokenize through them (byte fallback looks tokens up by text), but a control token has
 * no text, so the model never writes a raw high byte. A grammar works on characters and cannot
 * stop random weights from picking bytes that are not UTF-8 (an overlong `C0 BE`, a lone
 * continuation byte), and llama.cpp's server fails on such output; a trained model does not
 * write them.
 */
import { Rng } from '../../src/core/random.ts';
import type { GgufValue } from '../../src/core/gguf/format.ts';
import { writeGguf, type GgufTensorInput } from './gguf-writer.ts';

export interface TinyLlamaConfig {
  /** Model width (n_embd). */
  dim: number;
  layers: number;
  heads: number;
  /** Key/value heads (grouped-query attention when fewer than `heads`). */
  kvHeads: number;
  ffnDim: number;
  contextLength: number;
  seed: number;
  /** Stored type of the matrices (norms stay F32). */
  type: 'F32' | 'F16';
  /** Standard deviation of the random matrices. */
  initStd: number;
  /** `tokenizer.chat_template` (Jinja); null for none (engines then prompt it as raw text). */
  chatTemplate: string | null;
}

/** ChatML, which llama.cpp recognises by its `<|im_start|>` markers. */
export const CHATML_TEMPLATE =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

export const TINY_LLAMA_DEFAULTS: TinyLlamaConfig = {
  dim: 64,
  layers: 2,
  heads: 4,
  kvHeads: 2,
  ffnDim: 128,
  contextLength: 1024,
  seed: 15,
  type: 'F32',
  initStd: 0.02,
  chatTemplate: CHATML_TEMPLATE,
};

/** llama.cpp's token types (llama.h `llama_token_type`). */
const NORMAL = 1;
const UNKNOWN = 2;
const CONTROL = 3;
const BYTE = 6;

/** The tokens, their types and scores, in id order. */
export function tinyLlamaVocab(): { tokens: string[]; types: number[]; scores: number[] } {
  const tokens = ['<unk>', '<s>', '</s>'];
  const types = [UNKNOWN, CONTROL, CONTROL];
  for (let b = 0; b < 256; b++) {
    tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
    types.push(b < 0x80 ? BYTE : CONTROL);
  }
  const chars = ['\u2581'];
  for (let c = 0x21; c <= 0x7e; c++) chars.push(String.fromCharCode(c));
  chars.push('é', 'ü', 'ñ', '—', '’');
  for (const ch of chars) {
    tokens.push(ch);
    types.push(NORMAL);
  }
  // SentencePiece scores rank merges; with single characters only, they order nothing.
  return { tokens, types, scores: tokens.map((_, i) => -i) };
}

/** The GGUF bytes of a tiny llama model (defaults: {@link TINY_LLAMA_DEFAULTS}, ~0.5 MB). */
export function buildTinyLlama(options: Partial<TinyLlamaConfig> = {}): Uint8Array<ArrayBuffer> {
  const c = { ...TINY_LLAMA_DEFAULTS, ...options };
  if (c.dim % c.heads !== 0 || c.heads % c.kvHeads !== 0)
    throw new Error(`dim ${c.dim}, heads ${c.heads}, kvHeads ${c.kvHeads} do not divide`);
  const vocab = tinyLlamaVocab();
  const nVocab = vocab.tokens.length;
  const headDim = c.dim / c.heads;
  const kvDim = headDim * c.kvHeads;
  const rng = new Rng(c.seed);
  const matrix = (name: string, cols: number, rows: number): GgufTensorInput => {
    const data = new Float32Array(cols * rows);
    for (let i = 0; i < data.length; i++) data[i] = rng.normal() * c.initStd;
    return { name, dims: [cols, rows], data, type: c.type };
  };
  const ones = (name: string, n: number): GgufTensorInput => ({
    name,
    dims: [n],
    data: new Float32Array(n).fill(1),
  });
  // ggml dims are innermost first: a layer mapping `in` to `out` is [in, out].
  const tensors: GgufTensorInput[] = [matrix('token_embd.weight', c.dim, nVocab)];
  for (let l = 0; l < c.layers; l++) {
    const b = `blk.${l}`;
    tensors.push(
      ones(`${b}.attn_norm.weight`, c.dim),
      matrix(`${b}.attn_q.weight`, c.dim, c.dim),
      matrix(`${b}.attn_k.weight`, c.dim, kvDim),
      matrix(`${b}.attn_v.weight`, c.dim, kvDim),
      matrix(`${b}.attn_output.weight`, c.dim, c.dim),
      ones(`${b}.ffn_norm.weight`, c.dim),
      matrix(`${b}.ffn_gate.weight`, c.dim, c.ffnDim),
      matrix(`${b}.ffn_up.weight`, c.dim, c.ffnDim),
      matrix(`${b}.ffn_down.weight`, c.ffnDim, c.dim),
    );
  }
  tensors.push(ones('output_norm.weight', c.dim), matrix('output.weight', c.dim, nVocab));

  const u32 = (value: number): GgufValue => ({ type: 'uint32', value });
  const f32 = (value: number): GgufValue => ({ type: 'float32', value });
  const metadata: [string, GgufValue][] = [
    ['general.architecture', { type: 'string', value: 'llama' }],
    ['general.name', { type: 'string', value: 'localrec-tiny-llama' }],
    // llama_ftype: 0 all F32, 1 mostly F16.
    ['general.file_type', u32(c.type === 'F16' ? 1 : 0)],
    ['llama.vocab_size', u32(nVocab)],
    ['llama.context_length', u32(c.contextLength)],
    ['llama.embedding_length', u32(c.dim)],
    ['llama.block_count', u32(c.layers)],
    ['llama.feed_forward_length', u32(c.ffnDim)],
    ['llama.attention.head_count', u32(c.heads)],
    ['llama.attention.head_count_kv', u32(c.kvHeads)],
    ['llama.attention.layer_norm_rms_epsilon', f32(1e-5)],
    ['llama.rope.dimension_count', u32(headDim)],
    ['llama.rope.freq_base', f32(10000)],
    ['tokenizer.ggml.model', { type: 'string', value: 'llama' }],
    ['tokenizer.ggml.tokens', { type: 'array', itemType: 'string', value: vocab.tokens }],
    ['tokenizer.ggml.scores', { type: 'array', itemType: 'float32', value: vocab.scores }],
    ['tokenizer.ggml.token_type', { type: 'array', itemType: 'int32', value: vocab.types }],
    ['tokenizer.ggml.unknown_token_id', u32(0)],
    ['tokenizer.ggml.bos_token_id', u32(1)],
    ['tokenizer.ggml.eos_token_id', u32(2)],
    ['tokenizer.ggml.add_bos_token', { type: 'bool', value: true }],
    ['tokenizer.ggml.add_eos_token', { type: 'bool', value: false }],
  ];
  if (c.chatTemplate !== null)
    metadata.push(['tokenizer.chat_template', { type: 'string', value: c.chatTemplate }]);
  return writeGguf({ metadata, tensors });
}

/**
 * SASRec user encoder → ONNX, for onnxruntime-web in the ranker worker.
 *
 * The graph is `encode()` of model.ts, op for op: item_ids (batch, seq) int64, left-padded
 * with 0, seq ≤ maxLen → user_vec (batch, dim) float32, the final hidden state at the last
 * position. In the last block only the last position's query is computed (its causal row
 * allows every key, so the bias is just key padding) — the same numbers for a fraction of the work.
 *
 * Quantization (weights only; activations stay float32):
 * - fp32: opset 17, IR 8.
 * - int8: opset 17. item_emb / pos_emb per row, weight matrices per output column, symmetric,
 *   DequantizeLinear with zero point 0. item_emb rows are gathered first and then dequantized
 *   (DequantizeLinear axis 0 over the gathered rows with their gathered scales), so a run costs
 *   O(batch·seq·dim) and not O(numItems·dim) as dequantizing the whole table would.
 * - int4: opset 21 (INT4 tensors), IR 10. Symmetric [-7, 7] in blocks (default 32): weight
 *   matrices blocked down each output column (DequantizeLinear axis 0 + block_size, which
 *   onnxruntime may fuse into MatMulNBits); pos_emb blocked along each row; item_emb through
 *   com.microsoft GatherBlockQuantized (gathers int4 rows and dequantizes only those).
 * Biases and LayerNorm parameters stay float32 in every scheme.
 */
import { LocalrecError } from '../../src/core/errors.ts';
import {
  DEFAULT_INT4_BLOCK,
  dequantizeColumnsInt8,
  dequantizeInt4,
  dequantizeRowsInt8,
  quantizeColumnsInt8,
  quantizeInt4,
  quantizeRowsInt8,
} from '../../src/core/quantize.ts';
import { ENCODER_INPUT, ENCODER_OUTPUT } from '../../src/core/encoder-io.ts';
import { ElemType, OnnxGraphBuilder } from '../onnx/graph-builder.ts';
import type { QuantizedTensor } from '../onnx/quantized-tensor.ts';
import { MASK_VALUE } from '../tf-ops.ts';
import type { WeightArrays } from '../weights.ts';
import { validateModelConfig, type SasrecConfig } from './config.ts';
import { memberConfig, memberCount, memberPrefix, memberWeights, weightShapes } from './model.ts';

/** Weight precision of an exported encoder. */
export type SasrecQuantization = 'fp32' | 'int8' | 'int4';

/** Every SASRec weight, by its checkpoint name, in exported form. */
export interface QuantizedSasrec {
  scheme: SasrecQuantization;
  tensors: Record<string, QuantizedTensor>;
}

export interface SasrecExportOptions {
  quantization: SasrecQuantization;
  /** int4 block length: a power of two ≥ 16 (onnxruntime's int4 kernels need that). Default 32. */
  int4BlockSize?: number;
}

const EMBEDDINGS = new Set(['item_emb', 'pos_emb']);

function checkedWeight(c: SasrecConfig, weights: WeightArrays, name: string, shape: number[]) {
  const w = weights[name];
  if (!w) throw new LocalrecError('bad-input', `SASRec weights lack ${name}`);
  const n = shape.reduce((a, d) => a * d, 1);
  if (
    w.shape.length !== shape.length ||
    w.shape.some((d, i) => d !== shape[i]) ||
    w.data.length !== n
  ) {
    throw new LocalrecError(
      'bad-input',
      `SASRec weight ${name} has shape ${JSON.stringify(w.shape)} (${w.data.length} values); config ${JSON.stringify({ numItems: c.numItems, dim: c.dim, maxLen: c.maxLen, ffnDim: c.ffnDim })} needs ${JSON.stringify(shape)}`,
    );
  }
  return w;
}

function checkBlock(b: number): void {
  if (!Number.isInteger(b) || b < 16 || (b & (b - 1)) !== 0) {
    throw new LocalrecError('bad-input', `int4BlockSize must be a power of two ≥ 16, got ${b}`);
  }
}

/**
 * Quantizes every SASRec weight the way {@link exportSasrecEncoder} stores it, and returns the
 * exact float32 weights the exported model computes with (`dequantized`), so a tfjs model built
 * from them must match the ONNX model up to float rounding. Weights not in the config's
 * layout are ignored; missing or mis-shaped ones throw `bad-input`.
 */
/**
 * The item table the embedding shards ship (numItems + 1 rows, row 0 = padding): the encoder's
 * own table for dot-product models; for cosine models (cosineTemperature > 0) every row scaled
 * to unit length, taken from the weights the encoder computes with (`dequantized` for int8/int4)
 * so that shard scores are exactly what evaluation measured — per-row int8 quantization is
 * scale-invariant, so quantizing the normalised rows gives back the same int8 values.
 */
/** Width of the shipped item rows and of the encoder's user vector: dim × members. */
export function shippedDim(c: SasrecConfig): number {
  return c.dim * memberCount(c);
}

export function shippedItemTable(c: SasrecConfig, weights: WeightArrays): Float32Array {
  const K = memberCount(c);
  if (K > 1) {
    // Row r = the members' rows r side by side (dim · K wide).
    const one = memberConfig(c);
    const tables = Array.from({ length: K }, (_, k) =>
      shippedItemTable(one, memberWeights(c, weights, k)),
    );
    const d = one.dim;
    const rows = one.numItems + 1;
    const out = new Float32Array(rows * d * K);
    for (let r = 0; r < rows; r++)
      tables.forEach((t, k) => out.set(t.subarray(r * d, (r + 1) * d), (r * K + k) * d));
    return out;
  }
  if (c.itemBias)
    throw new LocalrecError('bad-input', 'models trained with --item-bias cannot be exported yet');
  const table = weights['item_emb'];
  if (!table) throw new LocalrecError('bad-format', 'SASRec weights lack item_emb');
  if (!((c.cosineTemperature ?? 0) > 0)) return table.data;
  const dim = c.dim;
  const out = new Float32Array(table.data.length);
  for (let r = 0; r * dim < out.length; r++) {
    let ss = 0;
    for (let j = 0; j < dim; j++) ss += table.data[r * dim + j]! ** 2;
    const inv = 1 / Math.sqrt(ss + 1e-12);
    for (let j = 0; j < dim; j++) out[r * dim + j] = table.data[r * dim + j]! * inv;
  }
  return out;
}

export function quantizeSasrecWeights(
  c: SasrecConfig,
  weights: WeightArrays,
  scheme: 'int8' | 'int4',
  opts: { int4BlockSize?: number } = {},
): { quantized: QuantizedSasrec; dequantized: WeightArrays } {
  validateModelConfig(c);
  const block = opts.int4BlockSize ?? DEFAULT_INT4_BLOCK;
  if (scheme === 'int4') checkBlock(block);
  const tensors: Record<string, QuantizedTensor> = {};
  const dequantized: WeightArrays = {};
  for (const [name, shape] of Object.entries(weightShapes(c))) {
    const w = checkedWeight(c, weights, name, shape);
    if (shape.length !== 2) {
      tensors[name] = { kind: 'f32', shape, data: w.data };
      dequantized[name] = { data: w.data, shape };
      continue;
    }
    const [rows, cols] = shape as [number, number];
    const perRow = EMBEDDINGS.has(name.replace(/^m\d+\./, '')); // an ensemble member's too
    let data: Float32Array;
    if (scheme === 'int8') {
      const { q, scales } = perRow
        ? quantizeRowsInt8(w.data, rows, cols)
        : quantizeColumnsInt8(w.data, rows, cols);
      tensors[name] = { kind: 'int8', shape: [rows, cols], q, scales, axis: perRow ? 0 : 1 };
      data = perRow
        ? dequantizeRowsInt8(q, scales, rows, cols)
        : dequantizeColumnsInt8(q, scales, rows, cols);
    } else {
      // Embedding rows in blocks along dim; (in, out) matrices in blocks down each output column.
      const int4 = quantizeInt4(w.data, rows, cols, { axis: perRow ? 1 : 0, blockSize: block });
      tensors[name] = { kind: 'int4', shape: [rows, cols], int4 };
      data = dequantizeInt4(int4);
    }
    dequantized[name] = { data, shape };
  }
  return { quantized: { scheme, tensors }, dequantized };
}

function fp32Tensors(c: SasrecConfig, weights: WeightArrays): QuantizedSasrec {
  const tensors: Record<string, QuantizedTensor> = {};
  for (const [name, shape] of Object.entries(weightShapes(c))) {
    tensors[name] = { kind: 'f32', shape, data: checkedWeight(c, weights, name, shape).data };
  }
  return { scheme: 'fp32', tensors };
}

/** Emits weights into the graph on first use, under their checkpoint names. */
class WeightEmitter {
  private readonly done = new Map<string, string>();
  constructor(
    private readonly g: OnnxGraphBuilder,
    private readonly w: QuantizedSasrec,
  ) {}

  tensor(name: string): QuantizedTensor {
    const t = this.w.tensors[name];
    if (!t) throw new LocalrecError('internal', `SASRec export: no weight ${name}`);
    return t;
  }

  /** The float32 value of a weight: the initializer itself, or a DequantizeLinear of it. */
  float(name: string): string {
    const hit = this.done.get(name);
    if (hit) return hit;
    const { g } = this;
    const t = this.tensor(name);
    let out: string;
    if (t.kind === 'f32') {
      out = g.float(name, t.shape, t.data);
    } else if (t.kind === 'int8') {
      const q = g.int8(`${name}.q`, t.shape, t.q);
      const s = g.float(`${name}.scale`, [t.scales.length], t.scales);
      out = g.node('DequantizeLinear', [q, s], { axis: t.axis }, [name])[0]!;
    } else {
      const z = t.int4;
      const q = g.initializer(`${name}.q`, 'int4', t.shape, z.packed);
      const s = g.float(`${name}.scale`, z.scaleShape, z.scales);
      out = g.node('DequantizeLinear', [q, s], { axis: z.axis, block_size: z.blockSize }, [
        name,
      ])[0]!;
    }
    this.done.set(name, out);
    return out;
  }

  /** Item embeddings of ids (batch, T) → (batch, T, dim), dequantizing only the gathered rows. */
  lookupItems(ids: string, idsShape: string, dim: number, prefix = ''): string {
    const { g } = this;
    const name = `${prefix}item_emb`;
    const t = this.tensor(name);
    if (t.kind === 'f32') return g.op('Gather', [this.float(name), ids], { axis: 0 });
    if (t.kind === 'int4') {
      const z = t.int4;
      const q = g.initializer(`${name}.q`, 'int4', t.shape, z.packed);
      const s = g.float(`${name}.scale`, z.scaleShape, z.scales); // (numItems+1, ceil(dim / block))
      return g.op(
        'GatherBlockQuantized',
        [q, ids, s],
        { gather_axis: 0, quantize_axis: 1, block_size: z.blockSize, bits: 4 },
        'com.microsoft',
      );
    }
    const q = g.int8(`${name}.q`, t.shape, t.q);
    const s = g.float(`${name}.scale`, [t.scales.length], t.scales);
    const flat = g.op('Reshape', [ids, g.ints([-1])]); // (batch*T)
    const rows = g.op('Gather', [q, flat], { axis: 0 }); // (batch*T, dim) int8
    const rowScales = g.op('Gather', [s, flat], { axis: 0 }); // (batch*T)
    const deq = g.op('DequantizeLinear', [rows, rowScales], { axis: 0 }); // (batch*T, dim)
    return g.op('Reshape', [deq, g.op('Concat', [idsShape, g.ints([dim])], { axis: 0 })]); // (batch, T, dim)
  }
}

/**
 * Builds the SASRec user encoder as an ONNX model (protobuf bytes).
 * Input `item_ids` int64 (batch, seq), both dynamic, seq ≤ maxLen, left-padded with 0.
 * Output `user_vec` float32 (batch, dim). Config and quantization are stored as metadata
 * (`localrec.sasrec.config`, `localrec.quantization`).
 */
export function exportSasrecEncoder(
  c: SasrecConfig,
  weights: WeightArrays,
  opts: SasrecExportOptions,
): Uint8Array {
  validateModelConfig(c);
  if (c.itemBias)
    throw new LocalrecError(
      'bad-input',
      'this model was trained with --item-bias (an experiment: docs/BENCHMARKS.md run P); exporting its bias is not supported — train without it',
    );
  const scheme = opts.quantization;
  if (scheme !== 'fp32' && scheme !== 'int8' && scheme !== 'int4') {
    throw new LocalrecError(
      'bad-input',
      `quantization must be one of fp32, int8, int4; got ${String(scheme)}`,
    );
  }
  const qw =
    scheme === 'fp32'
      ? fp32Tensors(c, weights)
      : quantizeSasrecWeights(c, weights, scheme, opts).quantized;
  const g = new OnnxGraphBuilder('sasrec_encoder');
  const w = new WeightEmitter(g, qw);
  const K = memberCount(c);
  const one = memberConfig(c);
  const { dim, heads, maxLen, layerNormEps } = one;
  const dh = dim / heads;
  const lastSlice = [g.ints([-1]), g.ints([Number.MAX_SAFE_INTEGER]), g.ints([1])]; // Slice starts/ends/axes: position T-1

  const ids = g.input(ENCODER_INPUT, 'int64', ['batch', 'seq']);
  const idsShape = g.op('Shape', [ids]); // [batch, T]
  const T = g.op('Gather', [idsShape, g.intScalar(1)], { axis: 0 }); // scalar
  const Tvec = g.op('Unsqueeze', [T, g.ints([0])]); // [T]
  const mask = g.op('Cast', [g.op('Not', [g.op('Equal', [ids, g.intScalar(0)])])], {
    to: ElemType.float32,
  }); // (batch, T)
  const mask3 = g.op('Unsqueeze', [mask, g.ints([2])]); // (batch, T, 1)

  // Additive attention bias, as model.ts: causal (T, T) + key padding (batch, 1, 1, T).
  const keyPad = g.op('Unsqueeze', [
    g.op('Mul', [g.op('Sub', [g.scalar(1), mask]), g.scalar(MASK_VALUE)]),
    g.ints([1, 2]),
  ]);
  let bias: string | null = null;
  const fullBias = (): string => {
    if (bias) return bias;
    const r = g.op('Range', [g.intScalar(0), T, g.intScalar(1)]); // (T)
    // above[i][j] = j > i: the future keys of query i.
    const above = g.op('Greater', [
      g.op('Unsqueeze', [r, g.ints([0])]),
      g.op('Unsqueeze', [r, g.ints([1])]),
    ]);
    const causal = g.op('Mul', [
      g.op('Cast', [above], { to: ElemType.float32 }),
      g.scalar(MASK_VALUE),
    ]); // (T, T)
    bias = g.op('Add', [causal, keyPad]); // (batch, 1, T, T)
    return bias;
  };

  const dense = (v: string, p: string, wName: string, bName: string) =>
    g.op('Add', [g.op('MatMul', [v, w.float(p + wName)]), w.float(p + bName)]);
  const layerNorm = (v: string, p: string) =>
    g.op('LayerNormalization', [v, w.float(`${p}.gamma`), w.float(`${p}.beta`)], {
      axis: -1,
      epsilon: { float: layerNormEps },
    });
  const headShape = g.ints([0, 0, heads, dh]);
  const splitHeads = (v: string) =>
    g.op('Transpose', [g.op('Reshape', [v, headShape])], { perm: [0, 2, 1, 3] }); // (batch, heads, L, dh)

  /**
   * One member's user vector (batch, dim) from the weights under `m` (an ensemble member's
   * prefix, or '' for a single model), divided by `share`; `out` names its last node.
   */
  const member = (m: string, share: number, out?: string): string => {
    // Positions are right-aligned: a batch of length T uses rows maxLen-T .. maxLen-1.
    const emb = w.lookupItems(ids, idsShape, dim, m); // (batch, T, dim)
    const posStart = g.op('Sub', [g.ints([maxLen]), Tvec]);
    const pos = g.op('Slice', [w.float(`${m}pos_emb`), posStart, g.ints([maxLen]), g.ints([0])]); // (T, dim)
    let x = g.op('Add', [g.op('Mul', [emb, g.scalar(Math.sqrt(dim))]), pos]);
    x = g.op('Mul', [x, mask3]); // (batch, T, dim)

    for (let i = 0; i < one.blocks; i++) {
      const p = `${m}blocks.${i}.`;
      const last = i === one.blocks - 1;
      const h = layerNorm(x, `${p}ln1`); // (batch, T, dim): keys and values need every position
      const hq = last ? g.op('Slice', [h, ...lastSlice]) : h; // (batch, L, dim), L = 1 in the last block
      const q = splitHeads(dense(hq, p, 'attn.wq', 'attn.bq')); // (batch, heads, L, dh)
      const kT = g.op(
        'Transpose',
        [g.op('Reshape', [dense(h, p, 'attn.wk', 'attn.bk'), headShape])],
        { perm: [0, 2, 3, 1] },
      ); // (batch, heads, dh, T)
      const v = splitHeads(dense(h, p, 'attn.wv', 'attn.bv')); // (batch, heads, T, dh)
      // The last query's causal row is all zeros, so its bias is only the key padding.
      const scores = g.op('Add', [
        g.op('Div', [g.op('MatMul', [q, kT]), g.scalar(Math.sqrt(dh))]),
        last ? keyPad : fullBias(),
      ]); // (batch, heads, L, T)
      const probs = g.op('Softmax', [scores], { axis: -1 });
      const ctx = g.op('Reshape', [
        g.op('Transpose', [g.op('MatMul', [probs, v])], { perm: [0, 2, 1, 3] }),
        g.ints([0, 0, dim]),
      ]); // (batch, L, dim)
      const xq = last ? g.op('Slice', [x, ...lastSlice]) : x;
      x = g.op('Add', [xq, dense(ctx, p, 'attn.wo', 'attn.bo')]);

      const h2 = layerNorm(x, `${p}ln2`);
      const f = dense(g.op('Relu', [dense(h2, p, 'ffn.w1', 'ffn.b1')]), p, 'ffn.w2', 'ffn.b2');
      x = g.op('Mul', [g.op('Add', [x, f]), last ? g.op('Slice', [mask3, ...lastSlice]) : mask3]); // (batch, L, dim)
    }
    const y = layerNorm(x, `${m}final_ln`); // (batch, 1, dim)
    // The member's last node: named `out` when given (a single model's graph output).
    const final = (op: string, inputs: string[]) =>
      out ? g.node(op, inputs, {}, [out])[0]! : g.op(op, inputs);
    const squeezed = () => g.op('Squeeze', [y, g.ints([1])]); // (batch, dim)
    const temperature = one.cosineTemperature ?? 0;
    if (temperature > 0) {
      // Cosine scoring (model.ts outputSides): the user vector is h / (|h| · T), so its dot product
      // with a unit-norm shard row is cos / T. ReduceSum takes axes as an input from opset 13.
      const h = squeezed();
      const sq = g.op('ReduceSum', [g.op('Mul', [h, h]), g.ints([1])], { keepdims: 1 });
      const norm = g.op('Sqrt', [g.op('Add', [sq, g.scalar(1e-12)])]); // (batch, 1)
      return final('Div', [h, g.op('Mul', [norm, g.scalar(temperature * share)])]);
    }
    return share === 1
      ? final('Squeeze', [y, g.ints([1])])
      : final('Div', [squeezed(), g.scalar(share)]);
  };

  if (K === 1) member('', 1, ENCODER_OUTPUT);
  else {
    // An ensemble: the members' vectors side by side, each divided by K, so a dot product with a
    // shard row (the members' rows side by side) is the mean of the members' scores.
    const parts = Array.from({ length: K }, (_, k) => member(memberPrefix(k), K));
    g.node('Concat', parts, { axis: 1 }, [ENCODER_OUTPUT]);
  }
  g.output(ENCODER_OUTPUT, 'float32', ['batch', dim * K]);

  const int4 = scheme === 'int4';
  return g.toBytes({
    // INT4 tensors and blocked DequantizeLinear need opset 21 (IR 10); the rest runs on 17 (IR 8).
    opsets: int4
      ? [
          { domain: '', version: 21 },
          { domain: 'com.microsoft', version: 1 },
        ]
      : [{ domain: '', version: 17 }],
    irVersion: int4 ? 10 : 8,
    docString: `SASRec user encoder: ${ENCODER_INPUT} (batch, seq) int64, left-padded with 0 -> ${ENCODER_OUTPUT} (batch, dim)`,
    metadata: {
      'localrec.model': 'sasrec-encoder',
      'localrec.sasrec.config': JSON.stringify(c),
      'localrec.quantization': scheme,
    },
  });
}

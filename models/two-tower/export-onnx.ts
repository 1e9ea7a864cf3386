/**
 * Two-tower user tower → ONNX, with the same input/output names as the SASRec encoder
 * (src/core/encoder-io.ts), so the ranker worker can run either:
 * item_ids (batch, seq) int64, left-padded with 0, seq ≤ maxLen → user_vec (batch, dim) float32.
 * A model with context features (config.context) has a second input, `context` (batch, C)
 * float32: the request-context vector of src/core/context.ts, which the ranker computes from
 * the visitor's clock; a model without has only `item_ids`, exactly as before.
 *
 * The graph is `encodeUsers()` of model.ts, op for op: history vectors are gathered from the
 * item-vector table (the item tower's output for every item: the same rows the item shards
 * ship), pooled (mean and recency-weighted mean over the real items), passed through the MLP
 * head, L2-normalised. The item tower itself is not in the graph: its outputs are data.
 *
 * Quantization (weights only; activations stay float32), opset 17, IR 8:
 * - fp32: every weight as float32.
 * - int8: the table per row and the MLP matrices per output column, symmetric, zero point 0,
 *   DequantizeLinear — as the SASRec export. Table rows are gathered first and dequantized
 *   after, so a run costs O(batch·seq·dim), not O(numItems·dim). Biases stay float32.
 */
import {
  dequantizeColumnsInt8,
  dequantizeRowsInt8,
  quantizeColumnsInt8,
  quantizeRowsInt8,
} from '../../src/core/quantize.ts';
import { contextWidth } from '../../src/core/context.ts';
import { ENCODER_CONTEXT_INPUT, ENCODER_INPUT, ENCODER_OUTPUT } from '../../src/core/encoder-io.ts';
import { LocalrecError } from '../../src/core/errors.ts';
import { ElemType, OnnxGraphBuilder } from '../onnx/graph-builder.ts';
import type { QuantizedTensor } from '../onnx/quantized-tensor.ts';
import type { WeightArrays } from '../weights.ts';
import { validateTwoTowerConfig, type TwoTowerConfig } from './config.ts';
import { NORM_EPS, recencyWeights, USER_TOWER_WEIGHTS, weightShapes } from './model.ts';

export type TwoTowerQuantization = 'fp32' | 'int8';

/** Name of the item-vector table inside the exported graph. */
const TABLE = 'item_vectors';

function checked(
  name: string,
  a: { data: Float32Array; shape: number[] } | undefined,
  shape: number[],
) {
  if (!a) throw new LocalrecError('bad-input', `two-tower weights lack ${name}`);
  const n = shape.reduce((x, y) => x * y, 1);
  if (a.shape.join(',') !== shape.join(',') || a.data.length !== n) {
    throw new LocalrecError(
      'bad-input',
      `two-tower ${name} has shape [${a.shape}] (${a.data.length} values); the config needs [${shape}]`,
    );
  }
  return a;
}

/**
 * The user tower's tensors in exported form, and the float32 values the exported model
 * computes with (`dequantized`: the user weights plus `item_vectors`), so a tfjs model built
 * from them matches the ONNX model up to float rounding. `table` is (numItems+1, dim).
 */
export function quantizeUserTower(
  c: TwoTowerConfig,
  weights: WeightArrays,
  table: Float32Array,
  scheme: TwoTowerQuantization,
): { tensors: Record<string, QuantizedTensor>; dequantized: WeightArrays } {
  validateTwoTowerConfig(c);
  if (scheme !== 'fp32' && scheme !== 'int8') {
    throw new LocalrecError(
      'bad-input',
      `quantization must be fp32 or int8; got ${String(scheme)}`,
    );
  }
  const shapes = weightShapes(c);
  const all: Record<string, { data: Float32Array; shape: number[] }> = {
    [TABLE]: checked(TABLE, { data: table, shape: [c.numItems + 1, c.dim] }, [
      c.numItems + 1,
      c.dim,
    ]),
  };
  for (const n of USER_TOWER_WEIGHTS) all[n] = checked(n, weights[n], shapes[n]!);
  const tensors: Record<string, QuantizedTensor> = {};
  const dequantized: WeightArrays = {};
  for (const [name, w] of Object.entries(all)) {
    if (scheme === 'fp32' || w.shape.length !== 2) {
      tensors[name] = { kind: 'f32', shape: w.shape, data: w.data };
      dequantized[name] = { data: w.data, shape: w.shape };
      continue;
    }
    const [rows, cols] = w.shape as [number, number];
    const perRow = name === TABLE;
    const { q, scales } = perRow
      ? quantizeRowsInt8(w.data, rows, cols)
      : quantizeColumnsInt8(w.data, rows, cols);
    tensors[name] = { kind: 'int8', shape: [rows, cols], q, scales, axis: perRow ? 0 : 1 };
    dequantized[name] = {
      data: perRow
        ? dequantizeRowsInt8(q, scales, rows, cols)
        : dequantizeColumnsInt8(q, scales, rows, cols),
      shape: w.shape,
    };
  }
  return { tensors, dequantized };
}

/**
 * Builds the user tower as an ONNX model (protobuf bytes): input `item_ids` int64
 * (batch, seq), both dynamic, seq ≤ maxLen, left-padded with 0 (and `context` (batch, C)
 * float32 for a model with context features); output `user_vec` float32
 * (batch, dim), unit length. `table` is the item tower's output for every item
 * ((numItems+1, dim), row 0 zeros). Config and quantization are stored as metadata.
 */
export function exportTwoTowerUserTower(
  c: TwoTowerConfig,
  weights: WeightArrays,
  table: Float32Array,
  opts: { quantization: TwoTowerQuantization },
): Uint8Array {
  const { tensors } = quantizeUserTower(c, weights, table, opts.quantization);
  const g = new OnnxGraphBuilder('two_tower_user_tower');
  const float = (name: string): string => {
    const t = tensors[name]!;
    if (t.kind === 'f32') return g.float(name, t.shape, t.data);
    if (t.kind !== 'int8')
      throw new LocalrecError('internal', `unexpected ${t.kind} tensor ${name}`);
    const q = g.int8(`${name}.q`, t.shape, t.q);
    const s = g.float(`${name}.scale`, [t.scales.length], t.scales);
    return g.node('DequantizeLinear', [q, s], { axis: t.axis }, [name])[0]!;
  };
  const { dim, maxLen } = c;

  const ids = g.input(ENCODER_INPUT, 'int64', ['batch', 'seq']);
  const idsShape = g.op('Shape', [ids]); // [batch, T]
  const Tvec = g.op('Unsqueeze', [
    g.op('Gather', [idsShape, g.intScalar(1)], { axis: 0 }),
    g.ints([0]),
  ]);
  const mask = g.op('Cast', [g.op('Not', [g.op('Equal', [ids, g.intScalar(0)])])], {
    to: ElemType.float32,
  }); // (batch, T)

  // History vectors (batch, T, dim): int8 rows are gathered, then dequantized with their scales.
  let hist: string;
  const t = tensors[TABLE]!;
  if (t.kind === 'int8') {
    const q = g.int8(`${TABLE}.q`, t.shape, t.q);
    const s = g.float(`${TABLE}.scale`, [t.scales.length], t.scales);
    const flat = g.op('Reshape', [ids, g.ints([-1])]); // (batch·T)
    const rows = g.op(
      'DequantizeLinear',
      [g.op('Gather', [q, flat], { axis: 0 }), g.op('Gather', [s, flat], { axis: 0 })],
      { axis: 0 },
    ); // (batch·T, dim)
    hist = g.op('Reshape', [rows, g.op('Concat', [idsShape, g.ints([dim])], { axis: 0 })]);
  } else {
    hist = g.op('Gather', [float(TABLE), ids], { axis: 0 });
  }

  // Recency weights are right-aligned like SASRec's positions: the last T of γ^(maxLen-1-k).
  const rwAll = g.float('recency_weights', [maxLen], recencyWeights(c));
  const rw = g.op('Slice', [
    rwAll,
    g.op('Sub', [g.ints([maxLen]), Tvec]),
    g.ints([maxLen]),
    g.ints([0]),
  ]);
  const axis1 = g.ints([1]);
  const pool = (m: string) =>
    g.op('Div', [
      g.op('ReduceSum', [g.op('Mul', [hist, g.op('Unsqueeze', [m, g.ints([2])])]), axis1], {
        keepdims: 0,
      }),
      g.op('Max', [g.op('ReduceSum', [m, axis1], { keepdims: 1 }), g.scalar(1)]),
    ]); // (batch, dim)
  const mean = pool(mask);
  const rec = pool(g.op('Mul', [mask, rw]));

  const C = contextWidth(c.context);
  const parts = [mean, rec];
  if (C > 0) parts.push(g.input(ENCODER_CONTEXT_INPUT, 'float32', ['batch', C]));
  const u = g.op('Concat', parts, { axis: 1 }); // (batch, 2·dim + C)
  const h = g.op('Relu', [g.op('Add', [g.op('MatMul', [u, float('user.w1')]), float('user.b1')])]);
  const out = g.op('Add', [g.op('MatMul', [h, float('user.w2')]), float('user.b2')]);
  const y = g.op('Add', [g.op('Add', [mean, rec]), out]);
  const norm = g.op('Sqrt', [
    g.op('Add', [
      g.op('ReduceSum', [g.op('Mul', [y, y]), axis1], { keepdims: 1 }),
      g.scalar(NORM_EPS),
    ]),
  ]);
  g.node('Div', [y, norm], {}, [ENCODER_OUTPUT]);
  g.output(ENCODER_OUTPUT, 'float32', ['batch', dim]);

  return g.toBytes({
    opsets: [{ domain: '', version: 17 }],
    irVersion: 8,
    docString:
      `two-tower user tower: ${ENCODER_INPUT} (batch, seq) int64, left-padded with 0` +
      (C > 0
        ? `, ${ENCODER_CONTEXT_INPUT} (batch, ${C}) float32 (${c.context!.features.join(', ')})`
        : '') +
      ` -> ${ENCODER_OUTPUT} (batch, dim), unit length`,
    metadata: {
      'localrec.model': 'two-tower-user-tower',
      'localrec.two-tower.config': JSON.stringify(c),
      'localrec.quantization': opts.quantization,
    },
  });
}

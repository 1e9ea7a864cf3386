// Diagnostic: where a cosine SASRec's int8 loss comes from — the encoder's int8 weights or the
// int8 item rows. Prints valid/test NDCG@10 (full ranking) for each combination.
// Usage: node --import tsx scripts/diag-int8-rows.ts <model dir with sasrec.ckpt>
import { evaluateRanking } from '../src/core/metrics.ts';
import { loadDataset } from '../src/cli/data.ts';
import { splitForCheckpoint } from '../src/cli/evaluate.ts';
import { readSasrecCheckpoint } from '../src/cli/model-dir.ts';
import { initTf } from '../src/cli/tf-node.ts';
import { arraysToWeights, encode } from '../models/sasrec/model.ts';
import { quantizeSasrecWeights, shippedItemTable } from '../models/sasrec/export-onnx.ts';
import { usersByTrainLength } from '../models/training/examples.ts';
import {
  dequantizeRowsInt8,
  quantizeRowsInt8,
  float16ToFloat32,
  float32ToFloat16,
} from '../src/core/quantize.ts';

await initTf();
const ck = readSasrecCheckpoint(process.argv[2]!);
const c = ck.config;
const split = splitForCheckpoint(loadDataset(ck.meta.dataSource), ck.meta.itemIds);
const users = usersByTrainLength(split);
const deq = quantizeSasrecWeights(c, ck.weights, 'int8').dequantized;
const n = c.numItems + 1,
  d = c.dim,
  T = c.cosineTemperature!;
const rowsFp = shippedItemTable(c, ck.weights);
const q8 = quantizeRowsInt8(rowsFp, n, d);
const rowsI8 = dequantizeRowsInt8(q8.q, q8.scales, n, d);
const rowsF16 = float16ToFloat32(float32ToFloat16(rowsFp));
function scorer(encW: typeof ck.weights, rows: Float32Array) {
  const w = arraysToWeights(c, encW);
  return async (inputs: Int32Array[]) => {
    const h = (await encode(c, w, inputs).data()) as Float32Array;
    return inputs.map((_, b) => {
      const u = h.subarray(b * d, (b + 1) * d);
      let nn = 0;
      for (const x of u) nn += x * x;
      const inv = 1 / (Math.sqrt(nn + 1e-12) * T);
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        let s = 0;
        for (let j = 0; j < d; j++) s += u[j]! * rows[i * d + j]!;
        out[i] = s * inv;
      }
      return out;
    });
  };
}
for (const [name, enc, rows] of [
  ['fp32 enc + fp32 rows', ck.weights, rowsFp],
  ['fp32 enc + int8 rows', ck.weights, rowsI8],
  ['int8 enc + fp32 rows', deq, rowsFp],
  ['int8 enc + int8 rows', deq, rowsI8],
  ['int8 enc + f16 rows', deq, rowsF16],
] as const) {
  const s = scorer(enc, rows);
  const v = await evaluateRanking(split, 'valid', s, { users });
  const t = await evaluateRanking(split, 'test', s, { users });
  console.log(name, 'valid', v.full.ndcg10.toFixed(4), 'test', t.full.ndcg10.toFixed(4));
}

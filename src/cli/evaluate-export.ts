/**
 * Scores from an export folder as a browser computes them: the int8 ONNX encoder run by
 * onnxruntime-web (wasm), dotted with the item shards' rows decoded by src/core/shard.ts. What
 * `localrec eval`, `bench:accuracy` and `localrec fedsim` report as the accuracy: that of what
 * ships, not of a float twin beside it.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-web';
import { ENCODER_INPUT, ENCODER_OUTPUT } from '../core/encoder-io.ts';
import { LocalrecError } from '../core/errors.ts';
import { evaluateRanking, type BatchScorer } from '../core/metrics.ts';
import type { SplitData } from '../core/types.ts';
import { usersByTrainLength } from '../../models/training/examples.ts';
import type { EvalResult } from './evaluate.ts';
import { exportModelDir, type ExportSummary, type Quantization } from './export.ts';
import { decodeShard, shardRowsAsFloat32 } from '../core/shard.ts';

/** A scorer over an export's SASRec, and the numbers it needs. */
export interface ExportScorer {
  score: BatchScorer;
  numItems: number;
  release(): Promise<void>;
}

/** Left-padded int64 ids (batch, T), the last maxLen items of each sequence. */
function padIds(seqs: ArrayLike<number>[], maxLen: number): ort.Tensor {
  const T = Math.max(1, Math.min(maxLen, Math.max(...seqs.map((s) => s.length))));
  const out = new BigInt64Array(seqs.length * T);
  seqs.forEach((s, b) => {
    const n = Math.min(T, s.length);
    for (let j = 0; j < n; j++) out[b * T + T - n + j] = BigInt(s[s.length - n + j]!);
  });
  return new ort.Tensor('int64', out, [seqs.length, T]);
}

/** Opens `dir`'s manifest.json and blobs/ and returns a full-catalog scorer (index 0 = −∞). */
export async function exportScorer(dir: string): Promise<ExportScorer> {
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as {
    models?: { sasrec?: { encoder?: { sha256: string }; config?: { maxLen: number } } };
    shards?: { sha256: string }[];
  };
  const sasrec = manifest.models?.sasrec;
  if (!sasrec?.encoder || !sasrec.config || !Array.isArray(manifest.shards))
    throw new LocalrecError('bad-format', `${dir}/manifest.json has no SASRec encoder and shards`);
  const blob = (sha: string) => new Uint8Array(readFileSync(join(dir, 'blobs', sha)));
  const shards = manifest.shards.map((s) => decodeShard(blob(s.sha256)));
  const dim = shards[0]!.dim;
  const numItems = shards.reduce((n, s) => Math.max(n, s.baseIndex + s.count - 1), 0);
  const table = new Float32Array((numItems + 1) * dim);
  for (const s of shards) table.set(shardRowsAsFloat32(s), s.baseIndex * dim);
  ort.env.wasm.numThreads = 1;
  const session = await ort.InferenceSession.create(blob(sasrec.encoder.sha256), {
    executionProviders: ['wasm'],
  });
  const maxLen = sasrec.config.maxLen;
  const score: BatchScorer = async (inputs) => {
    const out = await session.run({ [ENCODER_INPUT]: padIds(inputs, maxLen) });
    const user = out[ENCODER_OUTPUT]!.data as Float32Array;
    if (user.length !== inputs.length * dim)
      throw new LocalrecError('bad-format', `the encoder's user vectors are not ${dim} wide`);
    return inputs.map((_, b) => {
      const q = user.subarray(b * dim, (b + 1) * dim);
      const scores = new Float32Array(numItems + 1);
      scores[0] = -Infinity;
      for (let i = 1; i <= numItems; i++) {
        let acc = 0;
        const row = i * dim;
        for (let j = 0; j < dim; j++) acc += q[j]! * table[row + j]!;
        scores[i] = acc;
      }
      return scores;
    });
  };
  return { score, numItems, release: () => session.release() };
}

/**
 * Full-ranking and sampled-100 metrics of an export folder on validation and test, scored by
 * {@link exportScorer}: the shipped encoder and the decoded shards.
 */
export async function evaluateExport(dir: string, split: SplitData): Promise<EvalResult> {
  const scorer = await exportScorer(dir);
  try {
    if (scorer.numItems !== split.numItems)
      throw new LocalrecError(
        'bad-input',
        `the export at ${dir} ships ${scorer.numItems} items but the data has ${split.numItems}; evaluate on the data the model was trained on`,
      );
    // Users of similar history length share a batch: less padding in the encoder.
    const users = usersByTrainLength(split);
    const valid = await evaluateRanking(split, 'valid', scorer.score, { users });
    const test = await evaluateRanking(split, 'test', scorer.score, { users });
    return { valid, test };
  } finally {
    await scorer.release();
  }
}

/** What {@link evaluateShipped} measured: the export's metrics and its sizes. */
export interface ShippedEvalResult extends EvalResult {
  quantization: Quantization;
  bytes: ExportSummary['bytes'];
  shards: number;
}

/**
 * Exports `modelDir` with the real export path (`localrec export`, into a temporary folder
 * that is removed afterwards, so the model's own export/ is left alone) and evaluates what it
 * wrote with {@link evaluateExport}.
 */
export async function evaluateShipped(
  modelDir: string,
  split: SplitData,
  quantization: Quantization = 'int8',
  opts: { shardItems?: number } = {},
): Promise<ShippedEvalResult> {
  const out = mkdtempSync(join(tmpdir(), 'localrec-eval-'));
  try {
    const exp = exportModelDir({ modelDir, out, quantization, shardItems: opts.shardItems });
    const metrics = await evaluateExport(out, split);
    return { quantization, ...metrics, bytes: exp.bytes, shards: exp.shards };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

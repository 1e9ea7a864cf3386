import { isLocalrecError, LocalrecError } from '../../core/errors.ts';
import { loadDataset } from '../data.ts';
import { evaluateSasrec, splitForCheckpoint, type EvalQuantization } from '../evaluate.ts';
import { evaluateShipped } from '../evaluate-export.ts';
import type { Quantization } from '../export.ts';
import { requiredFlag, type Command } from '../command.ts';
import { MODEL_FLAG_HINT, readSasrecCheckpoint } from '../model-dir.ts';

const SCHEMES: readonly EvalQuantization[] = ['fp32', 'int8', 'int4'];

/** A comma-separated list of quantization schemes ('' or 'none': none). */
export function parseSchemes(raw: unknown, flag: string): EvalQuantization[] {
  const text = String(raw ?? '').trim();
  if (text === '' || text === 'none') return [];
  return text.split(',').map((s) => {
    const q = s.trim();
    if (!SCHEMES.includes(q as EvalQuantization))
      throw new LocalrecError(
        'bad-input',
        `${flag} takes ${SCHEMES.join(', ')} (comma-separated) or none; got '${q}'`,
      );
    return q as EvalQuantization;
  });
}

/** `--shipped`: the one export quantization to score (default int8, what `localrec export` ships). */
export function parseShipped(raw: unknown): Quantization {
  const [q, ...rest] = parseSchemes(raw ?? 'int8', '--shipped');
  if (q === undefined || rest.length > 0)
    throw new LocalrecError('bad-input', `--shipped takes one of ${SCHEMES.join(', ')}`);
  return q;
}

export const evalCommand: Command = {
  summary:
    'evaluate a checkpoint as it ships (the exported encoder and decoded shards): HR@10 and NDCG@10, full ranking and sampled-100, validation and test',
  usage:
    'localrec eval --model <dir> [--data <path>] [--shipped int8] [--quantization fp32,int8|none]',
  options: {
    model: { type: 'string', description: 'folder with sasrec.ckpt' },
    data: {
      type: 'string',
      description: 'the dataset it was trained on (default: the one recorded in the checkpoint)',
    },
    shipped: {
      type: 'string',
      default: 'int8',
      description:
        'export quantization to score: the model is exported as `localrec export` does (into a temporary folder) and scored through the ONNX encoder and the decoded shards',
    },
    quantization: {
      type: 'string',
      default: 'fp32,int8',
      description:
        'in-memory twins to report beside the shipped figure (tfjs, comma-separated: fp32, int8, int4; none for none)',
    },
  },
  async run(v) {
    const model = requiredFlag(v, 'model', MODEL_FLAG_HINT);
    const shipped = parseShipped(v['shipped']);
    const twins = parseSchemes(v['quantization'], '--quantization');
    const ck = readSasrecCheckpoint(model);
    const data = typeof v['data'] === 'string' ? v['data'] : ck.meta.dataSource;
    const split = splitForCheckpoint(loadDataset(data), ck.meta.itemIds);
    process.stderr.write(`exporting ${shipped} and scoring what ships…\n`);
    const out: Record<string, unknown> = { dataset: ck.meta.dataset, bestEpoch: ck.meta.bestEpoch };
    try {
      out['shipped'] = await evaluateShipped(model, split, shipped);
    } catch (e) {
      // A model the export refuses (e.g. --item-bias) ships nothing: say so, show the twins.
      if (!isLocalrecError(e) || e.code !== 'bad-input') throw e;
      process.stderr.write(`this model cannot be exported, so nothing ships: ${e.message}\n`);
      out['shipped'] = null;
      out['shippedError'] = { code: e.code, message: e.message };
    }
    const inMemory: Record<string, unknown> = {};
    for (const q of twins) {
      process.stderr.write(`evaluating the in-memory ${q} twin…\n`);
      inMemory[q] = await evaluateSasrec(ck.config, ck.weights, split, q);
    }
    if (twins.length > 0) out['inMemory'] = inMemory;
    return out;
  },
};

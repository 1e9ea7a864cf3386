import { LocalrecError } from '../../core/errors.ts';
import { loadDataset } from '../data.ts';
import { evaluateSasrec, splitForCheckpoint, type EvalQuantization } from '../evaluate.ts';
import { requiredFlag, type Command } from '../command.ts';
import { MODEL_FLAG_HINT, readSasrecCheckpoint } from '../model-dir.ts';

export const evalCommand: Command = {
  summary:
    'evaluate a checkpoint: HR@10 and NDCG@10, full ranking and sampled-100, validation and test',
  usage: 'localrec eval --model <dir> [--data <path>] [--quantization fp32,int8]',
  options: {
    model: { type: 'string', description: 'folder with sasrec.ckpt' },
    data: {
      type: 'string',
      description: 'the dataset it was trained on (default: the one recorded in the checkpoint)',
    },
    quantization: {
      type: 'string',
      default: 'fp32,int8',
      description: 'comma-separated: fp32, int8, int4',
    },
  },
  async run(v) {
    const model = requiredFlag(v, 'model', MODEL_FLAG_HINT);
    const ck = readSasrecCheckpoint(model);
    const data = typeof v['data'] === 'string' ? v['data'] : ck.meta.dataSource;
    const split = splitForCheckpoint(loadDataset(data), ck.meta.itemIds);
    const qs = String(v['quantization'])
      .split(',')
      .map((s) => s.trim());
    const out: Record<string, unknown> = { dataset: ck.meta.dataset, bestEpoch: ck.meta.bestEpoch };
    for (const q of qs) {
      if (q !== 'fp32' && q !== 'int8' && q !== 'int4') {
        throw new LocalrecError('bad-input', `--quantization takes fp32, int8, int4; got '${q}'`);
      }
      process.stderr.write(`evaluating ${q}…\n`);
      out[q] = await evaluateSasrec(ck.config, ck.weights, split, q as EvalQuantization);
    }
    return out;
  },
};

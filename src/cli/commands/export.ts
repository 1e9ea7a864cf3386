import { LocalrecError } from '../../core/errors.ts';
import type { Command } from '../main.ts';
import { exportModelDir, type Quantization } from '../export.ts';
import { ITEMS_OPTION, readItemsFile, shardItemsFlag } from '../shards.ts';

export const exportCommand: Command = {
  summary:
    'quantize a trained checkpoint; write the ONNX user encoder, item-embedding shards, catalog and manifest',
  usage:
    'localrec export --model <dir> [--out <dir>] [--quantization int8|fp32|int4] [--shard-items N] [--items file] [--two-tower <dir>]',
  options: {
    model: { type: 'string', description: 'folder with sasrec.ckpt (from `localrec train`)' },
    out: { type: 'string', description: 'export folder (default <model>/export)' },
    quantization: {
      type: 'string',
      default: 'int8',
      description: 'weights of the shipped encoder and shards',
    },
    'shard-items': {
      type: 'string',
      description: 'items per embedding shard (default: shards of about 4 MB)',
    },
    'two-tower': {
      type: 'string',
      description: 'a `localrec two-tower` output folder to ship beside SASRec',
    },
    items: ITEMS_OPTION,
  },
  async run(v) {
    const model = v['model'];
    if (typeof model !== 'string')
      throw new LocalrecError('bad-input', '--model is required (a folder with sasrec.ckpt)');
    const q = String(v['quantization'] ?? 'int8');
    if (q !== 'int8' && q !== 'fp32' && q !== 'int4') {
      throw new LocalrecError('bad-input', `--quantization must be int8, fp32 or int4, got '${q}'`);
    }
    const shardItems = shardItemsFlag(v);
    return exportModelDir({
      modelDir: model,
      out: typeof v['out'] === 'string' ? v['out'] : undefined,
      quantization: q as Quantization,
      shardItems,
      items: typeof v['items'] === 'string' ? readItemsFile(v['items']) : undefined,
      twoTowerDir: typeof v['two-tower'] === 'string' ? v['two-tower'] : undefined,
    });
  },
};

import { choice, requiredFlag, type Command } from '../command.ts';
import { exportModelDir, type Quantization } from '../export.ts';
import { MODEL_FLAG_HINT, MODEL_OPTION } from '../model-dir.ts';
import { ITEMS_OPTION, readItemsFile, shardItemsFlag } from '../shards.ts';

export const exportCommand: Command = {
  summary:
    'quantize a trained checkpoint; write the ONNX user encoder, item-embedding shards, catalog and manifest',
  usage:
    'localrec export --model <dir> [--out <dir>] [--quantization int8|fp32|int4] [--shard-items N] [--items file] [--two-tower <dir>] [--llm <config.json>]',
  options: {
    model: MODEL_OPTION,
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
    llm: {
      type: 'string',
      description:
        'the owner’s on-device LLM config (JSON: engine, id, contextSize, needs, files); its files become signed blobs',
    },
  },
  async run(v) {
    const model = requiredFlag(v, 'model', MODEL_FLAG_HINT);
    const quantization = choice<Quantization>(v, 'quantization', ['int8', 'fp32', 'int4'], 'int8');
    const shardItems = shardItemsFlag(v);
    return exportModelDir({
      modelDir: model,
      out: typeof v['out'] === 'string' ? v['out'] : undefined,
      quantization,
      shardItems,
      items: typeof v['items'] === 'string' ? readItemsFile(v['items']) : undefined,
      twoTowerDir: typeof v['two-tower'] === 'string' ? v['two-tower'] : undefined,
      llm: typeof v['llm'] === 'string' ? v['llm'] : undefined,
    });
  },
};

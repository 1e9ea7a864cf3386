import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LocalrecError } from '../../core/errors.ts';
import type { ShardDtype } from '../../core/shard.ts';
import { shippedDim, shippedItemTable } from '../../../models/sasrec/export-onnx.ts';
import { choice, requiredFlag, type Command } from '../command.ts';
import { MODEL_FLAG_HINT, MODEL_OPTION, readCatalog, readSasrecCheckpoint } from '../model-dir.ts';
import { ITEMS_OPTION, readItemsFile, shardItemsFlag, writeShardSet } from '../shards.ts';

/** The index `localrec shards` writes next to the blobs. */
export const SHARDS_INDEX_FILE = 'shards.json';

function positiveNumber(v: unknown, flag: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0)
    throw new LocalrecError('bad-input', `--${flag} must be a positive number, got '${String(v)}'`);
  return n;
}

export const shardsCommand: Command = {
  summary:
    'write the item-embedding table and item metadata as content-addressed shards (blobs/<sha256> + shards.json)',
  usage:
    'localrec shards --model <dir> [--out <dir>] [--dtype int8|f16|f32] [--shard-mb 4 | --shard-items N] [--items file]',
  options: {
    model: MODEL_OPTION,
    out: { type: 'string', description: 'output folder (default <model>/shards)' },
    dtype: { type: 'string', default: 'int8', description: 'row storage: int8, f16 or f32' },
    'shard-mb': { type: 'string', default: '4', description: 'target size of one shard in MB' },
    'shard-items': { type: 'string', description: 'items per shard (overrides --shard-mb)' },
    items: ITEMS_OPTION,
  },
  async run(v) {
    const model = requiredFlag(v, 'model', MODEL_FLAG_HINT);
    const dtype = choice<ShardDtype>(v, 'dtype', ['int8', 'f16', 'f32'], 'int8');
    const shardMb = positiveNumber(v['shard-mb'] ?? '4', 'shard-mb')!;
    const shardItems = shardItemsFlag(v);

    const ck = readSasrecCheckpoint(model);
    const out = typeof v['out'] === 'string' ? v['out'] : join(model, 'shards');
    const items = typeof v['items'] === 'string' ? readItemsFile(v['items']) : readCatalog(model);
    const dim = shippedDim(ck.config);
    mkdirSync(out, { recursive: true });
    const set = writeShardSet({
      out,
      table: shippedItemTable(ck.config, ck.weights),
      dim,
      itemIds: ck.meta.itemIds,
      items: items ? new Map(items.map((i) => [i.id, i])) : undefined,
      dtype,
      shardItems,
      shardBytes: Math.round(shardMb * 1024 * 1024),
    });
    if (set.droppedLinkCount > 0) {
      process.stderr.write(
        `warning: dropped ${set.droppedLinkCount} links that are not http(s) (e.g. item ${set.droppedLinks[0]!.id} ${set.droppedLinks[0]!.field})\n`,
      );
    }
    const index = {
      formatVersion: 1,
      model: 'sasrec',
      dim,
      dtype,
      items: ck.config.numItems,
      shards: set.embedding,
      metadata: set.metadata,
    };
    const tmp = join(out, `${SHARDS_INDEX_FILE}.tmp-${process.pid}`);
    writeFileSync(tmp, JSON.stringify(index, null, 2));
    renameSync(tmp, join(out, SHARDS_INDEX_FILE));
    return {
      out,
      dtype,
      dim,
      items: ck.config.numItems,
      itemsPerShard: set.itemsPerShard,
      firstShardItems: set.embedding[0]?.count ?? 0,
      embeddingShards: set.embedding.length,
      metadataShards: set.metadata.length,
      bytes: {
        embedding: set.embedding.reduce((a, s) => a + s.bytes, 0),
        metadata: set.metadata.reduce((a, s) => a + s.bytes, 0),
      },
      droppedLinks: set.droppedLinkCount,
    };
  },
};

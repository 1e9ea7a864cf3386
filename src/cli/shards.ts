/**
 * Writing an item table as content-addressed shards: embedding shards (src/core/shard.ts) and
 * metadata shards (src/core/metadata.ts) over the same item ranges, each stored under its own
 * sha256 in `<out>/blobs/`. Shared by `localrec shards` and `localrec export`.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import type { BlobRef } from '../core/blob.ts';
import { LocalrecError } from '../core/errors.ts';
import { encodeMetadataShard, isSafeLink } from '../core/metadata.ts';
import { parseItemsCsv, parseItemsJsonl } from '../core/readers/index.ts';
import { encodeShard, type ShardDtype } from '../core/shard.ts';
import type { ItemInfo } from '../core/types.ts';

/** One embedding shard as the manifest lists it. */
export interface EmbeddingShardRef extends BlobRef {
  dtype: ShardDtype;
  dim: number;
  count: number;
  baseIndex: number;
}

/** One metadata shard as the manifest lists it. */
export interface MetadataShardRef extends BlobRef {
  format: 'localrec-metadata-v1';
  count: number;
  baseIndex: number;
}

/** What {@link writeShardSet} wrote. */
export interface ShardSet {
  embedding: EmbeddingShardRef[];
  metadata: MetadataShardRef[];
  /** Links dropped because they were not http(s) (item id and field), at most 20 listed. */
  droppedLinks: { id: string; field: 'url' | 'image' }[];
  droppedLinkCount: number;
  /** Items per shard after the first (the first may hold fewer, see DEFAULT_FIRST_SHARD_ITEMS). */
  itemsPerShard: number;
}

/** Default target size of one shard: small enough to arrive quickly, large enough to be few. */
export const DEFAULT_SHARD_BYTES = 4 * 1024 * 1024;

/**
 * Items in the first shard by default (when no `shardItems` is given): the browser answers from
 * the first embedding + metadata shard pair while the rest downloads, so its size sets the time
 * to the first recommendation (bench:client: ~550 ms warm with a 55k-item first shard, ~210 ms
 * with 10k).
 */
export const DEFAULT_FIRST_SHARD_ITEMS = 10_000;

const BYTES_PER_VALUE: Record<ShardDtype, number> = { f32: 4, f16: 2, int8: 1 };

function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

/**
 * Stores `bytes` as `<dir>/blobs/<sha256>` (written to a temporary name, then renamed, so a
 * reader never sees half a file; an existing blob is left alone — same name, same bytes).
 */
export function putBlob(dir: string, bytes: Uint8Array): BlobRef {
  mkdirSync(join(dir, 'blobs'), { recursive: true });
  const hash = sha256(bytes);
  const path = join(dir, 'blobs', hash);
  if (!existsSync(path)) {
    const tmp = `${path}.tmp-${process.pid}`;
    writeFileSync(tmp, bytes);
    renameSync(tmp, path);
  }
  return { sha256: hash, bytes: bytes.length };
}

/**
 * Items per shard so that one embedding shard stays under `shardBytes`: each row costs its
 * values, its int8 scales (one per segment), and its id (2-byte length + UTF-8, at its longest
 * in the catalog).
 */
export function itemsPerShard(
  dtype: ShardDtype,
  dim: number,
  itemIds: readonly string[],
  shardBytes: number,
  segments = 1,
): number {
  let longestId = 0;
  for (const id of itemIds) longestId = Math.max(longestId, Buffer.byteLength(id));
  const perRow =
    dim * BYTES_PER_VALUE[dtype] + (dtype === 'int8' ? 4 * segments : 0) + 2 + longestId;
  return Math.max(1, Math.floor((shardBytes - 64) / perRow));
}

/** The `--items` flag of the commands that write metadata shards. */
export const ITEMS_OPTION = {
  type: 'string',
  description: 'item metadata file, .csv or .jsonl (default: the catalog saved by train)',
} as const;

/** `--shard-items`: undefined when absent, else a positive integer (or a `bad-input` error). */
export function shardItemsFlag(v: Record<string, unknown>): number | undefined {
  const raw = v['shard-items'];
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1)
    throw new LocalrecError(
      'bad-input',
      `--shard-items must be a positive integer, got '${String(raw)}'`,
    );
  return n;
}

/** Reads an item file (CSV or JSONL, by extension) for the metadata shards. */
export function readItemsFile(path: string): ItemInfo[] {
  if (!existsSync(path)) throw new LocalrecError('not-found', `no items file at ${path}`);
  const text = readFileSync(path, 'utf8');
  const ext = extname(path).toLowerCase();
  if (ext === '.csv') return parseItemsCsv(text, path);
  if (ext === '.jsonl' || ext === '.ndjson') return parseItemsJsonl(text, path);
  throw new LocalrecError(
    'bad-input',
    `${path}: items files must be .csv or .jsonl (got '${ext || 'no extension'}')`,
  );
}

/** What {@link writeShardSet} takes. */
export interface ShardSetInput {
  /** Output folder: blobs go to `<out>/blobs/`. */
  out: string;
  /** (numItems + 1, dim) float32 rows; row 0 is padding and is not written. */
  table: Float32Array;
  dim: number;
  /** External id by internal index (`itemIds[0]` = '' for padding). */
  itemIds: readonly string[];
  /** Metadata by external id (items without an entry get their id as title). */
  items?: ReadonlyMap<string, ItemInfo>;
  dtype: ShardDtype;
  /**
   * int8: scales per row, one per equal segment (default 1) — an ensemble's members, so each
   * keeps its own int8 range (src/core/shard.ts version 2).
   */
  segments?: number;
  /**
   * Items per shard, the first included. Default: shards of about `shardBytes`, the first one at
   * most {@link DEFAULT_FIRST_SHARD_ITEMS} items.
   */
  shardItems?: number;
  /** Target bytes of one embedding shard when `shardItems` is not given (default 4 MB). */
  shardBytes?: number;
}

/**
 * Writes embedding shards and metadata shards over the same ranges of internal indices
 * (1..numItems, in order: shard 0 holds the first items, which a popularity-ordered export
 * makes the most popular). Links that are not http(s) are dropped and reported, never written.
 */
export function writeShardSet(input: ShardSetInput): ShardSet {
  const { out, table, dim, itemIds, dtype } = input;
  const segments = dtype === 'int8' ? (input.segments ?? 1) : 1;
  const numItems = itemIds.length - 1;
  if (numItems < 1) throw new LocalrecError('bad-input', 'writeShardSet: the catalog has no items');
  if (table.length !== (numItems + 1) * dim) {
    throw new LocalrecError(
      'bad-input',
      `writeShardSet: the table holds ${table.length} values; ${numItems + 1} rows × dim ${dim} needs ${(numItems + 1) * dim}`,
    );
  }
  const per =
    input.shardItems ??
    itemsPerShard(dtype, dim, itemIds, input.shardBytes ?? DEFAULT_SHARD_BYTES, segments);
  if (!Number.isInteger(per) || per < 1)
    throw new LocalrecError('bad-input', `items per shard must be a positive integer, got ${per}`);
  const first = input.shardItems ?? Math.min(per, DEFAULT_FIRST_SHARD_ITEMS);

  const set: ShardSet = {
    embedding: [],
    metadata: [],
    droppedLinks: [],
    droppedLinkCount: 0,
    itemsPerShard: per,
  };
  for (let start = 1; start <= numItems; start += start === 1 ? first : per) {
    const end = Math.min(numItems + 1, start + (start === 1 ? first : per));
    const ids = itemIds.slice(start, end);
    const emb = encodeShard({
      dtype,
      dim,
      baseIndex: start,
      ids: [...ids],
      rows: table.subarray(start * dim, end * dim),
      segments,
    });
    set.embedding.push({ ...putBlob(out, emb), dtype, dim, count: end - start, baseIndex: start });

    const meta = ids.map((id): ItemInfo => {
      const info = input.items?.get(id);
      const item: ItemInfo = {
        id,
        title: info?.title || id,
        categories: info?.categories ?? [],
      };
      if (info?.popularity !== undefined) item.popularity = info.popularity;
      if (info?.addedAt !== undefined) item.addedAt = info.addedAt;
      for (const field of ['url', 'image'] as const) {
        const link = info?.[field];
        if (link === undefined) continue;
        if (isSafeLink(link)) item[field] = link;
        else {
          set.droppedLinkCount++;
          if (set.droppedLinks.length < 20) set.droppedLinks.push({ id, field });
        }
      }
      return item;
    });
    set.metadata.push({
      ...putBlob(out, encodeMetadataShard(start, meta)),
      format: 'localrec-metadata-v1',
      count: end - start,
      baseIndex: start,
    });
  }
  return set;
}

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LocalrecError } from '../core/errors.ts';
import type { ItemInfo } from '../core/types.ts';
import { decodeCheckpoint, type Checkpoint } from '../../models/checkpoint.ts';
import type { SasrecConfig } from '../../models/sasrec/config.ts';
import { CATALOG_FILE, CHECKPOINT_FILE } from './train.ts';

/** The `--model` flag of the commands that read a `localrec train` folder. */
export const MODEL_OPTION = {
  type: 'string',
  description: 'folder with sasrec.ckpt (from `localrec train`)',
} as const;

/** What `--model is required (…)` says the flag is. */
export const MODEL_FLAG_HINT = 'a folder with sasrec.ckpt';

export interface SasrecMeta {
  dataset: string;
  dataSource: string;
  itemIds: string[];
  bestEpoch: number;
}

/** Reads `<dir>/sasrec.ckpt` with a clear error when it is missing or not a SASRec checkpoint. */
export function readSasrecCheckpoint(dir: string): Checkpoint<SasrecConfig> & { meta: SasrecMeta } {
  const path = join(dir, CHECKPOINT_FILE);
  if (!existsSync(path)) {
    throw new LocalrecError(
      'not-found',
      `no checkpoint at ${path}; run \`localrec train --data … --out ${dir}\` first`,
    );
  }
  const ck = decodeCheckpoint<SasrecConfig>(readFileSync(path), path);
  if (ck.model !== 'sasrec')
    throw new LocalrecError('bad-format', `${path} holds a '${ck.model}' model, not sasrec`);
  const ids = ck.meta['itemIds'];
  if (!Array.isArray(ids) || ids.length !== ck.config.numItems + 1) {
    throw new LocalrecError('bad-format', `${path}: item id table missing or not numItems+1 long`);
  }
  return ck as Checkpoint<SasrecConfig> & { meta: SasrecMeta };
}

export function readCatalog(dir: string): ItemInfo[] | null {
  const path = join(dir, CATALOG_FILE);
  return existsSync(path) ? JSON.parse(readFileSync(path, 'utf8')) : null;
}

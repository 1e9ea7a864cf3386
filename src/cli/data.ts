import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { LocalrecError } from '../core/errors.ts';
import {
  decodeLatin1,
  parseEventsCsv,
  parseEventsJsonl,
  parseMovieLens100k,
  parseMovieLens1m,
  parseSasrecText,
} from '../core/readers/index.ts';
import { generateSyntheticCatalog } from '../core/synthetic.ts';
import { leaveOneOut } from '../core/split.ts';
import type { Dataset, SplitData } from '../core/types.ts';

/** The `--data` flag of the commands that train. */
export const DATA_OPTION = { type: 'string', description: 'dataset path, or demo' } as const;

/** What `--data is required (…)` says the flag is. */
export const DATA_FLAG_HINT = 'a dataset path, or demo';

/** What `--data` accepts, in the order it is recognised. */
export const DATA_FORMATS_HELP = `--data accepts:
  a MovieLens 100K folder (u.data, optional u.item)
  a MovieLens 1M folder (ratings.dat, optional movies.dat)
  a .csv or .jsonl event file (user, item, timestamp, optional type)
  a .txt file in the SASRec format (\`user item\` per line, in time order)
  demo[:items:users:seed]  the built-in synthetic catalog (default demo:1500:2000:7)`;

/** The built-in demo catalog: synthetic, seeded, with titles and genres. */
export function demoDataset(items = 1500, users = 2000, seed = 7): Dataset {
  return generateSyntheticCatalog({
    items,
    users,
    seed,
    minEvents: 8,
    maxEvents: 60,
    name: 'demo',
  });
}

/** Loads any supported dataset from a path (or `demo[:items:users:seed]`). */
export function loadDataset(path: string): Dataset {
  if (path === 'demo' || path.startsWith('demo:')) {
    const [, items, users, seed] = path.split(':').map(Number);
    return demoDataset(items || undefined, users || undefined, seed || undefined);
  }
  if (!existsSync(path))
    throw new LocalrecError('not-found', `no such file or folder: ${path}\n${DATA_FORMATS_HELP}`);
  const text = (p: string) => readFileSync(p, 'utf8');
  const latin1 = (p: string) => decodeLatin1(readFileSync(p));
  if (statSync(path).isDirectory()) {
    const f = (n: string) => join(path, n);
    if (existsSync(f('u.data'))) {
      const ds = parseMovieLens100k(
        latin1(f('u.data')),
        existsSync(f('u.item')) ? latin1(f('u.item')) : null,
        {
          data: f('u.data'),
          item: f('u.item'),
        },
      );
      return { ...ds, name: basename(path) };
    }
    if (existsSync(f('ratings.dat'))) {
      const ds = parseMovieLens1m(
        latin1(f('ratings.dat')),
        existsSync(f('movies.dat')) ? latin1(f('movies.dat')) : null,
        {
          ratings: f('ratings.dat'),
          movies: f('movies.dat'),
        },
      );
      return { ...ds, name: basename(path) };
    }
    throw new LocalrecError(
      'bad-input',
      `${path}: a folder must hold u.data or ratings.dat\n${DATA_FORMATS_HELP}`,
    );
  }
  if (path.endsWith('.csv')) return parseEventsCsv(text(path), path);
  if (path.endsWith('.jsonl') || path.endsWith('.ndjson'))
    return parseEventsJsonl(text(path), path);
  if (path.endsWith('.txt')) return parseSasrecText(text(path), path);
  throw new LocalrecError('bad-input', `${path}: unknown data format\n${DATA_FORMATS_HELP}`);
}

/**
 * The one split the CLI trains and evaluates on: leave-one-out over the events, with catalog
 * items that have no events indexed after the rest. `eval` must rebuild exactly this.
 * `keepTimes` also keeps each user's timestamps (for context features; same split otherwise).
 */
export function splitDataset(ds: Dataset, opts: { keepTimes?: boolean } = {}): SplitData {
  return leaveOneOut(ds.events, { extraItems: ds.items.map((i) => i.id), ...opts });
}

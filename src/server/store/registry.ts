/**
 * Stores by URL: the one place a URL scheme picks a backend, so a new backend (PostgreSQL for
 * rounds, an S3-compatible object store for blobs and manifests) is one more entry here and
 * the API code does not change.
 *
 * - `file:/srv/localrec`, `file:./store`, `file:///srv/localrec`: blobs and manifests in a folder
 * - `sqlite:/srv/localrec/rounds.db` (`?synchronous=normal` to trade power-loss safety for speed),
 *   `sqlite::memory:`: rounds in SQLite
 * - `memory:`: in-process, for tests
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LocalrecError } from '../../core/errors.ts';
import type { BlobStore } from './blob-store.ts';
import { FileBlobStore } from './file-blob-store.ts';
import { FileManifestStore } from './file-manifest-store.ts';
import type { ManifestStore } from './manifest-store.ts';
import { MemoryRoundStore } from './memory-round-store.ts';
import { MemoryBlobStore, MemoryManifestStore } from './memory-stores.ts';
import type { RoundStore } from './round-store.ts';
import { SqliteRoundStore } from './sqlite-round-store.ts';
import { ThreadedRoundStore } from './sqlite-thread.ts';

/** Blobs and manifests live together: a publication is both. */
export interface PublicationStore {
  blobs: BlobStore;
  manifests: ManifestStore;
}

const publicationBackends: Record<string, (rest: string) => PublicationStore> = {
  file: (rest) => {
    const root = filePath(rest);
    return { blobs: new FileBlobStore(root), manifests: new FileManifestStore(root) };
  },
  memory: () => ({ blobs: new MemoryBlobStore(), manifests: new MemoryManifestStore() }),
};

const roundBackends: Record<
  string,
  (rest: string, params: URLSearchParams, options: RoundStoreOptions) => RoundStore
> = {
  sqlite: (rest, params, options) => {
    const sync = params.get('synchronous') ?? 'full';
    if (sync !== 'full' && sync !== 'normal')
      throw new LocalrecError(
        'bad-input',
        `sqlite: synchronous must be full or normal, got '${sync}'`,
      );
    const path = rest === ':memory:' ? rest : filePath(rest);
    return options.thread
      ? new ThreadedRoundStore(path, { synchronous: sync })
      : new SqliteRoundStore(path, { synchronous: sync });
  },
  memory: () => new MemoryRoundStore(),
};

/**
 * Splits `scheme:rest?query`; undefined scheme for a bare path. For a backend outside this
 * registry that takes the same URLs.
 *
 * ```ts
 * import { splitStoreUrl } from 'localrec/server';
 *
 * const { scheme, rest, params } = splitStoreUrl('sqlite:/srv/rounds.db?synchronous=normal');
 * // 'sqlite', '/srv/rounds.db', params.get('synchronous') === 'normal'
 * ```
 */
export function splitStoreUrl(url: string): {
  scheme: string | undefined;
  rest: string;
  params: URLSearchParams;
} {
  const m = /^([a-z][a-z0-9+.-]+):(.*)$/i.exec(url);
  if (!m) return { scheme: undefined, rest: url, params: new URLSearchParams() };
  const [, scheme = '', tail = ''] = m;
  const q = tail.indexOf('?');
  return {
    scheme: scheme.toLowerCase(),
    rest: q < 0 ? tail : tail.slice(0, q),
    params: new URLSearchParams(q < 0 ? '' : tail.slice(q + 1)),
  };
}

function filePath(rest: string): string {
  if (rest === '') throw new LocalrecError('bad-input', 'store URL has no path');
  return rest.startsWith('//') ? fileURLToPath(`file:${rest}`) : resolve(rest);
}

function unknownScheme(kind: string, url: string, scheme: string, known: string[]): LocalrecError {
  return new LocalrecError(
    'bad-input',
    `${kind} URL '${url}' has scheme '${scheme}:', which this server has no backend for; use ${known.map((k) => `${k}:`).join(' or ')}`,
  );
}

/**
 * Opens the blob + manifest store at `url` (a bare path means `file:`).
 *
 * ```ts
 * import { openPublicationStore } from 'localrec/server';
 *
 * const store = openPublicationStore('file:/srv/localrec');
 * console.log('published versions:', await store.manifests.listVersions());
 * await Promise.all([store.blobs.close(), store.manifests.close()]);
 * ```
 */
export function openPublicationStore(url: string): PublicationStore {
  const { scheme = 'file', rest } = splitStoreUrl(url);
  const open = publicationBackends[scheme];
  if (!open) throw unknownScheme('store', url, scheme, Object.keys(publicationBackends));
  return open(rest);
}

/** Options of {@link openRoundStore}. */
export interface RoundStoreOptions {
  /**
   * Run a backend whose calls block (SQLite) on a worker thread of its own, so they never hold
   * up the caller's event loop; what the sync server does. Default false.
   */
  thread?: boolean;
}

/**
 * Opens the round store at `url` (a bare path means `sqlite:`).
 *
 * ```ts
 * import { openRoundStore } from 'localrec/server';
 *
 * const rounds = openRoundStore('sqlite:/srv/localrec/rounds.db');
 * const open = await rounds.currentRound();
 * console.log(open ? `round ${open.id}: ${open.reports}/${open.minReports}` : 'no round open');
 * await rounds.close();
 * ```
 */
export function openRoundStore(url: string, options: RoundStoreOptions = {}): RoundStore {
  const { scheme = 'sqlite', rest, params } = splitStoreUrl(url);
  const open = roundBackends[scheme];
  if (!open) throw unknownScheme('rounds', url, scheme, Object.keys(roundBackends));
  return open(rest, params, options);
}

/**
 * The whole catalog for the demo's browser (titles and genres of every item). The SDK has no
 * "list every item" call — a page normally shows recommendations, not the catalog — so the page
 * reads the model's metadata shards itself, trusting nothing on the way: the manifest is checked
 * against the pinned key and every shard against its sha256, by the SDK's own Loader.
 *
 * It reads the SDK's blob cache ({@link SDK_CACHE}) and never writes or deletes there: the shards
 * it needs are usually in it already (the recommender loaded them first), so the catalog costs
 * no second download and, offline, no network at all.
 */
import { LocalrecError } from '../core/errors.ts';
import { BlobCache, type CacheLike, type CacheStorageLike } from '../client/loader/cache.ts';
import { Loader } from '../client/loader/loader.ts';
import type { RecommenderWarning } from '../client/api.ts';
import { catalogFrom, catalogFromMetadata, type Catalog } from './catalog.ts';
import { SDK_CACHE } from './pwa-caches.ts';
import type { SiteConfig } from './config.ts';

/** A catalog and the model version it belongs to. */
export interface LoadedCatalog {
  catalog: Catalog;
  modelVersion: string;
  /** sha256 of every blob that version lists (what an offline start needs cached). */
  blobs: string[];
}

/** Cache Storage seen through a read-only window: matches and keys, no writes, no deletes. */
export function readOnlyCaches(storage: CacheStorage): CacheStorageLike {
  return {
    async open(name: string): Promise<CacheLike> {
      const cache = await storage.open(name);
      return {
        match: (key) => cache.match(key),
        keys: () => cache.keys(),
        put: async () => {},
        delete: async () => false,
      };
    },
    delete: async () => false,
  };
}

/**
 * Loads the catalog of the model the server publishes now (or, offline, of the last verified
 * one). Items without a title show their id; an export without metadata shards gets a catalog of
 * ids read from its embedding shards.
 *
 * @throws LocalrecError as the SDK's loader (`integrity`, `not-found`, `bad-format`).
 */
export async function loadCatalog(
  config: SiteConfig,
  onWarning: (w: RecommenderWarning) => void = (w) => console.warn(`[demo] ${w.message}`),
): Promise<LoadedCatalog> {
  const caches = globalThis.caches ? readOnlyCaches(globalThis.caches) : null;
  const cache = new BlobCache({
    cacheName: SDK_CACHE,
    server: config.server.replace(/\/+$/, ''),
    caches,
    memory: () => undefined,
    onWarning,
  });
  const loader = new Loader({
    server: config.server.replace(/\/+$/, ''),
    publicKey: config.publicKey,
    fetch: globalThis.fetch.bind(globalThis),
    cache,
    onWarning,
  });
  const { plan } = await loader.manifest();
  const version = { modelVersion: plan.modelVersion, blobs: plan.blobs.map((b) => b.sha256) };
  if (plan.metadata.length > 0) {
    const blobs = await Promise.all(plan.metadata.map((ref) => loader.blob(ref, 'metadata shard')));
    return { catalog: catalogFromMetadata(blobs), ...version };
  }
  // Loaded only on this rare path, keeping the shard codec out of the main bundle.
  const { decodeShard } = await import('../core/shard.ts');
  const ids: string[] = [];
  for (const ref of plan.sasrec.shards) {
    ids.push(...decodeShard(await loader.blob(ref, 'item shard')).ids);
  }
  if (ids.length === 0) throw new LocalrecError('bad-format', 'the model lists no items');
  return { catalog: catalogFrom(ids.map((id) => ({ id, title: id, categories: [] }))), ...version };
}

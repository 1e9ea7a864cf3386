/**
 * "offline: ready" in the footer: whether everything an offline start reads is stored — the app
 * shell (precached by the service worker), and the SDK's last verified manifest with every blob
 * the SDK loads from it (its load plan: encoders and shards; not the trainable weights, which only
 * the federated trainer fetches). The page only reads the SDK's cache, through a read-only view ({@link readOnlyCaches}):
 * the SDK stays its only writer.
 */
import { verifyManifest } from '../core/manifest.ts';
import type { CacheLike, CacheStorageLike } from '../client/loader/cache.ts';
import { planFromManifest } from '../client/loader/plan.ts';
import type { SiteConfig } from './config.ts';
import { SDK_CACHE } from './pwa-caches.ts';

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

/** The manifest and blob URLs an offline start reads, from the SDK's cached manifest (verified). */
async function neededUrls(cache: CacheLike, config: SiteConfig): Promise<string[] | null> {
  const server = config.server.replace(/\/+$/, '');
  const manifestUrl = `${server}/v1/manifest`;
  const cached = await cache.match(manifestUrl);
  if (!cached) return null;
  try {
    const { manifest } = await verifyManifest(
      new Uint8Array(await cached.arrayBuffer()),
      config.publicKey,
    );
    const { blobs } = planFromManifest(manifest);
    return [manifestUrl, ...blobs.map((b) => `${server}/v1/blobs/${b.sha256}`)];
  } catch {
    return null; // the SDK replaces a manifest that fails its check
  }
}

/**
 * Resolves true once the SDK's cache holds its manifest and every blob that manifest lists,
 * polling for a while (the SDK writes its cache just after using the bytes); false if it never
 * does within `attempts` × 250 ms.
 */
export async function offlineReady(config: SiteConfig, attempts = 120): Promise<boolean> {
  const cache = await readOnlyCaches(caches).open(SDK_CACHE);
  for (let i = 0; i < attempts; i++) {
    const urls = await neededUrls(cache, config);
    if (urls && (await Promise.all(urls.map((u) => cache.match(u)))).every(Boolean)) return true;
    await new Promise((r) => setTimeout(r, 250));
  }
  return false;
}

/**
 * What the SDK browser tests share: an in-process recommender over the fixture's server `a`
 * (test/setup/recommender-server.ts) with test defaults, and visitor memories that are deleted
 * (IndexedDB and Cache Storage) after the file's tests.
 */
import { deleteDB } from 'idb';
import { afterAll, inject } from 'vitest';
import { ortWasmPaths } from '../../src/client/ranker/ort-assets.ts';
import type { Recommender } from '../../src/client/api.ts';
import {
  createLocalRecommender,
  type LocalRecommenderOptions,
} from '../../src/client/recommender/local.ts';

/**
 * `createLocalRecommender()` on server `a` with the tests' defaults — WASM, no periodic model
 * check, warnings dropped — overridden by `options`.
 */
export function localRecommender(
  options: Partial<LocalRecommenderOptions> = {},
): Promise<Recommender> {
  const fx = inject('recommenderFixture');
  return createLocalRecommender({
    server: fx.servers.a,
    publicKey: fx.publicKey,
    device: 'wasm',
    wasmPaths: ortWasmPaths,
    refreshIntervalMs: 0,
    onWarning: () => {},
    ...options,
  });
}

/**
 * Returns a function giving a fresh memory name (`<prefix>-<time>-<n>`) per call; every name
 * given is deleted after the calling file's tests.
 */
export function memoryNames(prefix: string): () => string {
  const names = new Set<string>();
  afterAll(async () => {
    for (const name of names) {
      await deleteDB(name);
      await caches.delete(`localrec:${name}`);
    }
  });
  return () => {
    const name = `${prefix}-${Date.now()}-${names.size + 1}`;
    names.add(name);
    return name;
  };
}

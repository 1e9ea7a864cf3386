/**
 * The catalogs the training benchmarks run on (scripts/bench-train.mjs, profile-train.ts,
 * train-fingerprint.ts), defined once so that every script measures the same data: MovieLens
 * 100K read from its folder, and the project's synthetic catalogs of 25k items (the shape of a
 * public ~24k-item, 31k-user, 300k-event catalog) and 1M items (~5M events).
 */
import { loadDataset } from '../src/cli/data.ts';
import { generateSyntheticCatalog } from '../src/core/synthetic.ts';
import type { Dataset } from '../src/core/types.ts';

/** The catalogs by name. */
export const TRAIN_CATALOGS = ['ml-100k', 'synthetic-25k', 'synthetic-1m'] as const;

/** Catalog `name`; ML-100K is read from `ml100kDir`. @throws Error for an unknown name. */
export function trainCatalog(name: string, ml100kDir: string): Dataset {
  if (name === 'ml-100k') return { ...loadDataset(ml100kDir), name };
  const users = { 'synthetic-25k': 30_000, 'synthetic-1m': 462_000 }[name];
  const items = { 'synthetic-25k': 25_000, 'synthetic-1m': 1_000_000 }[name];
  if (users === undefined || items === undefined)
    throw new Error(`unknown catalog ${name} (one of ${TRAIN_CATALOGS.join(', ')})`);
  return generateSyntheticCatalog({ items, users, seed: 1, minEvents: 5, maxEvents: 20, name });
}

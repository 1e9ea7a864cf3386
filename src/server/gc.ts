import { manifestBlobs, parseManifest } from '../core/manifest.ts';
import type { PublicationStore } from './store/registry.ts';

/** What {@link collectGarbage} did (or would do, with `dryRun`). */
export interface GcSummary {
  currentVersion: number | null;
  keptVersions: number[];
  deletedVersions: number[];
  deletedBlobs: number;
  freedBytes: number;
  dryRun: boolean;
}

/**
 * Deletes old manifest versions and the blobs nothing kept refers to. Keeps the newest `keep`
 * versions and, whatever `keep` says, the current one (which may be older after a rollback);
 * a blob is deleted only when neither a kept version nor the current manifest lists it.
 * Do not run it while a `localrec publish` into the same store is under way: the new version's
 * blobs are stored before its manifest, and gc would see them as unreferenced.
 *
 * ```ts
 * import { collectGarbage, openPublicationStore } from 'localrec/server';
 *
 * const store = openPublicationStore('file:/srv/localrec');
 * const plan = await collectGarbage(store, { keep: 3, dryRun: true }); // what would go
 * console.log(`would free ${plan.freedBytes} bytes from versions ${plan.deletedVersions}`);
 * await collectGarbage(store, { keep: 3 });
 * ```
 */
export async function collectGarbage(
  store: PublicationStore,
  options: { keep: number; dryRun?: boolean },
): Promise<GcSummary> {
  const keep = Math.max(1, options.keep);
  const currentBytes = await store.manifests.current();
  const current = currentBytes ? parseManifest(currentBytes) : undefined;
  const versions = await store.manifests.listVersions();
  const kept = new Set(versions.slice(-keep));
  if (current?.version !== undefined) kept.add(current.version);
  const live = new Set<string>(current ? manifestBlobs(current).map((b) => b.sha256) : []);
  for (const v of kept) {
    const b = await store.manifests.getVersion(v);
    if (b) for (const ref of manifestBlobs(parseManifest(b))) live.add(ref.sha256);
  }
  const deletedVersions = versions.filter((v) => !kept.has(v));
  // Versions go first: a crash part-way leaves blobs nothing lists (the next gc takes them),
  // never a version whose blobs are gone.
  if (!options.dryRun) for (const v of deletedVersions) await store.manifests.deleteVersion(v);
  let deletedBlobs = 0;
  let freedBytes = 0;
  for await (const sha of store.blobs.list()) {
    if (live.has(sha)) continue;
    const st = await store.blobs.stat(sha);
    deletedBlobs++;
    freedBytes += st?.bytes ?? 0;
    if (!options.dryRun) await store.blobs.delete(sha);
  }
  return {
    currentVersion: current?.version ?? null,
    keptVersions: [...kept].sort((a, b) => a - b),
    deletedVersions,
    deletedBlobs,
    freedBytes,
    dryRun: options.dryRun ?? false,
  };
}

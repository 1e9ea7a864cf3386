import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { shortHash } from '../core/blob.ts';
import { LocalrecError } from '../core/errors.ts';
import { canonicalJson, manifestBlobs, parseManifest, type Manifest } from '../core/manifest.ts';
import { signManifest, type SigningKey } from './keys.ts';
import type { PublicationStore } from './store/registry.ts';

/** What {@link publishExport} did. */
export interface PublishSummary {
  version: number;
  modelVersion: string;
  keyId: string;
  blobs: number;
  /** Blobs the store did not have yet. */
  newBlobs: number;
  bytes: number;
}

/**
 * Publishes an export folder (`manifest.json` + `blobs/`, as `localrec export` writes it):
 * every blob the manifest lists is read, checked against its sha256 and size, and stored;
 * then the manifest gets the next version number, is signed, stored as that version and made
 * current. Blobs go first and the manifest last, so a client never sees a manifest naming a
 * blob the store does not have. Older versions and their blobs stay until `localrec gc`.
 *
 * ```ts
 * import { openPublicationStore, publishExport, readSigningKey } from 'localrec/server';
 *
 * const key = await readSigningKey('keys/site.key', console.warn);
 * const store = openPublicationStore('file:/srv/localrec');
 * const { version, newBlobs } = await publishExport('model/export', store, key);
 * console.log(`version ${version} is current (${newBlobs} new blobs)`);
 * ```
 */
export async function publishExport(
  exportDir: string,
  store: PublicationStore,
  key: SigningKey,
  now = new Date(),
): Promise<PublishSummary> {
  const path = join(exportDir, 'manifest.json');
  if (!existsSync(path))
    throw new LocalrecError(
      'not-found',
      `no manifest.json in ${exportDir}; run \`localrec export\` first`,
    );
  const exported = parseManifest(readFileSync(path));
  const refs = manifestBlobs(exported);
  let newBlobs = 0;
  let bytes = 0;
  for (const ref of refs) {
    const file = join(exportDir, 'blobs', ref.sha256);
    if (!existsSync(file))
      throw new LocalrecError(
        'not-found',
        `the manifest lists blob ${shortHash(ref.sha256)}, which ${exportDir}/blobs lacks; re-run \`localrec export\``,
      );
    const had = await store.blobs.stat(ref.sha256);
    if (!had) newBlobs++;
    await store.blobs.put(readFileSync(file), ref);
    bytes += ref.bytes;
  }
  const versions = await store.manifests.listVersions();
  const version = (versions.at(-1) ?? 0) + 1;
  const unsigned: Manifest = {
    ...exported,
    version,
    publishedAt: now.toISOString(),
    signature: null,
  };
  const signed = signManifest(unsigned, key);
  await store.manifests.putVersion(version, new TextEncoder().encode(canonicalJson(signed)));
  await store.manifests.setCurrent(version);
  return {
    version,
    modelVersion: exported.modelVersion,
    keyId: key.keyId,
    blobs: refs.length,
    newBlobs,
    bytes,
  };
}

/**
 * Publishes `exportDir` unless the store's current manifest already is that export (same
 * model version); returns the new version's summary, or undefined when nothing changed.
 * So it can run at every deploy.
 *
 * ```ts
 * import { openPublicationStore, publishIfNew, readSigningKey } from 'localrec/server';
 *
 * const key = await readSigningKey('keys/site.key');
 * const store = openPublicationStore('file:/srv/localrec');
 * const published = await publishIfNew('model/export', store, key);
 * console.log(published ? `published version ${published.version}` : 'already current');
 * ```
 */
export async function publishIfNew(
  exportDir: string,
  store: PublicationStore,
  key: SigningKey,
): Promise<PublishSummary | undefined> {
  const cur = await store.manifests.current();
  const exported = parseManifest(readFileSync(join(exportDir, 'manifest.json')));
  if (cur && parseManifest(cur).modelVersion === exported.modelVersion) return undefined;
  return publishExport(exportDir, store, key);
}

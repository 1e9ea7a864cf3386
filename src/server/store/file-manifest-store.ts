import { existsSync, mkdirSync, statSync } from 'node:fs';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { LocalrecError } from '../../core/errors.ts';
import { writeFileDurable } from './fs-durable.ts';
import type { ManifestStore } from './manifest-store.ts';

const VERSION_FILE = /^(\d{8,})\.json$/;

/**
 * Manifests as files beside the blobs: `<root>/manifests/<version, 8 digits>.json` for each
 * published version and `<root>/manifest.json` for the current one (a copy, replaced by an
 * atomic rename). `localrec export` writes `manifest.json` too, so an export folder is a store
 * with a current manifest and no versions. A new `manifest.json` is picked up by the next
 * request without a restart.
 */
export class FileManifestStore implements ManifestStore {
  readonly url: string;
  private readonly root: string;
  private readonly versionsDir: string;
  private cached: { mtimeMs: number; size: number; ino: number; bytes: Uint8Array } | undefined;

  constructor(root: string) {
    this.url = `file:${root}`;
    this.root = root;
    this.versionsDir = join(root, 'manifests');
  }

  async current(): Promise<Uint8Array | undefined> {
    const path = join(this.root, 'manifest.json');
    // A synchronous stat costs a couple of microseconds and saves a thread-pool round trip on
    // the hottest route; the file is re-read only when it changed.
    let st;
    try {
      st = statSync(path);
    } catch {
      return undefined;
    }
    const c = this.cached;
    // ino too: a file renamed into place changes the inode even within one mtime tick.
    if (c && c.mtimeMs === st.mtimeMs && c.size === st.size && c.ino === st.ino) return c.bytes;
    const bytes = new Uint8Array(await readFile(path));
    this.cached = { mtimeMs: st.mtimeMs, size: st.size, ino: st.ino, bytes };
    return bytes;
  }

  private versionPath(version: number): string {
    if (!Number.isSafeInteger(version) || version < 1)
      throw new LocalrecError(
        'bad-input',
        `manifest version must be a positive integer, got ${version}`,
      );
    return join(this.versionsDir, `${String(version).padStart(8, '0')}.json`);
  }

  async putVersion(version: number, bytes: Uint8Array): Promise<void> {
    const path = this.versionPath(version);
    mkdirSync(this.versionsDir, { recursive: true });
    try {
      await writeFileDurable(path, bytes, { exclusive: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST')
        throw new LocalrecError(
          'bad-input',
          `manifest version ${version} already exists in ${this.url}`,
        );
      throw e;
    }
  }

  async getVersion(version: number): Promise<Uint8Array | undefined> {
    const b = await readFile(this.versionPath(version)).catch(() => undefined);
    return b && new Uint8Array(b);
  }

  async listVersions(): Promise<number[]> {
    if (!existsSync(this.versionsDir)) return [];
    const out: number[] = [];
    for (const name of await readdir(this.versionsDir)) {
      const m = VERSION_FILE.exec(name);
      if (m) out.push(Number(m[1]));
    }
    return out.sort((a, b) => a - b);
  }

  async deleteVersion(version: number): Promise<void> {
    await rm(this.versionPath(version), { force: true });
  }

  async setCurrent(version: number): Promise<void> {
    const bytes = await this.getVersion(version);
    if (!bytes)
      throw new LocalrecError('not-found', `no manifest version ${version} in ${this.url}`);
    await writeFileDurable(join(this.root, 'manifest.json'), bytes);
  }

  async close(): Promise<void> {}
}

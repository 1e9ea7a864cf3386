import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { LocalrecError } from '../core/errors.ts';

/** The manifest as the server holds it: the exact bytes it serves plus what it reads from them. */
export interface ManifestSnapshot {
  /** The file's bytes, served unchanged so a detached signature over them stays valid. */
  bytes: Buffer;
  /** Strong ETag: the quoted sha256 hex of `bytes`. */
  etag: string;
  modelVersion: string;
  formatVersion: number;
}

/**
 * Reads `<exportDir>/manifest.json`, re-reading only when its mtime or size changes, so a new
 * `localrec export` into the same folder is picked up by the next request without a restart.
 * The exporter writes the manifest last (after every blob), so a changed manifest never
 * points at blobs that are not there yet.
 */
export class ManifestFile {
  readonly path: string;
  private cached:
    { mtimeMs: number; size: number; ino: number; snapshot: ManifestSnapshot } | undefined;

  constructor(exportDir: string) {
    this.path = join(exportDir, 'manifest.json');
  }

  /** The current manifest; throws `not-loaded` when there is no export yet, `internal` when it is unreadable. */
  async current(): Promise<ManifestSnapshot> {
    let st;
    try {
      st = await stat(this.path);
    } catch {
      throw new LocalrecError(
        'not-loaded',
        'no model has been exported yet: run `localrec export` into this folder',
      );
    }
    const c = this.cached;
    // ino too: an exporter that renames a new file into place changes the inode even within one mtime tick.
    if (c && c.mtimeMs === st.mtimeMs && c.size === st.size && c.ino === st.ino) return c.snapshot;
    const bytes = await readFile(this.path);
    const snapshot = parseManifest(bytes, this.path);
    this.cached = { mtimeMs: st.mtimeMs, size: st.size, ino: st.ino, snapshot };
    return snapshot;
  }
}

function parseManifest(bytes: Buffer, path: string): ManifestSnapshot {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    // The file is the server's own; a broken one is the operator's problem, not the client's.
    throw new LocalrecError('internal', `${path} is not valid JSON; re-run \`localrec export\``, {
      cause: e,
    });
  }
  const m = json as { formatVersion?: unknown; modelVersion?: unknown } | null;
  if (
    !m ||
    typeof m !== 'object' ||
    typeof m.modelVersion !== 'string' ||
    typeof m.formatVersion !== 'number'
  ) {
    throw new LocalrecError(
      'internal',
      `${path} lacks formatVersion/modelVersion; re-run \`localrec export\``,
    );
  }
  const etag = `"${createHash('sha256').update(bytes).digest('hex')}"`;
  return { bytes, etag, modelVersion: m.modelVersion, formatVersion: m.formatVersion };
}

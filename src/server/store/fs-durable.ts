import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { link, open, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/**
 * Writes `bytes` to `path` so that a crash leaves either the old file or the new one, never
 * half of one: a temporary file in the same folder, fsync, rename over `path`, fsync the folder
 * (so the rename itself survives a power loss). With `exclusive`, fails with EEXIST when
 * `path` already exists instead of replacing it.
 */
export async function writeFileDurable(
  path: string,
  bytes: Uint8Array,
  options: { exclusive?: boolean; mode?: number } = {},
): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
  const fh = await open(
    tmp,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL,
    options.mode ?? 0o644,
  );
  try {
    await fh.writeFile(bytes);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    if (options.exclusive) {
      // link() fails when the target exists: an atomic create-if-absent for a finished file.
      await link(tmp, path);
      await rm(tmp, { force: true });
    } else {
      await rename(tmp, path);
    }
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  await syncDir(dir);
}

/** fsyncs a folder, so entries renamed into it are durable. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, constants.O_RDONLY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

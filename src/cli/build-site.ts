/**
 * Builds the web front end: the demo site (vite.config.ts: index.html, its assets, the
 * workers) into one folder, ready for `localrec serve --static`. `localrec demo`, `npm run
 * build` and the end-to-end tests all build through here, so they ship the same files.
 *
 * The page learns where the model comes from and which key signs it from `localrec-config.json`
 * beside index.html ({@link writeSiteConfig}): the key is pinned by whoever deploys the site
 * (it travels with the app's own code, from the app's own origin), while the manifest and the
 * blobs it names are verified against it wherever they are served from.
 */
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '../..');

/** Name of the runtime config file beside index.html. */
export const SITE_CONFIG_FILE = 'localrec-config.json';

/** What a built site reads at start (see {@link writeSiteConfig}). */
export interface SiteConfig {
  /** Base URL of the localrec server; `''` (default) means the site's own origin. */
  server: string;
  /** The Ed25519 public key (base64 of the raw 32 bytes) the manifest must be signed with. */
  publicKey: string;
}

export interface BuildSiteOptions {
  /** Output folder (default `dist/` at the repo root); emptied first. */
  outDir?: string;
  /** vite's log level (default `'warn'`). */
  logLevel?: 'info' | 'warn' | 'error' | 'silent';
}

/** Builds the site into `outDir` and returns that folder's absolute path. */
export async function buildSite(options: BuildSiteOptions = {}): Promise<string> {
  const outDir = resolve(options.outDir ?? join(ROOT, 'dist'));
  const { build } = await import('vite');
  await build({
    root: ROOT,
    configFile: join(ROOT, 'vite.config.ts'),
    logLevel: options.logLevel ?? 'warn',
    build: { outDir, emptyOutDir: true },
  });
  return outDir;
}

/** Writes `localrec-config.json` into a built site folder. */
export function writeSiteConfig(outDir: string, config: SiteConfig): void {
  writeFileSync(join(outDir, SITE_CONFIG_FILE), `${JSON.stringify(config, null, 2)}\n`);
}

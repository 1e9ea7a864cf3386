/**
 * Builds the web front end into one folder, ready for `localrec serve --static`: the demo site
 * (vite.config.ts: index.html, its assets, the workers), then the one-tag embed beside it
 * (vite.embed.config.ts: `localrec.js` and its lazily loaded worker chunks; see build-embed.ts).
 * `localrec demo`, `npm run build` and the end-to-end tests all build through here, so they
 * ship the same files.
 *
 * The page learns where the model comes from and which key signs it from `localrec-config.json`
 * beside index.html ({@link writeSiteConfig}): the key is pinned by whoever deploys the site
 * (it travels with the app's own code, from the app's own origin), while the manifest and the
 * blobs it names are verified against it wherever they are served from.
 */
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { buildEmbed, formatEmbedReport, type EmbedSizeReport } from './build-embed.ts';
import { PACKAGE_ROOT, requireCheckout } from './package-root.ts';

export const ROOT = PACKAGE_ROOT;

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
  /** Hears the embed's size report as text (default: nowhere). */
  log?: (text: string) => void;
}

/** What {@link buildSite} built. */
export interface SiteBuild {
  /** The output folder's absolute path. */
  outDir: string;
  /** Sizes of `localrec.js` (main thread) and of what its worker loads lazily. */
  embed: EmbedSizeReport;
}

/**
 * Builds the site and the embed into `outDir`.
 * @throws LocalrecError `internal` when `localrec.js` is over its gzip budget (build-embed.ts);
 *   `bad-input` in the installed package, which has no demo site sources to build.
 */
export async function buildSite(options: BuildSiteOptions = {}): Promise<SiteBuild> {
  requireCheckout();
  const outDir = resolve(options.outDir ?? join(ROOT, 'dist'));
  const logLevel = options.logLevel ?? 'warn';
  const { build } = await import('vite');
  await build({
    root: ROOT,
    configFile: join(ROOT, 'vite.config.ts'),
    logLevel,
    build: { outDir, emptyOutDir: true },
  });
  // After the site, which empties the folder; the embed only adds files.
  const embed = await buildEmbed({ outDir, logLevel });
  options.log?.(formatEmbedReport(embed));
  return { outDir, embed };
}

/** Writes `localrec-config.json` into a built site folder. */
export function writeSiteConfig(outDir: string, config: SiteConfig): void {
  writeFileSync(join(outDir, SITE_CONFIG_FILE), `${JSON.stringify(config, null, 2)}\n`);
}

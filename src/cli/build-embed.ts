/**
 * Builds the one-tag embed (vite.embed.config.ts: `localrec.js` plus the worker chunks and
 * ONNX Runtime's .wasm it loads lazily) into a site folder and measures it. The main-thread
 * file has a budget: every visitor of every page with the tag downloads it, while the rest
 * loads off the main thread, from the cache after the first visit.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { LocalrecError } from '../core/errors.ts';
import { PACKAGE_ROOT as ROOT } from './package-root.ts';

/** The main-thread script a site's tag loads. */
export const EMBED_FILE = 'localrec.js';

/** Budget of {@link EMBED_FILE}, gzipped, in bytes (issue #6: at most 60 kB). */
export const EMBED_GZIP_BUDGET = 60_000;

/** One built file: its path under the output folder, and its size raw and gzipped (level 9). */
export interface FileSize {
  file: string;
  bytes: number;
  gzipBytes: number;
}

/** What {@link buildEmbed} reports. */
export interface EmbedSizeReport {
  /** `localrec.js`, the only file a page loads on its main thread. */
  main: FileSize;
  /** Loaded by the worker once the script starts: worker chunks, ONNX Runtime's .wasm. */
  lazy: FileSize[];
  lazyTotal: { bytes: number; gzipBytes: number };
  /** {@link EMBED_GZIP_BUDGET}. */
  gzipBudget: number;
}

export interface BuildEmbedOptions {
  /** The site folder (already built; nothing in it is removed). */
  outDir: string;
  logLevel?: 'info' | 'warn' | 'error' | 'silent';
}

function sizeOf(outDir: string, file: string): FileSize {
  const path = join(outDir, file);
  const bytes = statSync(path).size;
  // The build writes x.gz (level 9) beside x; reading it saves compressing the .wasm again.
  const gz = `${path}.gz`;
  const gzipBytes =
    existsSync(gz) && statSync(gz).mtimeMs >= statSync(path).mtimeMs
      ? statSync(gz).size
      : gzipSync(readFileSync(path), { level: 9 }).length;
  return { file, bytes, gzipBytes };
}

/**
 * Builds the embed into `outDir` beside the site, and returns its size report.
 * @throws LocalrecError `internal` when `localrec.js` is over {@link EMBED_GZIP_BUDGET} gzipped.
 */
export async function buildEmbed(options: BuildEmbedOptions): Promise<EmbedSizeReport> {
  const outDir = resolve(options.outDir);
  const { build } = await import('vite');
  const result = await build({
    root: ROOT,
    configFile: join(ROOT, 'vite.embed.config.ts'),
    logLevel: options.logLevel ?? 'warn',
    build: { outDir, emptyOutDir: false },
  });
  const outputs = (Array.isArray(result) ? result : [result]).flatMap((r) =>
    'output' in r ? r.output : [],
  );
  const files = [...new Set(outputs.map((o) => o.fileName))].sort();
  if (!files.includes(EMBED_FILE))
    throw new LocalrecError('internal', `the embed build wrote no ${EMBED_FILE}`);
  const main = sizeOf(outDir, EMBED_FILE);
  const lazy = files.filter((f) => f !== EMBED_FILE).map((f) => sizeOf(outDir, f));
  const report: EmbedSizeReport = {
    main,
    lazy,
    lazyTotal: {
      bytes: lazy.reduce((s, f) => s + f.bytes, 0),
      gzipBytes: lazy.reduce((s, f) => s + f.gzipBytes, 0),
    },
    gzipBudget: EMBED_GZIP_BUDGET,
  };
  if (main.gzipBytes > EMBED_GZIP_BUDGET) {
    throw new LocalrecError(
      'internal',
      `${EMBED_FILE} is ${main.gzipBytes} bytes gzipped (${main.bytes} raw), over its budget of ${EMBED_GZIP_BUDGET}: keep heavy code in the worker`,
    );
  }
  return report;
}

/** The report as a few lines for a terminal. */
export function formatEmbedReport(report: EmbedSizeReport): string {
  const kb = (n: number) => `${(n / 1000).toFixed(1)} kB`;
  const row = (f: FileSize) =>
    `  ${f.file.padEnd(58)} ${kb(f.bytes).padStart(10)} ${kb(f.gzipBytes).padStart(10)} gzip`;
  return [
    `embed: main thread (budget ${kb(report.gzipBudget)} gzip)`,
    row(report.main),
    'embed: loaded lazily by its worker',
    ...report.lazy.map(row),
  ].join('\n');
}

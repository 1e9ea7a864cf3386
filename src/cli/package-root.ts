/**
 * Where localrec's own files are, for the CLI. The same modules run from two layouts — a
 * checkout of the repository (TypeScript under `src/`, run through tsx) and the installed npm
 * package (compiled JavaScript under `lib/src/`, one folder deeper; see
 * scripts/build-package.mjs) — so no path is counted in `../` from `import.meta.dirname`: the
 * root is the nearest folder above this file whose package.json is localrec's.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { LocalrecError } from '../core/errors.ts';

/** The nearest folder at or above `from` holding localrec's package.json. */
export function findPackageRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && JSON.parse(readFileSync(manifest, 'utf8')).name === 'localrec')
      return dir;
    if (dirname(dir) === dir)
      throw new LocalrecError('internal', `no localrec package.json above ${from}`);
  }
}

/** The repository root in a checkout; the package's folder (…/node_modules/localrec) when installed. */
export const PACKAGE_ROOT = findPackageRoot(import.meta.dirname);

/**
 * True in a checkout of the repository, false in the installed package: only a checkout has the
 * demo site's sources (index.html, vite.config.ts, src/demo) and the dev tools that build them.
 */
export const IS_CHECKOUT = existsSync(join(PACKAGE_ROOT, 'vite.config.ts'));

/** The built web front end `localrec serve` serves at `/`, if there is one (see {@link staticRoot}). */
export const DIST_DIR = join(PACKAGE_ROOT, 'dist');

/** The one-tag embed (`localrec.js` and what it loads) the package ships, built by `npm pack`. */
export const PACKAGED_EMBED_DIR = join(PACKAGE_ROOT, 'lib', 'embed');

/**
 * What `localrec serve` serves at `/`: in a checkout, the demo site and the embed once
 * `npm run build` (or `npm start`) has built `dist/`; in the installed package, the embed it
 * ships (`/localrec.js`). Undefined when there is nothing to serve.
 */
export function staticRoot(): string | undefined {
  if (IS_CHECKOUT) return existsSync(join(DIST_DIR, 'index.html')) ? DIST_DIR : undefined;
  return existsSync(join(PACKAGED_EMBED_DIR, 'localrec.js')) ? PACKAGED_EMBED_DIR : undefined;
}

/**
 * Throws a clear error where the demo site would be built from the repository's sources
 * (`localrec demo`, `localrec build`) in the installed package, which has neither those sources
 * nor vite.
 */
export function requireCheckout(): void {
  if (IS_CHECKOUT) return;
  throw new LocalrecError(
    'bad-input',
    '`localrec demo` and `localrec build` build the demo site from the localrec repository and ' +
      'run from a checkout of it (git clone, npm ci, npm start); the installed package trains, ' +
      'exports, publishes and serves (`localrec serve` also serves the embed, /localrec.js)',
  );
}

/**
 * globalSetup of the `e2e` vitest project (Node): builds the site as `localrec demo` does
 * (src/cli/build-site.ts) into a temporary folder, trains a small SASRec on a synthetic catalog,
 * exports it (int8, three shards), signs and publishes it, and serves site and API together
 * with the real server (src/server) on 127.0.0.1 — the way a site deploys localrec.
 *
 * The tests drive Debian's Chromium with Playwright (test/e2e/browser.ts) against `url`.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { buildSite, writeSiteConfig } from '../../src/cli/build-site.ts';
import type { ItemInfo } from '../../src/core/types.ts';
import { createServer, listen, type LocalrecServer } from '../../src/server/app.ts';
import { newSigningKey } from '../../src/server/keys.ts';
import { publishExport } from '../../src/server/publish.ts';
import { openPublicationStore } from '../../src/server/store/registry.ts';
import { trainTinyModel } from './tiny-model.ts';
import { attachRequestLog } from './request-log.ts';

/** What the end-to-end tests receive. */
export interface E2eSite {
  /** Base URL of the server (`http://127.0.0.1:<port>`): the site at `/`, the API at `/v1`. */
  url: string;
  /** base64 raw Ed25519 public key the manifest is signed with (also in localrec-config.json). */
  publicKey: string;
  /** The built site folder the server serves. */
  distDir: string;
  /** The export folder that was published (a `file:` store of its own). */
  exportDir: string;
  /**
   * The publication store the server serves (`file:` + storeDir) and the signing key's PEM file,
   * for tests that publish a new version while the server runs (publishExport + readSigningKey).
   */
  storeDir: string;
  keyFile: string;
  /** The catalog as exported, in index order (index 0 is padding). */
  items: ItemInfo[];
  modelVersion: string;
  /** A scratch folder tests may write into (removed after the run). */
  scratchDir: string;
  /** Bearer token of the server's admin API (`POST /v1/admin/rounds` opens a federated round). */
  adminToken: string;
  /** Every request the server answered, as JSON at `GET {requestLogUrl}/log` (test/setup/request-log.ts). */
  requestLogUrl: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    e2eSite: E2eSite;
  }
}

const ADMIN_TOKEN = 'e2e-admin-token';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const t0 = performance.now();
  const root = mkdtempSync(join(tmpdir(), 'localrec-e2e-'));
  const { outDir: distDir } = await buildSite({ outDir: join(root, 'dist'), logLevel: 'error' });
  const buildSeconds = (performance.now() - t0) / 1000;

  const exportDir = join(root, 'export');
  const { manifest, items } = await trainTinyModel(root, {
    catalogSeed: 29,
    trainSeed: 5,
    epochs: 8,
    exportDir,
    // The demo then runs the whole funnel, two-tower encoder with context features included.
    twoTower: true,
    // SASRec as an ensemble of two, as `localrec train` ships by default (three there): the
    // browser runs one encoder whose user vector holds both members, against shards twice as wide.
    members: 2,
  });

  const key = await newSigningKey();
  const storeDir = join(root, 'store');
  await publishExport(exportDir, openPublicationStore(`file:${storeDir}`), key);
  const keyFile = join(root, 'site.key');
  writeFileSync(keyFile, key.privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
  writeSiteConfig(distDir, { server: '', publicKey: key.publicKey });

  const server: LocalrecServer = createServer({
    store: `file:${storeDir}`,
    rounds: `sqlite:${join(root, 'rounds.db')}`,
    staticDir: distDir,
    corsOrigins: ['*'],
    adminToken: ADMIN_TOKEN,
  });
  const requestLog = await attachRequestLog(server);
  const url = (await listen(server, { host: '127.0.0.1', port: 0, log: () => {} })).replace(
    /\/$/,
    '',
  );
  const scratchDir = join(root, 'scratch');
  const site: E2eSite = {
    url,
    publicKey: key.publicKey,
    distDir,
    exportDir,
    storeDir,
    keyFile,
    items,
    modelVersion: manifest.modelVersion,
    scratchDir,
    requestLogUrl: requestLog.url,
    adminToken: ADMIN_TOKEN,
  };
  project.provide('e2eSite', site);
  console.log(
    `[e2e-site] built in ${buildSeconds.toFixed(1)} s, ${items.length - 1} items, served at ${url}, ` +
      `setup ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
  return async () => {
    await server.close();
    await requestLog.close();
    rmSync(root, { recursive: true, force: true });
  };
}

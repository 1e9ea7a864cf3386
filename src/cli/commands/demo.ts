import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { buildSite, writeSiteConfig } from '../build-site.ts';
import { collectGarbage } from '../../server/gc.ts';
import { ensureSigningKey } from '../../server/keys.ts';
import { publishIfNew } from '../../server/publish.ts';
import { openPublicationStore } from '../../server/store/registry.ts';
import { loadDataset } from '../data.ts';
import { exportModelDir } from '../export.ts';
import { PACKAGE_ROOT } from '../package-root.ts';
import type { Command } from '../command.ts';
import { runTrain } from '../train.ts';
import { CHECKPOINT_FILE } from '../train.ts';
import { DIST_DIR, serveOptions, startServer } from './serve.ts';
import { parseTrainFlags, trainOptions } from './train.ts';

const ROOT = PACKAGE_ROOT;
const DEMO_KEY = join(ROOT, '.localrec', 'keys', 'demo');

/** What the web app is built from: a change to any of it makes dist/ stale. */
const APP_SOURCES = [
  'index.html',
  'vite.config.ts',
  'vite.embed.config.ts',
  'src',
  'workers',
  'public',
];

/** Newest modification time under `path` (a file or a folder, recursively); 0 if absent. */
function newestMtime(path: string): number {
  if (!existsSync(path)) return 0;
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs;
  for (const e of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, e)));
  return newest;
}

/** True when dist/ is missing or older than any of the app's sources. */
function distIsStale(): boolean {
  const built = join(DIST_DIR, 'index.html');
  if (!existsSync(built)) return true;
  const builtAt = statSync(built).mtimeMs;
  return APP_SOURCES.some((p) => newestMtime(join(ROOT, p)) > builtAt);
}

/** Quick settings for the built-in catalog: short sequences, a couple of minutes at most. */
const DEMO_TRAINING = {
  model: { maxLen: 50 },
  train: {
    epochs: 12,
    learningRate: 3e-3,
    evalEvery: 2,
    patience: 3,
    minEpochs: 0,
    maxSeconds: 90,
  },
  // One model: the built-in catalog must be recommending within three minutes of `npm start`.
  members: 1,
};

export const demoCommand: Command = {
  summary:
    'train (if needed), export and serve the demo site: recommendations in your browser, computed on your device',
  usage: 'npm start [-- --data <path>] [--retrain] [--host 127.0.0.1] [--port 8080]',
  options: {
    data: {
      type: 'string',
      default: 'demo',
      description: 'dataset path, or demo (the built-in synthetic catalog)',
    },
    retrain: { type: 'boolean', description: 'train again even if a model exists' },
    rebuild: {
      type: 'boolean',
      description: 'rebuild the web app even if dist/ is newer than its sources',
    },
    ...serveOptions,
    ...trainOptions,
  },
  async run(v) {
    const data = String(v['data']);
    const t0 = performance.now();
    const step = (s: string) =>
      process.stderr.write(`[${((performance.now() - t0) / 1000).toFixed(0)}s] ${s}\n`);

    if (v['rebuild'] || distIsStale()) {
      step('building the web app (vite)…');
      await buildSite({ outDir: DIST_DIR });
    }

    const ds = loadDataset(data);
    const modelDir = join(ROOT, '.localrec', 'demo', ds.name);
    const ckPath = join(modelDir, CHECKPOINT_FILE);
    if (v['retrain'] || !existsSync(ckPath)) {
      const flags = parseTrainFlags(v);
      const base = data === 'demo' ? DEMO_TRAINING : { model: {}, train: {}, members: 1 };
      step(`training on ${ds.name} (${ds.events.length} events)…`);
      await runTrain(ds, {
        model: { ...base.model, ...flags.model },
        train: { ...base.train, ...flags.train },
        ...(flags.itemFeatures !== undefined && { itemFeatures: flags.itemFeatures }),
        ...(flags.backend !== undefined && { backend: flags.backend }),
        // One model unless asked (--ensemble N): the demo must be up quickly; `localrec train`
        // and bench:accuracy train the default ensemble.
        members: flags.members ?? base.members,
        out: modelDir,
        dataSource: data,
      });
    } else {
      step(`using the model in ${modelDir} (--retrain to train again)`);
    }
    // Always re-exported (about a second): an export written by an older localrec would
    // otherwise outlive a format change. Unchanged blobs keep their names and are not rewritten.
    const exportDir = join(modelDir, 'export');
    step('exporting the int8 model and shards…');
    exportModelDir({ modelDir, out: exportDir, quantization: 'int8' });
    // Served the way a site would serve it: published into a store, signed with the demo's own
    // key (.localrec/keys/demo.key; its public key is in demo.pub), with federated intake on.
    const storeDir = join(modelDir, 'store');
    const store = openPublicationStore(`file:${storeDir}`);
    const key = await ensureSigningKey(DEMO_KEY);
    // The page pins this key (localrec-config.json beside index.html) and verifies the manifest with it.
    writeSiteConfig(DIST_DIR, { server: '', publicKey: key.publicKey });
    const published = await publishIfNew(exportDir, store, key);
    if (published) {
      step(`published version ${published.version}, signed by ${published.keyId}`);
      await collectGarbage(store, { keep: 2 });
    }
    const url = await startServer(
      {
        store: `file:${storeDir}`,
        rounds: `sqlite:${join(modelDir, 'rounds.db')}`,
        defaultLogLevel: 'warn',
      },
      v,
    );
    step(`ready: open ${url} — recommendations are computed in your browser`);
    return {
      url,
      dataset: ds.name,
      modelDir,
      secondsToReady: Math.round((performance.now() - t0) / 100) / 10,
    };
  },
};

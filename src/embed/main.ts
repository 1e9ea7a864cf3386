/**
 * The script-tag entry, built by vite.embed.config.ts into one classic script, `localrec.js`:
 *
 * ```html
 * <div id="recs"></div>
 * <script src="https://recs.example/localrec.js" data-server="https://recs.example"
 *   data-public-key="…" data-target="#recs" data-k="8" async></script>
 * ```
 *
 * Only the widget, the `window.localrec` API and the comlink proxy run on the page's main
 * thread; the recommender (model download and verification, IndexedDB, ONNX Runtime and its
 * .wasm) is a worker chunk loaded from the server when the script starts (src/embed/worker.ts);
 * the federated trainer (tfjs) another, which that worker starts only with federated consent.
 */
import workerPath from '../../workers/recommender.worker.ts?worker&url';
import trainerPath from '../../workers/trainer.worker.ts?worker&url';
import { createRecommender } from '../client/recommender/page.ts';
import { bootEmbed } from './embed.ts';
import { logError } from './log.ts';
import { startEmbedWorker } from './worker.ts';

// Both only hold while the script first runs: read them now. In the IIFE build `import.meta.url`
// is the script's URL, captured by the bundle's intro.
const script = document.currentScript;
const scriptUrl = import.meta.url;

try {
  const workerUrl = new URL(workerPath, scriptUrl).href;
  // The recommender's worker has the page's origin and starts the trainer's (only with
  // federated consent) from the server: it needs the chunk's absolute URL.
  const trainerUrl = new URL(trainerPath, scriptUrl).href;
  bootEmbed(script instanceof HTMLScriptElement ? script : null, {
    win: window,
    doc: document,
    async createRecommender(config, { onChange, onWarning }) {
      const { worker, release } = startEmbedWorker(workerUrl);
      try {
        return await createRecommender({
          server: config.server,
          publicKey: config.publicKey,
          consent: config.consent,
          trainer: { workerUrl: trainerUrl },
          worker,
          onChange,
          onWarning,
        });
      } finally {
        release();
      }
    },
  });
} catch (e) {
  logError('could not start:', e);
}

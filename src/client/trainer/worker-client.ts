/**
 * Starting and ending the trainer worker (workers/trainer.worker.ts) from the recommender. The
 * worker lives for one run: it is started when there is something to train and terminated when
 * the run is done or interrupted, so tfjs's memory (weights, optimizer state, the WASM heap) is
 * held only while training.
 */
import { wrap, type Remote } from 'comlink';
import { LocalrecError } from '../../core/errors.ts';
import { registerErrorTransfer } from '../rpc/errors-transfer.ts';
import type { TrainerWorkerApi } from './api.ts';

/** A started trainer worker. */
export interface TrainerWorker {
  api: Remote<TrainerWorkerApi>;
  /** Rejects when the worker fails to load or crashes (it never answers then). */
  failed: Promise<never>;
  terminate(): void;
}

/** Starts a trainer worker; tests and the bench inject their own. */
export type StartTrainerWorker = () => TrainerWorker;

/**
 * A module worker running `url`. A script on another origin than this realm's (the embed: the
 * recommender's worker runs with the page's origin, its code comes from the localrec server)
 * cannot be a worker's script, so it is imported by a one-line module from a `blob:` URL,
 * which has this realm's origin (as src/embed/worker.ts does for the recommender worker).
 */
function workerAt(url: string): Worker {
  const here = (globalThis as { location?: { href: string } }).location?.href;
  const target = new URL(url, here);
  if (!here || target.origin === new URL(here).origin)
    return new Worker(target, { type: 'module', name: 'localrec-trainer' });
  const blobUrl = URL.createObjectURL(
    new Blob([`import ${JSON.stringify(target.href)};\n`], { type: 'text/javascript' }),
  );
  try {
    return new Worker(blobUrl, { type: 'module', name: 'localrec-trainer' });
  } finally {
    // The worker has read its URL by the time its first message is handled.
    setTimeout(() => URL.revokeObjectURL(blobUrl), 60_000);
  }
}

/**
 * Starts the trainer worker: from `url` when given (TrainerOptions.workerUrl), else the chunk
 * next to this module — the site's bundler (and vite in this repo) finds it by this
 * `new Worker(new URL(…, import.meta.url))` and builds it as a chunk of its own.
 */
export function startTrainerWorker(url?: string): TrainerWorker {
  registerErrorTransfer();
  const worker =
    url === undefined
      ? new Worker(new URL('../../../workers/trainer.worker.js', import.meta.url), {
          type: 'module',
          name: 'localrec-trainer',
        })
      : workerAt(url);
  const failed = new Promise<never>((_, reject) => {
    worker.addEventListener('error', (ev) =>
      reject(
        new LocalrecError(
          'internal',
          `the trainer worker failed: ${ev.message || 'it could not be loaded'}`,
        ),
      ),
    );
  });
  failed.catch(() => undefined);
  return { api: wrap<TrainerWorkerApi>(worker), failed, terminate: () => worker.terminate() };
}

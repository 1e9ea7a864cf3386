/**
 * The benchmark page: starts the worker that measures (worker.ts), relays its progress to the
 * console (scripts/bench-retrieval.mjs prints it to stderr) and exposes its final report as
 * `window.benchResult`, a promise the script awaits.
 */
import type { BenchConfig, BenchMessage, BenchReport } from './worker.ts';

declare global {
  interface Window {
    /** Set by the page: runs the benchmark with a config and resolves with its report. */
    runBench: (config: BenchConfig) => Promise<BenchReport>;
  }
}

window.runBench = (config) =>
  new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
    worker.onmessage = (e: MessageEvent<BenchMessage>) => {
      const m = e.data;
      if (m.type === 'progress') console.log(m.text);
      else if (m.type === 'error') reject(new Error(m.message));
      else {
        resolve(m.report);
        worker.terminate();
      }
    };
    worker.onerror = (e) => reject(new Error(`benchmark worker failed: ${e.message}`));
    worker.postMessage(config);
  });

/**
 * The federated trainer worker: fine-tunes the shipped SASRec on the visitor's history with
 * tfjs (WebGPU or WASM) and privatizes the change (src/client/trainer/job.ts). The recommender
 * starts it (src/client/trainer/scheduler.ts) only with `federated` consent, while a round is
 * open and the page is idle, and ends it when the run is done or a call interrupts it — so
 * tfjs, the model code and their .wasm load only then, as their own chunk.
 * tfjs-backend-wasm's .wasm is located through vite (src/client/trainer/wasm-assets.ts).
 */
import { expose } from 'comlink';
import { registerErrorTransfer } from '../src/client/rpc/errors-transfer.ts';
import { createTrainerJobs } from '../src/client/trainer/job.ts';
import { tfWasmPaths } from '../src/client/trainer/wasm-assets.ts';

registerErrorTransfer();

expose(createTrainerJobs(tfWasmPaths));

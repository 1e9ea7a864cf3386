/**
 * `localrec`: the browser SDK. A recommender that runs in the visitor's browser — the signed
 * model is downloaded and verified, the visitor's history stays in IndexedDB, and every
 * recommendation is computed in a Web Worker on WebGPU or WASM.
 *
 * ```ts
 * import { createRecommender } from 'localrec';
 *
 * const recs = await createRecommender({
 *   server: 'https://recs.example', // your `localrec serve`
 *   publicKey: 'BASE64_PUBLIC_KEY', // the line in your `localrec keygen` .pub file
 *   consent: { personalization: true }, // from your consent banner
 * });
 * await recs.track({ type: 'view', itemId: '42', dwellMs: 8000 });
 * const { items } = await recs.recommend({ k: 10 });
 * ```
 *
 * @packageDocumentation
 */
export { createRecommender, type WorkerRecommenderOptions } from './recommender/page.ts';
export { createLocalRecommender, type LocalRecommenderOptions } from './recommender/local.ts';
export { LocalrecError, isLocalrecError, type LocalrecErrorCode } from '../core/errors.ts';
export type { DeviceChoice } from './ranker/device.ts';
export type { KernelChoice } from './ranker/api.ts';
export type * from './api.ts';

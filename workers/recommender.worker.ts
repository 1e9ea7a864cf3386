/**
 * The recommender worker: runs `createLocalRecommender()` off the main thread — manifest and
 * blob verification, IndexedDB memory, ONNX inference, retrieval and the funnel — for
 * `createRecommender()` (src/client/recommender/page.ts), which is the page side. The recommender is
 * handed back as a comlink proxy; callbacks arrive as proxies of the page's functions.
 * ORT's .wasm is located through vite (src/client/ranker/ort-assets.ts), which also covers `vite build`.
 */
import { expose, proxy } from 'comlink';
import { registerErrorTransfer } from '../src/client/rpc/errors-transfer.ts';
import { ortWasmPaths } from '../src/client/ranker/ort-assets.ts';
import type { RecommenderWorkerApi } from '../src/client/recommender/page.ts';
import { createLocalRecommender } from '../src/client/recommender/local.ts';

registerErrorTransfer();

const api: RecommenderWorkerApi = {
  async create(options, onChange, onProgress, onWarning) {
    const recommender = await createLocalRecommender({
      ...options,
      onChange,
      onProgress,
      onWarning,
      wasmPaths: ortWasmPaths,
    });
    return proxy(recommender);
  },
};

expose(api);

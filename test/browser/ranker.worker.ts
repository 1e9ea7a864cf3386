/**
 * A worker that runs only the ranker (ONNX inference and retrieval), for the ranker tests: it
 * puts `createRanker()` behind comlink exactly as the recommender worker
 * (workers/recommender.worker.ts) runs it inside `createLocalRecommender()`, so the tests
 * reach the real ORT builds and kernels in a real worker without the SDK around them. The
 * product has no ranker-only worker; the ranker is internal to the recommender worker.
 *
 * Test side:
 *   registerErrorTransfer();
 *   const ranker = wrap<Ranker>(new Worker(new URL('./ranker.worker.ts', import.meta.url), { type: 'module' }));
 *
 * The page must register the error transfer handler too, or `LocalrecError.code` is lost.
 * ORT's .wasm is located through vite (src/client/ranker/ort-assets.ts), which also covers `vite build`.
 */
import { expose } from 'comlink';
import { registerErrorTransfer } from '../../src/client/rpc/errors-transfer.ts';
import { ortWasmPaths } from '../../src/client/ranker/ort-assets.ts';
import { createRanker } from '../../src/client/ranker/ranker.ts';
import type { Ranker } from '../../src/client/ranker/api.ts';

registerErrorTransfer();

const ranker: Ranker = createRanker({ wasmPaths: ortWasmPaths });

expose(ranker);

import './scripts/node20-polyfills.ts';
import { defineConfig } from 'vitest/config';
import { playwright } from '@vitest/browser-playwright';
import { chromiumArgs, chromiumPath } from './test/chromium.ts';

export { chromiumArgs };

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          environment: 'node',
          include: ['test/unit/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 300_000,
        },
      },
      {
        // Playwright drives Debian's Chromium against the built site and the real server
        // (test/setup/e2e-site.ts): the script tag, the PWA, offline mode, privacy.
        test: {
          name: 'e2e',
          environment: 'node',
          include: ['test/e2e/**/*.test.ts'],
          globalSetup: ['test/setup/e2e-site.ts'],
          testTimeout: 180_000,
          hookTimeout: 300_000,
        },
      },
      {
        // Serve onnxruntime-web as shipped instead of pre-bundling it: its bundle finds its
        // .wasm next to itself, and a dependency discovered late (inside the worker) would
        // otherwise make vite re-optimize and reload the page mid-run.
        optimizeDeps: {
          exclude: ['onnxruntime-web', 'onnxruntime-web/webgpu', 'onnxruntime-web/wasm'],
          // tfjs too: the trainer worker imports it late, and its backends are found at run time.
          include: [
            'comlink',
            'idb',
            '@tensorflow/tfjs',
            '@tensorflow/tfjs-backend-wasm',
            '@tensorflow/tfjs-backend-webgpu',
            // The llm worker imports its engines late too.
            '@wllama/wllama',
            '@mlc-ai/web-llm',
          ],
        },
        test: {
          name: 'browser',
          include: ['test/browser/**/*.test.ts'],
          // Node side: trains and exports the tiny SASRec the ranker tests load (provide/inject),
          // and publishes a signed model served by the real server for the SDK tests; computes
          // the Node reference of a local fine-tuning run for the trainer tests; writes and serves
          // the tiny llama GGUF for the LLM tests.
          globalSetup: [
            'test/setup/ranker-fixtures.ts',
            'test/setup/recommender-server.ts',
            'test/setup/trainer-fixtures.ts',
            'test/setup/llm-fixtures.ts',
          ],
          testTimeout: 180_000,
          hookTimeout: 300_000,
          browser: {
            enabled: true,
            headless: true,
            provider: playwright({
              launchOptions: {
                executablePath: chromiumPath,
                args: chromiumArgs,
              },
            }),
            instances: [{ browser: 'chromium' }],
            // Assertion messages say what failed; PNGs of a blank test page only litter .vitest/.
            screenshotFailures: false,
          },
        },
      },
    ],
  },
});

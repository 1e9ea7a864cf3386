import './scripts/node20-polyfills.ts';
import { defineConfig } from 'vitest/config';
import { playwright } from '@vitest/browser-playwright';

/** Chromium flags that give WebGPU (through SwiftShader where there is no GPU) in headless runs. */
export const chromiumArgs = [
  '--enable-unsafe-webgpu',
  '--use-webgpu-adapter=swiftshader',
  '--no-sandbox',
  '--headless=new',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

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
        // Serve onnxruntime-web as shipped instead of pre-bundling it: its bundle finds its
        // .wasm next to itself, and a dependency discovered late (inside the worker) would
        // otherwise make vite re-optimize and reload the page mid-run.
        optimizeDeps: {
          exclude: ['onnxruntime-web', 'onnxruntime-web/webgpu'],
          include: ['comlink', 'idb'],
        },
        test: {
          name: 'browser',
          include: ['test/browser/**/*.test.ts'],
          // Node side: trains and exports the tiny SASRec the ranker tests load (provide/inject),
          // and publishes a signed model served by the real server for the SDK tests.
          globalSetup: ['test/setup/ranker-fixtures.ts', 'test/setup/recommender-server.ts'],
          testTimeout: 180_000,
          hookTimeout: 300_000,
          browser: {
            enabled: true,
            headless: true,
            provider: playwright({
              launchOptions: {
                executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
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

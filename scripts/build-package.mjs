#!/usr/bin/env node
// Builds what the npm package ships into lib/ (`npm run build:package`; `npm pack` and
// `npm publish` run it as `prepack`). A checkout needs none of it: bin/localrec.js runs the
// TypeScript sources through tsx there.
//
// - lib/src, lib/workers, lib/models: every module compiled by tsc (tsconfig.build.json) to ES
//   modules with `.d.ts` beside them, the repository's layout one folder down. The browser side
//   is not bundled: a site's own bundler builds it, finds the recommender worker by its
//   `new Worker(new URL('…/recommender.worker.js', import.meta.url), { type: 'module' })`, and
//   ONNX Runtime's .wasm by the `new URL('ort-wasm-simd-threaded….wasm', import.meta.url)` in
//   onnxruntime-web's own ES bundle — so the package carries no .wasm of its own for it.
// - lib/src/client/ranker/ort-assets.js: replaced (see ORT_ASSETS below).
// - lib/src/client/trainer/wasm-assets.js: replaced by one that names tfjs-backend-wasm's two
//   .wasm builds with `new URL('./….wasm', import.meta.url)`, copied beside it (see TF_ASSETS).
// - lib/src/client/llm/wllama-assets.js: replaced by one that names wllama's .wasm (llama.cpp)
//   with `new URL('./wllama.wasm', import.meta.url)`, copied beside it (see LLM_ASSETS).
// - lib/embed: the script-tag build (`localrec.js`, its worker chunk, ONNX Runtime's .wasm and
//   their .br/.gz), exactly as `npm run build` makes it beside the demo site; `localrec serve`
//   serves it from the installed package.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const lib = join(root, 'lib');

/**
 * The package's ort-assets module. The source (src/client/ranker/ort-assets.ts) imports ORT's
 * .wasm files with vite's `?url`, which the repository's own builds and tests rely on but a
 * site's bundler cannot be expected to understand inside a dependency. Here it gives no paths,
 * so each ORT build fetches its .wasm from the URL its bundled code computes from
 * `import.meta.url`, which the site's bundler has rewritten to the file it emitted.
 */
const ORT_ASSETS = `// Written by scripts/build-package.mjs in place of the compiled src/client/ranker/ort-assets.ts,
// whose \`?url\` imports only vite resolves: in the package no .wasm path is set, so each
// ONNX Runtime build loads its .wasm from \`new URL('ort-wasm-simd-threaded….wasm', import.meta.url)\`,
// which the site's bundler recognises, emits and rewrites.
/** No paths of its own: ORT's \`new URL(…, import.meta.url)\`, as the site's bundler rewrote it. */
export const ortWasmUrls = { wasm: undefined, webgpu: undefined };
/** \`ort.env.wasm.wasmPaths\` left unset: ORT locates its own .wasm. */
export function ortWasmPaths() {
  return undefined;
}
`;
const ORT_ASSETS_DTS = `import type { Device } from './device.ts';
/** No paths of its own: ORT's \`new URL(…, import.meta.url)\`, as the site's bundler rewrote it. */
export declare const ortWasmUrls: Readonly<Record<Device, string | undefined>>;
/** \`ort.env.wasm.wasmPaths\` left unset: ORT locates its own .wasm. */
export declare function ortWasmPaths(device: Device): undefined;
`;

/**
 * The package's trainer wasm-assets module. tfjs-backend-wasm, unlike ONNX Runtime, has no
 * `new URL(…, import.meta.url)` of its own for its .wasm (it fetches a path relative to the page),
 * so the package ships the two builds the trainer can use (plain and SIMD; it never runs the
 * threaded one, see src/client/trainer/backend.ts) next to this module and names them the way a
 * site's bundler recognises, emits and rewrites.
 */
const TF_WASM = ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm'];
const TF_ASSETS = `// Written by scripts/build-package.mjs in place of the compiled src/client/trainer/wasm-assets.ts,
// whose \`?url\` imports only vite resolves: the two tfjs-backend-wasm builds lie beside this
// file, named so that a site's bundler emits them and rewrites these URLs.
/** \`setWasmPaths()\` of tfjs-backend-wasm: every build's file by its name. */
export const tfWasmPaths = {
${TF_WASM.map((f) => `  '${f}': new URL('./${f}', import.meta.url).href,`).join('\n')}
};
`;
const TF_ASSETS_DTS = `/** \`setWasmPaths()\` of tfjs-backend-wasm: every build's file by its name. */
export declare const tfWasmPaths: Readonly<Record<string, string>>;
`;

/**
 * The package's llm wasm-assets module: wllama names no .wasm by import.meta.url itself (its
 * default is a CDN, which localrec never uses), so the package ships `wllama.wasm` beside this
 * module, named the way a site's bundler emits and rewrites. Fetched only when the llm worker
 * runs the wasm engine.
 */
const LLM_ASSETS = `// Written by scripts/build-package.mjs in place of the compiled src/client/llm/wllama-assets.ts,
// whose \`?url\` import only vite resolves: wllama's .wasm lies beside this file, named so that a
// site's bundler emits it and rewrites this URL.
/** wllama's \`AssetsPathConfig\`. */
export const wllamaAssets = { default: new URL('./wllama.wasm', import.meta.url).href };
`;
const LLM_ASSETS_DTS = `/** wllama's \`AssetsPathConfig\`. */
export declare const wllamaAssets: { default: string };
`;

function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (exit ${r.status})`);
}

const t0 = performance.now();
rmSync(lib, { recursive: true, force: true });
run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json']);

const ortAssets = join(lib, 'src/client/ranker/ort-assets.js');
if (!existsSync(ortAssets)) throw new Error(`${ortAssets} is missing: did ort-assets.ts move?`);
writeFileSync(ortAssets, ORT_ASSETS);
writeFileSync(ortAssets.replace(/\.js$/, '.d.ts'), ORT_ASSETS_DTS);
const tfAssets = join(lib, 'src/client/trainer/wasm-assets.js');
if (!existsSync(tfAssets)) throw new Error(`${tfAssets} is missing: did wasm-assets.ts move?`);
writeFileSync(tfAssets, TF_ASSETS);
writeFileSync(tfAssets.replace(/\.js$/, '.d.ts'), TF_ASSETS_DTS);
for (const f of TF_WASM)
  copyFileSync(
    join(root, 'node_modules/@tensorflow/tfjs-backend-wasm/dist', f),
    join(lib, 'src/client/trainer', f),
  );
const llmAssets = join(lib, 'src/client/llm/wllama-assets.js');
if (!existsSync(llmAssets)) throw new Error(`${llmAssets} is missing: did wllama-assets.ts move?`);
writeFileSync(llmAssets, LLM_ASSETS);
writeFileSync(llmAssets.replace(/\.js$/, '.d.ts'), LLM_ASSETS_DTS);
copyFileSync(
  join(root, 'node_modules/@wllama/wllama/esm/wasm/wllama.wasm'),
  join(lib, 'src/client/llm/wllama.wasm'),
);
// The worker threads' entries (gradient workers, fedsim's clients) are plain JavaScript, which
// tsc does not copy.
for (const boot of ['models/sasrec/grad-worker-boot.js', 'models/federated/client-worker-boot.js'])
  copyFileSync(join(root, boot), join(lib, boot));
for (const file of [
  'src/client/index.js',
  'workers/recommender.worker.js',
  'workers/trainer.worker.js',
  'workers/llm.worker.js',
  'src/cli/main.js',
])
  if (!existsSync(join(lib, file))) throw new Error(`lib/${file} was not built`);

// The compiled CLI's own embed build (vite.embed.config.ts), with its size budget check.
const { buildEmbed, formatEmbedReport } = await import('../lib/src/cli/build-embed.js');
const embed = await buildEmbed({ outDir: join(lib, 'embed'), logLevel: 'warn' });
process.stderr.write(`${formatEmbedReport(embed)}\n`);
process.stderr.write(
  `package built into lib/ in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`,
);

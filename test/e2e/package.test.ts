/**
 * localrec as a site installs it. `npm pack` builds and packs the package; a new Vite app in a
 * temporary folder `npm install`s the tarball beside vite and typescript (from the npm cache the
 * checkout's `npm ci` filled, where it can); the installed `localrec` bin makes a key, trains a
 * tiny SASRec, exports and publishes it, and serves it; the app's main.ts is the README's usage
 * example as written (with this server's URL and key filled in), type-checked by `tsc` against
 * the package's .d.ts and built by `vite build` with no vite config; and Chromium, on the built
 * app, gets recommendations that the recommender worker computed with ONNX Runtime.
 *
 * The steps run in order, each test taking up where the one before left off.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, pageProblems, type Browser } from './browser.ts';

const REPO = join(import.meta.dirname, '../..');
const repoPackage = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8'));
const root = mkdtempSync(join(tmpdir(), 'localrec-package-'));
const app = join(root, 'shop');
const bin = (name: string) => join(app, 'node_modules', '.bin', name);

/**
 * The children's environment: this process's, without what vitest and an enclosing `npm test`
 * set (NODE_ENV=test, npm_config_* that npm would read as its own config), as in a new shell.
 * JOBS: node-gyp compiles better-sqlite3 on every core.
 */
const env: NodeJS.ProcessEnv = {
  ...Object.fromEntries(
    Object.entries(process.env).filter(
      ([k]) => !/^(npm_|VITEST|NODE_ENV$|TEST$|TSX_)/i.test(k) && k !== 'INIT_CWD',
    ),
  ),
  JOBS: 'max',
};

interface Run {
  stdout: string;
  stderr: string;
  code: number;
}

/** Runs a command to its end; rejects with its output when it fails (unless `allowFail`). */
function sh(
  cmd: string,
  args: string[],
  opts: { cwd: string; allowFail?: boolean; timeoutMs?: number },
): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(
      cmd,
      args,
      { cwd: opts.cwd, env, maxBuffer: 256 * 1024 * 1024, timeout: opts.timeoutMs ?? 600_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        if (code !== 0 && !opts.allowFail) {
          const tail = (s: string) => s.split('\n').slice(-40).join('\n');
          reject(
            new Error(`${cmd} ${args.join(' ')} exited ${code}\n${tail(stdout)}\n${tail(stderr)}`),
          );
        } else resolve({ stdout, stderr, code });
      },
    );
  });
}

/** The last stdout line of a `localrec` command: its JSON summary. */
const summary = (r: Run) => JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '');

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * Starts a long-running command; resolves with the first match of `ready` in its output, read
 * without ANSI colour codes.
 */
function start(
  cmd: string,
  args: string[],
  ready: RegExp,
): Promise<{ child: ChildProcess; match: RegExpMatchArray }> {
  const child = spawn(cmd, args, { cwd: app, env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => reject(new Error(`${cmd} did not start:\n${output}`)), 60_000);
    const hear = (chunk: Buffer) => {
      // Colour codes can fall inside what `ready` matches (Vite bolds the port), so they go.
      output += chunk.toString().replace(/\x1b\[[0-9;]*m/g, '');
      const match = output.match(ready);
      if (match) {
        clearTimeout(timer);
        resolve({ child, match });
      }
    };
    child.stdout!.on('data', hear);
    child.stderr!.on('data', hear);
    child.on('exit', (code) => reject(new Error(`${cmd} exited ${code}:\n${output}`)));
  });
}

/** The README's usage example, exactly as the README shows it. */
function readmeExample(): string {
  const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
  const block = /```ts\n(import \{ createRecommender \} from 'localrec';\n[\s\S]*?)```/.exec(
    readme,
  );
  if (!block?.[1]) throw new Error("README.md has no ```ts block importing from 'localrec'");
  return block[1];
}

const children: ChildProcess[] = [];
const seconds: Record<string, number> = {};
let tarball = '';
let serverUrl = '';
let publicKey = '';
let modelVersion = '';
let browser: Browser | undefined;
/** The app's port: the server's CORS list names its origin before the app is served. */
let appPort = 0;

/** Runs `step`, noting how long it took for the summary line. */
async function timed<T>(name: string, step: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  try {
    return await step();
  } finally {
    seconds[name] = Math.round((performance.now() - t0) / 100) / 10;
  }
}

beforeAll(() => {
  mkdirSync(join(app, 'src'), { recursive: true });
});

afterAll(async () => {
  await browser?.close();
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  console.log(`[package] seconds per step: ${JSON.stringify(seconds)}`);
  rmSync(root, { recursive: true, force: true });
});

describe('the npm package, installed into a new Vite app', () => {
  it('packs the built entry points, the bin and the embed, and none of the repo around them', async () => {
    const packed = await timed('pack', () =>
      sh('npm', ['pack', '--pack-destination', root, '--json'], { cwd: REPO }),
    );
    // prepack's build logs go to stderr; stdout is npm's JSON.
    const [info] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as {
      filename: string;
      size: number;
      unpackedSize: number;
      files: { path: string; size: number }[];
    }[];
    tarball = join(root, info!.filename);
    const files = info!.files.map((f) => f.path);
    for (const entry of Object.values(repoPackage.exports as Record<string, unknown>).flatMap(
      (e) => (typeof e === 'string' ? [e] : Object.values(e as Record<string, string>)),
    ))
      expect(files, `exports names ${entry}`).toContain(entry.replace(/^\.\//, ''));
    expect(files).toContain('bin/localrec.js');
    expect(files).toContain('lib/workers/recommender.worker.js');
    expect(files).toContain('lib/models/sasrec/grad-worker-boot.js');
    // Only built files: no sources (but .d.ts), tests, data, docs, demo or local state.
    const stray = files.filter(
      (f) =>
        !/^(lib\/|bin\/localrec\.js$|package\.json$|README\.md$|LICENSE)/.test(f) ||
        /(^|\/)(test|fixtures|\.localrec|screenshots|demo)\//.test(f) ||
        (/\.tsx?$/.test(f) && !f.endsWith('.d.ts')),
    );
    expect(stray).toEqual([]);
    // ONNX Runtime's .wasm only once: the embed's copy; the SDK uses onnxruntime-web's own.
    // tfjs-backend-wasm's plain and SIMD builds twice: the embed's trainer chunk's, and the
    // SDK's beside its trainer module (tfjs names no .wasm by import.meta.url itself); never the
    // threaded build, which the trainer does not run. wllama's (llama.cpp) twice: beside the SDK's
    // llm assets module, and the embed's, whose recommender worker names the llm worker (loaded
    // only on loadLlm(); the embed cannot start it cross-origin yet).
    expect(
      files
        .filter((f) => f.endsWith('.wasm'))
        .map((f) => f.replace(/-[\w-]{8}\.wasm$/, '.wasm'))
        .sort(),
    ).toEqual([
      'lib/embed/assets/ort-wasm-simd-threaded.asyncify.wasm',
      'lib/embed/assets/ort-wasm-simd-threaded.wasm',
      'lib/embed/assets/tfjs-backend-wasm-simd.wasm',
      'lib/embed/assets/tfjs-backend-wasm.wasm',
      'lib/embed/assets/wllama.wasm',
      'lib/src/client/llm/wllama.wasm',
      'lib/src/client/trainer/tfjs-backend-wasm-simd.wasm',
      'lib/src/client/trainer/tfjs-backend-wasm.wasm',
    ]);
    const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
    console.log(
      `[package] ${info!.filename}: ${mb(info!.size)} packed, ${mb(info!.unpackedSize)} unpacked, ${files.length} files`,
    );
  }, 600_000);

  it('npm-installs the tarball with vite and typescript; the installed bin runs without tsx', async () => {
    writeFileSync(
      join(app, 'package.json'),
      `${JSON.stringify({ name: 'shop', private: true, type: 'module' }, null, 2)}\n`,
    );
    const dev = repoPackage.devDependencies as Record<string, string>;
    await timed('install', () =>
      sh(
        'npm',
        [
          'install',
          '--prefer-offline',
          '--no-audit',
          '--no-fund',
          tarball,
          `vite@${dev['vite']}`,
          `typescript@${dev['typescript']}`,
        ],
        { cwd: app },
      ),
    );
    const installed = join(app, 'node_modules', 'localrec');
    expect(JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')).version).toBe(
      repoPackage.version,
    );
    expect(readdirSync(installed)).toEqual(expect.arrayContaining(['bin', 'lib', 'package.json']));
    expect(readdirSync(installed)).not.toContain('src');
    expect(readdirSync(join(app, 'node_modules'))).not.toContain('tsx');

    const help = await sh('npx', ['localrec', '--help'], { cwd: app });
    expect(help.stdout).toMatch(/^usage: localrec <command>/m);
    expect(help.stdout).toMatch(/^ {2}serve /m);
    // The demo site is built from the repository's sources: a clear no from the package.
    const build = await sh(bin('localrec'), ['build'], { cwd: app, allowFail: true });
    expect(build.code).not.toBe(0);
    expect(build.stderr).toMatch(/run from a checkout/);
  }, 900_000);

  it('trains, exports, publishes and serves a model with the installed bin', async () => {
    const localrec = (...args: string[]) => sh(bin('localrec'), args, { cwd: app });
    const key = await timed('keygen', () => localrec('keygen', '--out', 'keys/site'));
    publicKey = summary(key).publicKey;
    // A tiny model on the built-in synthetic catalog, on two gradient worker threads.
    const trained = await timed('train', () =>
      localrec(
        'train',
        ...['--data', 'demo:200:300:3', '--out', 'model', '--ensemble', '1', '--epochs', '2'],
        ...['--eval-every', '2', '--dim', '16', '--max-len', '20', '--ffn-dim', '16'],
        ...['--blocks', '1', '--heads', '1', '--workers', '2'],
      ),
    );
    expect(summary(trained)).toMatchObject({ items: 200, epochs: 2, workers: 2 });
    const exported = await timed('export', () => localrec('export', '--model', 'model'));
    modelVersion = summary(exported).modelVersion;
    const published = await timed('publish', () =>
      localrec(
        'publish',
        '--from',
        'model/export',
        '--store',
        'file:store',
        '--key',
        'keys/site.key',
      ),
    );
    expect(summary(published)).toMatchObject({ version: 1, modelVersion });

    appPort = await freePort();
    const { match } = await start(
      bin('localrec'),
      ['serve', '--store', 'file:store', '--host', '127.0.0.1', '--port', '0'].concat([
        '--cors-origins',
        `http://127.0.0.1:${appPort}`,
      ]),
      /localrec serving .*?(http:\/\/127\.0\.0\.1:\d+)\//,
    );
    serverUrl = match[1]!;
    const manifest = await fetch(`${serverUrl}/v1/manifest`);
    expect(manifest.status).toBe(200);
    expect((await manifest.json()).modelVersion).toBe(modelVersion);
    // The script-tag build ships in the package, and its server serves it.
    const embed = await fetch(`${serverUrl}/localrec.js`);
    expect(embed.status).toBe(200);
    expect(embed.headers.get('content-type')).toMatch(/javascript/);
  }, 300_000);

  it("type-checks and builds the README's example against the package", async () => {
    const example = readmeExample();
    const server = "'https://recs.example.com'";
    expect(example).toContain(server);
    expect(example).toContain('SITE_PUBLIC_KEY');
    writeFileSync(
      join(app, 'src', 'main.ts'),
      [
        `const SITE_PUBLIC_KEY = ${JSON.stringify(publicKey)};`,
        example.replace(server, JSON.stringify(serverUrl)),
        // The test's own lines, after the README's: once an encoder runs (ONNX Runtime has
        // loaded its .wasm in the worker), ask again, and hand everything to the test.
        "while ((await recs.status()).device === 'loading') await new Promise((r) => setTimeout(r, 50));",
        'const again = await recs.recommend({ k: 10 });',
        'const status = await recs.status();',
        'document.body.dataset.result = JSON.stringify({ items, why, again: again.items, status });',
        '',
      ].join('\n'),
    );
    writeFileSync(
      join(app, 'index.html'),
      `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <link rel="icon" href="data:," />
    <title>A shop</title>
  </head>
  <body>
    <script type="module" src="/src/main.ts"></script>
  </body>
</html>
`,
    );
    // Much as Vite's vanilla-ts template has it (strict, unused locals are errors). The template
    // skips lib checks too, so src/types.ts proves the imports are typed rather than `any`.
    writeFileSync(
      join(app, 'tsconfig.json'),
      `${JSON.stringify(
        {
          compilerOptions: {
            target: 'ES2022',
            module: 'ESNext',
            lib: ['ES2022', 'DOM', 'DOM.Iterable'],
            types: ['vite/client'],
            skipLibCheck: true,
            moduleResolution: 'bundler',
            verbatimModuleSyntax: true,
            moduleDetection: 'force',
            noEmit: true,
            strict: true,
            noUnusedLocals: true,
            noUnusedParameters: true,
            noFallthroughCasesInSwitch: true,
          },
          include: ['src'],
        },
        null,
        2,
      )}\n`,
    );
    // The other entry points type too, and wrong calls are errors (not `any`).
    writeFileSync(
      join(app, 'src', 'types.ts'),
      `import { createRecommender, LocalrecError, type Recommendation } from 'localrec';
import { mountWidget, type WidgetOptions } from 'localrec/embed';
import { verifyManifest, type Manifest } from 'localrec/core';

export const options: WidgetOptions = { k: 4 };
export const parts = [createRecommender, LocalrecError, mountWidget, verifyManifest];
export type Both = [Recommendation, Manifest];
// @ts-expect-error: k is a number
export const wrong: Parameters<Awaited<ReturnType<typeof createRecommender>>['recommend']>[0] = { k: 'ten' };
`,
    );
    await timed('tsc', () => sh(bin('tsc'), ['--noEmit', '-p', '.'], { cwd: app }));
    await timed('vite build', () => sh(bin('vite'), ['build'], { cwd: app }));
    const assets = readdirSync(join(app, 'dist', 'assets'));
    expect(assets.filter((f) => /^recommender\.worker-[\w-]+\.js$/.test(f))).toHaveLength(1);
    expect(assets.filter((f) => /^ort-wasm-simd-threaded-[\w-]+\.wasm$/.test(f))).toHaveLength(1);
  }, 300_000);

  it('gets recommendations in Chromium, computed in the worker with ONNX Runtime', async () => {
    const appUrl = `http://127.0.0.1:${appPort}`;
    await start(
      bin('vite'),
      ['preview', '--host', '127.0.0.1', '--port', String(appPort), '--strictPort'],
      /127\.0\.0\.1:\d+/,
    );
    browser = await launchChromium();
    const context = await browser.newContext();
    const page = await context.newPage();
    const problems = pageProblems(page);
    const workers: string[] = [];
    page.on('worker', (w) => workers.push(w.url()));
    const fetched: string[] = [];
    context.on('requestfinished', async (r) => {
      fetched.push(`${(await r.response())?.status()} ${r.url()}`);
    });
    const t0 = performance.now();
    await page.goto(appUrl);
    await page.waitForFunction(() => document.body.dataset['result'], null, { timeout: 120_000 });
    seconds['browser'] = Math.round((performance.now() - t0) / 100) / 10;
    const result = JSON.parse((await page.evaluate(() => document.body.dataset['result']))!) as {
      items: { id: string; title: string; sources: string[] }[];
      why: { itemId: string; text: string };
      again: { id: string; sources: string[] }[];
      status: { device: string; models: string[]; modelVersion: string; items: number };
    };
    expect(result.items).toHaveLength(10);
    expect(new Set(result.items.map((i) => i.id)).size).toBe(10);
    for (const item of result.items) expect(item.title).toMatch(/\S/);
    expect(result.why.itemId).toBe(result.items[0]!.id);
    expect(result.why.text).toMatch(/\S/);
    expect(result.status).toMatchObject({ modelVersion, models: ['sasrec'], items: 200 });
    expect(['wasm', 'webgpu']).toContain(result.status.device);
    // SASRec's encoder ran: ONNX Runtime loaded in the worker, with its .wasm from the app.
    expect(result.again.some((i) => i.sources.includes('sasrec'))).toBe(true);
    expect(workers).toEqual([expect.stringMatching(/\/assets\/recommender\.worker-[\w-]+\.js$/)]);
    const wasm = new RegExp(
      `^200 ${appUrl}/assets/ort-wasm-simd-threaded(\\.asyncify)?-[\\w-]+\\.wasm$`,
    );
    expect(fetched).toContainEqual(expect.stringMatching(wasm));
    expect(problems).toEqual([]);
    await context.close();
  }, 300_000);
});

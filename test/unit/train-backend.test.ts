/**
 * `--backend` for central training (issue #14 item 5): the flag, the clear errors where a GPU
 * path is missing, and WebGPU/WASM parity — the same training steps on tfjs-backend-webgpu (over
 * Dawn, the optional npm package `webgpu`) and on tfjs-backend-wasm give the same losses and
 * weights within float tolerance.
 *
 * The parity runs wherever Dawn finds an adapter. Without a GPU that is SwiftShader, Chromium's
 * software Vulkan driver, when Debian's chromium is installed (and the Vulkan loader,
 * libvulkan1): this file points the loader at it. Where no adapter exists the test asserts the
 * clear error instead; with LOCALREC_REQUIRE_WEBGPU=1 (set by .ci/run) that is a failure, so CI
 * cannot pass without running the parity.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeCheckpoint } from '../../models/checkpoint.ts';
import type { SasrecConfig, TrainConfig } from '../../models/sasrec/config.ts';
import { trainSasrec } from '../../models/sasrec/train.ts';
import { selfCheck } from '../../src/cli/backend/self-check.ts';
import { SWIFTSHADER_ICD } from '../../src/cli/backend/webgpu.ts';
import { TFJS_NODE_PACKAGES } from '../../src/cli/backend/tensorflow.ts';
import { parseTrainFlags } from '../../src/cli/commands/train.ts';
import { initTf, type BackendInfo } from '../../src/cli/tf-node.ts';
import { CHECKPOINT_FILE, runTrain } from '../../src/cli/train.ts';
import { isLocalrecError, type LocalrecError } from '../../src/core/errors.ts';
import { leaveOneOut } from '../../src/core/split.ts';
import { generateSyntheticCatalog } from '../../src/core/synthetic.ts';

const required = process.env['LOCALREC_REQUIRE_WEBGPU'] === '1';

/** Rejects with the LocalrecError of `p`, or fails. */
async function errorOf(p: Promise<unknown>): Promise<LocalrecError> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  if (!isLocalrecError(e)) throw new Error(`expected a LocalrecError, got ${String(e)}`);
  return e;
}

describe('--backend flag', () => {
  it('parses the choices; a GPU backend trains on one thread; bad input is a clear error', () => {
    expect(parseTrainFlags({}).backend).toBeUndefined();
    expect(parseTrainFlags({ backend: 'webgpu' })).toMatchObject({
      backend: 'webgpu',
      train: { workers: 1 },
    });
    expect(parseTrainFlags({ backend: 'tensorflow', workers: '1' }).train.workers).toBe(1);
    expect(parseTrainFlags({ backend: 'wasm', workers: '3' }).train.workers).toBe(3);
    expect(parseTrainFlags({ backend: 'auto' }).backend).toBe('auto');
    expect(() => parseTrainFlags({ backend: 'cuda' })).toThrow(
      /--backend must be wasm, webgpu, tensorflow or auto, got 'cuda'/,
    );
    expect(() => parseTrainFlags({ backend: 'webgpu', workers: '2' })).toThrow(
      /--workers 2 needs --backend wasm/,
    );
  });

  it('initTf refuses an unknown backend by name', async () => {
    const e = await errorOf(initTf('gpu' as never));
    expect(e.code).toBe('bad-input');
    expect(e.message).toMatch(
      /unknown backend 'gpu'; valid choices are wasm, webgpu, tensorflow, auto/,
    );
  });
});

describe("--backend auto's self-check", () => {
  it('passes tfjs-backend-wasm and catches a backend whose matmul is off', async () => {
    await initTf('wasm');
    expect(await selfCheck()).toBeNull();
    // The cpu backend with one wrong number in every BatchMatMul output.
    tf.registerBackend('broken-matmul', tf.findBackendFactory('cpu')!);
    for (const k of tf.getKernelsForBackend('cpu'))
      tf.registerKernel({
        ...k,
        backendName: 'broken-matmul',
        ...(k.kernelName === 'BatchMatMul' && {
          kernelFunc: (args) => {
            const out = k.kernelFunc(args) as tf.TensorInfo;
            const data = (
              args.backend as unknown as { data: Map<object, { values: Float32Array }> }
            ).data;
            data.get(out.dataId)!.values[0]! += 0.5;
            return out;
          },
        }),
      });
    try {
      await tf.setBackend('broken-matmul');
      expect(await selfCheck()).toMatch(/^loss .*, expected /);
    } finally {
      await initTf('wasm');
      tf.removeBackend('broken-matmul');
    }
    expect(tf.getBackend()).toBe('wasm');
  });
});

describe('--backend tensorflow', () => {
  it('without tfjs-node installed, says how to install it', async () => {
    const installed = await Promise.all(
      TFJS_NODE_PACKAGES.map((p) =>
        import(/* @vite-ignore */ p).then(
          () => true,
          () => false,
        ),
      ),
    );
    // Neither package is a dependency; an owner who installed one gets its backend instead.
    if (installed.some(Boolean)) {
      const info = await initTf('tensorflow');
      expect(info.backend).toBe('tensorflow');
      return;
    }
    const e = await errorOf(initTf('tensorflow'));
    expect(e.code).toBe('device-unavailable');
    expect(e.message).toMatch(
      /needs tfjs-node, which is not installed: npm install @tensorflow\/tfjs-node-gpu@4\./,
    );
    // The failed choice leaves the process on the backend it had.
    expect((await initTf()).backend).toBe('wasm');
  });
});

describe('--backend webgpu: parity with wasm', () => {
  let webgpu: BackendInfo | null = null;
  let failure: LocalrecError | null = null;
  let dir = '';

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'localrec-backend-'));
    const attempt = async () => {
      try {
        webgpu = await initTf('webgpu');
        failure = null;
      } catch (e) {
        if (!isLocalrecError(e)) throw e;
        failure = e;
      }
    };
    // A real adapter first; else SwiftShader (the Vulkan loader reads this variable each time
    // Dawn creates an instance, and a failed load is tried afresh).
    await attempt();
    if (failure && !process.env['VK_ICD_FILENAMES'] && existsSync(SWIFTSHADER_ICD)) {
      process.env['VK_ICD_FILENAMES'] = SWIFTSHADER_ICD;
      await attempt();
    }
    await initTf('wasm');
  }, 120_000);

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** Where Dawn found no adapter: the error above is what was checked, unless CI requires one. */
  const noAdapter = () => {
    expect(required, 'LOCALREC_REQUIRE_WEBGPU=1 but no WebGPU adapter').toBe(false);
    expect(failure?.code).toBe('device-unavailable');
  };

  it('initialises on an adapter, or fails with an error that says what to install', () => {
    if (required)
      expect(
        failure?.message ?? null,
        'LOCALREC_REQUIRE_WEBGPU=1: Dawn must find an adapter',
      ).toBeNull();
    if (failure) {
      expect(failure.code).toBe('device-unavailable');
      expect(failure.message).toMatch(/npm install webgpu|libvulkan1|VK_ICD_FILENAMES/);
      return;
    }
    expect(webgpu!.backend).toBe('webgpu');
    expect(webgpu!.reason).toMatch(/tfjs-backend-webgpu on Dawn, adapter /);
  });

  const split = leaveOneOut(
    generateSyntheticCatalog({ items: 40, users: 24, seed: 4, minEvents: 5, maxEvents: 10 }).events,
  );
  const c: SasrecConfig = {
    numItems: split.numItems,
    maxLen: 10,
    dim: 16,
    blocks: 2,
    heads: 2,
    ffnDim: 32,
    dropout: 0.2,
    layerNormEps: 1e-6,
    cosineTemperature: 0.07,
    itemBias: true,
  };

  /** Per-step losses and the final weights of a short run on `backend`. */
  async function steps(backend: 'wasm' | 'webgpu', tc: Partial<TrainConfig>) {
    await initTf(backend);
    const losses: number[] = [];
    const r = await trainSasrec(c, split, tc, { onProgress: (p) => losses.push(p.loss) });
    const weights = Object.fromEntries(
      await Promise.all(
        Object.entries(r.weights).map(async ([k, t]) => [k, Array.from(await t.data())] as const),
      ),
    );
    tf.dispose(Object.values(r.weights));
    return { losses, weights, ndcg: r.bestValid!.full.ndcg10 };
  }

  /**
   * Two backends' copies of one weight: equal to float rounding (~1e-7 seen after these steps).
   * Not the attention's key bias: a constant added to every key's score leaves the softmax as it
   * is, so its true gradient is zero and what it gets is rounding noise, which Adam scales up
   * to a step of about the learning rate in whichever direction that noise points.
   */
  function expectWeightsClose(name: string, w: ArrayLike<number>, v: ArrayLike<number>) {
    expect(v.length, name).toBe(w.length);
    if (/attn\.bk$/.test(name)) return;
    let worst = 0;
    for (let i = 0; i < w.length; i++) worst = Math.max(worst, Math.abs(w[i]! - v[i]!));
    expect(worst, name).toBeLessThan(1e-5);
  }

  function expectClose(a: Awaited<ReturnType<typeof steps>>, b: typeof a) {
    expect(b.losses.length).toBe(a.losses.length);
    expect(a.losses.length).toBeGreaterThan(1);
    b.losses.forEach((l, i) =>
      expect(Math.abs(l - a.losses[i]!)).toBeLessThan(1e-4 * Math.max(1, a.losses[i]!)),
    );
    for (const [name, w] of Object.entries(a.weights))
      expectWeightsClose(name, w, b.weights[name]!);
    expect(Math.abs(b.ndcg - a.ndcg)).toBeLessThan(1e-3);
  }

  const base: Partial<TrainConfig> = {
    epochs: 1,
    batchSize: 8,
    learningRate: 1e-2,
    evalEvery: 1,
    patience: 100,
    minEpochs: 0,
    seed: 2,
    workers: 1,
  };

  it('full softmax (seen items excluded): the same losses and weights', async () => {
    if (!webgpu) return noAdapter();
    const wasm = await steps('wasm', { ...base, loss: { kind: 'full' }, excludeSeen: true });
    const gpu = await steps('webgpu', { ...base, loss: { kind: 'full' }, excludeSeen: true });
    expectClose(wasm, gpu);
  }, 600_000);

  it('sampled softmax with lazy Adam: the same losses and weights', async () => {
    if (!webgpu) return noAdapter();
    const tc = { ...base, loss: { kind: 'sampled' as const, negatives: 16 }, sparseAdam: true };
    const wasm = await steps('wasm', tc);
    const gpu = await steps('webgpu', tc);
    expectClose(wasm, gpu);
  }, 600_000);

  it('auto takes no software adapter: wasm, saying why', async () => {
    const info = await initTf('auto');
    // Where Dawn found a real GPU (a lent device machine), auto takes it.
    if (webgpu?.gpu) return expect(info).toMatchObject({ backend: 'webgpu', gpu: true });
    expect(info).toMatchObject({ backend: 'wasm', gpu: false });
    expect(tf.getBackend()).toBe('wasm');
    expect(info.reason).toMatch(/^auto: no GPU path \(tensorflow: /);
    if (webgpu)
      expect(info.reason).toMatch(/webgpu: tfjs-backend-webgpu on Dawn, adapter .*not a GPU/);
    else expect(info.reason).toMatch(/webgpu: --backend webgpu/);
  });

  it('localrec train --backend webgpu: item features, one thread, a checkpoint read back from the GPU', async () => {
    if (!webgpu) return noAdapter();
    const ds = generateSyntheticCatalog({
      items: 40,
      users: 24,
      seed: 4,
      minEvents: 5,
      maxEvents: 10,
    });
    const run = async (backend: 'wasm' | 'webgpu', workers: number) => {
      const out = join(dir, backend);
      const { summary } = await runTrain(ds, {
        // The parity runs' model (their shaders are compiled already), plus item features.
        model: { maxLen: 10, dim: 16, blocks: 2, heads: 2, ffnDim: 32, itemBias: true },
        train: { ...base, workers },
        members: 1,
        out,
        dataSource: 'synthetic',
        quiet: true,
        backend,
      });
      return { summary, ck: decodeCheckpoint(readFileSync(join(out, CHECKPOINT_FILE))) };
    };
    const wasm = await run('wasm', 1);
    // Two workers asked for: on webgpu the step runs on one thread.
    const gpu = await run('webgpu', 2);
    expect(wasm.summary).toMatchObject({ backend: 'wasm', workers: 1 });
    expect(gpu.summary).toMatchObject({ backend: 'webgpu', workers: 1 });
    expect(gpu.ck.meta['itemFeatures']).toBeDefined();
    // The checkpoint (item features baked into item_emb) as written from each backend.
    for (const [name, w] of Object.entries(wasm.ck.weights))
      expectWeightsClose(name, w.data, gpu.ck.weights[name]!.data);
    expect(Math.abs(gpu.summary.valid!.full.ndcg10 - wasm.summary.valid!.full.ndcg10)).toBeLessThan(
      1e-3,
    );
  }, 600_000);
});

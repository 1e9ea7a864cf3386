/** Device choice in a real browser context, with fake `navigator.gpu`s for the cases SwiftShader cannot show. */
import { describe, expect, it } from 'vitest';
import {
  classifyAdapter,
  pickDevice,
  type AdapterLike,
  type GpuLike,
} from '../../src/client/ranker/device.ts';
import { isLocalrecError } from '../../src/core/errors.ts';

const fakeGpu = (adapter: AdapterLike | null): GpuLike => ({ requestAdapter: async () => adapter });
const hardware: AdapterLike = {
  info: {
    vendor: 'nvidia',
    architecture: 'ampere',
    device: '',
    description: '',
    isFallbackAdapter: false,
  },
};

describe('classifyAdapter', () => {
  it.each([
    [{ info: { vendor: 'google', architecture: 'swiftshader', isFallbackAdapter: true } }, true],
    [{ info: { vendor: 'google', architecture: 'swiftshader' } }, true],
    [
      {
        info: { vendor: 'mesa', architecture: '', description: 'llvmpipe (LLVM 15.0.6, 256 bits)' },
      },
      true,
    ],
    [{ info: { vendor: 'microsoft', description: 'Microsoft Basic Render Driver' } }, true],
    [{ info: { vendor: 'intel' }, isFallbackAdapter: true }, true],
    [{ info: { vendor: 'intel', architecture: 'gen-12lp' } }, false],
    [{ info: { vendor: 'apple', architecture: 'metal-3' } }, false],
    [hardware, false],
    [{}, false],
  ] as [AdapterLike, boolean][])('%j → software %s', (adapter, software) => {
    expect(classifyAdapter(adapter).software).toBe(software);
  });
});

describe('pickDevice', () => {
  it('auto on this headless Chromium: the real adapter is SwiftShader, so wasm', async () => {
    const d = await pickDevice('auto');
    expect(d.device).toBe('wasm');
    expect(d.reason).toMatch(/google\/swiftshader.*software/);
    expect(d.adapterInfo?.architecture).toBe('swiftshader');
  });

  it("explicit 'webgpu' takes the software adapter, and says so", async () => {
    const d = await pickDevice('webgpu');
    expect(d.device).toBe('webgpu');
    expect(d.reason).toMatch(/software adapter/);
  });

  it('auto takes a hardware adapter', async () => {
    const d = await pickDevice('auto', { gpu: fakeGpu(hardware) });
    expect(d.device).toBe('webgpu');
    expect(d.reason).toMatch(/hardware.*nvidia\/ampere/);
  });

  it('auto without WebGPU, or without an adapter, falls back to wasm with the reason', async () => {
    expect(await pickDevice('auto', { gpu: null })).toMatchObject({
      device: 'wasm',
      reason: expect.stringMatching(/navigator\.gpu is missing/),
    });
    expect(await pickDevice('auto', { gpu: fakeGpu(null) })).toMatchObject({
      device: 'wasm',
      reason: expect.stringMatching(/no adapter/),
    });
    const throwing: GpuLike = { requestAdapter: async () => Promise.reject(new Error('boom')) };
    expect(await pickDevice('auto', { gpu: throwing })).toMatchObject({
      device: 'wasm',
      reason: expect.stringMatching(/failed: boom/),
    });
  });

  it("explicit 'webgpu' with no adapter → device-unavailable naming the valid choices", async () => {
    for (const gpu of [null, fakeGpu(null)]) {
      const e = await pickDevice('webgpu', { gpu }).catch((x: unknown) => x);
      expect(isLocalrecError(e) && e.code).toBe('device-unavailable');
      expect((e as Error).message).toMatch(/'wasm'.*valid choices: auto, webgpu, wasm/);
    }
  });

  it("'wasm' never asks for an adapter; an unknown choice is bad-input", async () => {
    const gpu: GpuLike = { requestAdapter: () => Promise.reject(new Error('must not be called')) };
    expect((await pickDevice('wasm', { gpu })).device).toBe('wasm');
    const e = await pickDevice('cuda' as never).catch((x: unknown) => x);
    expect(isLocalrecError(e) && e.code).toBe('bad-input');
    expect((e as Error).message).toMatch(/'auto', 'webgpu', 'wasm'/);
  });
});

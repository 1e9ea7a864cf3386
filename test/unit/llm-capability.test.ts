/**
 * Which LLM engine may run (src/client/llm/capability.ts): `chooseLlmEngine` for every rule of
 * the `llm` option — a real adapter, shader-f16, maxBufferSize and the storage binding limit,
 * device memory (and its cap at 8 GB), Save-Data, the WebAssembly features wllama's build needs,
 * threads only under cross-origin isolation — and the one error code when nothing fits.
 */
import { describe, expect, it } from 'vitest';
import { isLocalrecError } from '../../src/core/errors.ts';
import {
  chooseLlmEngine,
  noEngineError,
  wasmThreads,
  type LlmCandidate,
  type LlmDevice,
} from '../../src/client/llm/capability.ts';

const GB = 2 ** 30;
const device = (over: Partial<LlmDevice> = {}): LlmDevice => ({
  webgpu: {
    features: ['shader-f16'],
    maxBufferSize: 4 * GB,
    maxStorageBufferBindingSize: 2 * GB,
    isFallbackAdapter: false,
  },
  wasm: { simd: true, exceptions: true, jspi: true, memory64: true, threads: false },
  deviceMemoryGB: 8,
  hardwareConcurrency: 8,
  saveData: false,
  ...over,
});
const gpu = (over: Partial<NonNullable<LlmDevice['webgpu']>>) => ({ ...device().webgpu!, ...over });

const webllm: LlmCandidate = {
  engine: 'webllm',
  needs: {
    memoryMB: 1500,
    shaderF16: true,
    maxBufferSizeBytes: GB,
    maxStorageBufferBindingBytes: GB,
  },
};
const wllama: LlmCandidate = { engine: 'wllama', needs: { memoryMB: 600 } };
const both = [webllm, wllama];

describe('chooseLlmEngine', () => {
  it('auto: web-llm on a real adapter with what the model needs', () => {
    expect(chooseLlmEngine('auto', device(), both)).toEqual({
      engine: 'webllm',
      candidate: 0,
      device: 'webgpu',
      threads: 1,
    });
  });

  it('auto: falls back to wllama, keeping the reason WebGPU did not fit', () => {
    const cases: [Partial<LlmDevice>, string][] = [
      [{ webgpu: null }, 'webgpu: there is no WebGPU adapter'],
      [
        { webgpu: gpu({ isFallbackAdapter: true }) },
        'webgpu: the WebGPU adapter is a software fallback',
      ],
      [
        { webgpu: gpu({ features: [] }) },
        'webgpu: the model needs shader-f16 and the adapter lacks it',
      ],
      [
        { webgpu: gpu({ maxBufferSize: GB - 1 }) },
        `webgpu: the model needs buffers of ${GB} bytes and the adapter allows ${GB - 1}`,
      ],
      [
        { webgpu: gpu({ maxStorageBufferBindingSize: 128 * 2 ** 20 }) },
        `webgpu: the model needs storage bindings of ${GB} bytes and the adapter allows ${128 * 2 ** 20}`,
      ],
      [{ deviceMemoryGB: 2 }, 'webgpu: the model needs 1500 MB and the device has 2 GB'],
    ];
    for (const [over, reason] of cases) {
      const d = chooseLlmEngine('auto', device(over), both);
      expect(d, reason).toMatchObject({ engine: 'wllama', candidate: 1, device: 'wasm' });
      expect(chooseLlmEngine('auto', device(over), [webllm]), reason).toEqual({
        engine: null,
        reasons: [reason, 'wasm: no wllama model is offered'],
      });
    }
  });

  it('does not need shader-f16 for a model that does not use it', () => {
    const f32 = { ...webllm, needs: { ...webllm.needs, shaderF16: false } };
    expect(chooseLlmEngine('auto', device({ webgpu: gpu({ features: [] }) }), [f32]).engine).toBe(
      'webllm',
    );
  });

  it('takes the first offered model that fits', () => {
    const small = { engine: 'webllm' as const, needs: { memoryMB: 900 } };
    expect(chooseLlmEngine('auto', device({ deviceMemoryGB: 2 }), [webllm, small])).toMatchObject({
      engine: 'webllm',
      candidate: 1,
    });
  });

  it('reads device memory as capped: 8 GB may be more, and unknown is no objection', () => {
    const huge = { engine: 'wllama' as const, needs: { memoryMB: 12_000 } };
    expect(chooseLlmEngine('wasm', device({ deviceMemoryGB: 8 }), [huge]).engine).toBe('wllama');
    const unknown = device();
    delete unknown.deviceMemoryGB;
    expect(chooseLlmEngine('wasm', unknown, [huge]).engine).toBe('wllama');
    expect(chooseLlmEngine('wasm', device({ deviceMemoryGB: 4 }), [huge])).toEqual({
      engine: null,
      reasons: ['wasm: the model needs 12000 MB and the device has 4 GB'],
    });
  });

  it('wasm needs SIMD, exceptions and Memory64 (wllama 3, no compat build), not JSPI', () => {
    const wasm = (over: Partial<LlmDevice['wasm']>) =>
      device({ wasm: { ...device().wasm, ...over } });
    expect(chooseLlmEngine('wasm', wasm({ memory64: false, simd: false }), both)).toEqual({
      engine: null,
      reasons: ['wasm: WebAssembly lacks SIMD, Memory64'],
    });
    expect(chooseLlmEngine('wasm', wasm({ exceptions: false }), both)).toEqual({
      engine: null,
      reasons: ['wasm: WebAssembly lacks exception handling'],
    });
    // Firefox: no JSPI, Memory64 — wllama copies the model into its heap and runs on the CPU.
    expect(chooseLlmEngine('auto', wasm({ jspi: false }), both)).toMatchObject({
      engine: 'webllm',
    });
    expect(chooseLlmEngine('wasm', wasm({ jspi: false }), both)).toMatchObject({
      engine: 'wllama',
    });
  });

  it('Save-Data stops auto, not an explicit choice', () => {
    expect(chooseLlmEngine('auto', device({ saveData: true }), both)).toEqual({
      engine: null,
      reasons: ['the visitor asked to save data (Save-Data)'],
    });
    expect(chooseLlmEngine('wasm', device({ saveData: true }), both).engine).toBe('wllama');
    expect(chooseLlmEngine('webgpu', device({ saveData: true }), both).engine).toBe('webllm');
  });

  it('webgpu and wasm name one engine; webgpu allows a fallback adapter', () => {
    expect(chooseLlmEngine('wasm', device(), both)).toMatchObject({
      engine: 'wllama',
      candidate: 1,
    });
    expect(
      chooseLlmEngine('webgpu', device({ webgpu: gpu({ isFallbackAdapter: true }) }), both),
    ).toMatchObject({ engine: 'webllm' });
    expect(chooseLlmEngine('webgpu', device(), [wllama])).toEqual({
      engine: null,
      reasons: ['webgpu: no webllm model is offered'],
    });
  });

  it('off runs nothing, and an unknown choice is bad input', () => {
    expect(chooseLlmEngine('off', device(), both)).toEqual({
      engine: null,
      reasons: ["the llm option is 'off'"],
    });
    let err: unknown;
    try {
      chooseLlmEngine('gpu' as 'auto', device(), both);
    } catch (e) {
      err = e;
    }
    expect(isLocalrecError(err) && err.code).toBe('bad-input');
    expect((err as Error).message).toBe(
      "llm must be 'auto', 'webgpu', 'wasm' or 'off', got \"gpu\"",
    );
  });
});

describe('wasmThreads and noEngineError', () => {
  it('runs one thread unless cross-origin isolated, then half the cores up to 4', () => {
    expect(wasmThreads(device())).toBe(1);
    const isolated = (hc: number) =>
      device({ hardwareConcurrency: hc, wasm: { ...device().wasm, threads: true } });
    expect(wasmThreads(isolated(2))).toBe(1);
    expect(wasmThreads(isolated(6))).toBe(3);
    expect(wasmThreads(isolated(32))).toBe(4);
    expect(chooseLlmEngine('wasm', isolated(6), both)).toMatchObject({ threads: 3 });
  });

  it('is one error code, llm-unavailable, with the reasons', () => {
    const e = noEngineError({ reasons: ['webgpu: a', 'wasm: b'] });
    expect(e.code).toBe('llm-unavailable');
    expect(e.message).toBe(
      'no LLM engine fits this device (webgpu: a; wasm: b); answers use the templates',
    );
  });
});

/**
 * Capability detection: which execution device the ranker should use.
 *
 * The rule (ARCHITECTURE.md: "WebGPU is used when a real adapter is present; otherwise WASM"):
 * - `'wasm'`: always WASM (fails only where WebAssembly itself is missing).
 * - `'webgpu'`: WebGPU whatever the adapter, even a software one — the caller asked for it
 *   (tests force it to prove WebGPU/WASM parity on SwiftShader). No adapter at all is a
 *   `device-unavailable` error naming the valid choices.
 * - `'auto'`: WebGPU only when `navigator.gpu.requestAdapter()` returns an adapter that is
 *   not a software rasteriser (see {@link classifyAdapter}); otherwise WASM. A software
 *   adapter runs the shaders on the CPU, slower than ORT's own WASM kernels, so it is never
 *   picked automatically.
 *
 * Uses small structural types instead of `@webgpu/types` so the module type-checks without
 * them and tests can pass a fake `navigator.gpu`.
 */
import { LocalrecError } from '../../core/errors.ts';
import {
  adapterIdentity,
  classifyAdapter,
  describeAdapter,
  type AdapterInfoLike,
  type AdapterLike,
} from '../../core/gpu-adapter.ts';

export {
  adapterIdentity,
  classifyAdapter,
  describeAdapter,
  type AdapterClass,
  type AdapterInfoLike,
  type AdapterLike,
} from '../../core/gpu-adapter.ts';

/** What the caller may ask for. */
export type DeviceChoice = 'auto' | 'webgpu' | 'wasm';
/** What actually runs. */
export type Device = 'webgpu' | 'wasm';

/** The valid values of {@link DeviceChoice}, for error messages and option checks. */
export const DEVICE_CHOICES: readonly DeviceChoice[] = ['auto', 'webgpu', 'wasm'];

/** The subset of `navigator.gpu` used here. */
export interface GpuLike {
  requestAdapter(options?: {
    powerPreference?: 'low-power' | 'high-performance';
  }): Promise<AdapterLike | null>;
}

/** The device decision and why, in words a person can act on. */
export interface DeviceDecision {
  device: Device;
  reason: string;
  /** The adapter examined, when there was one (the ranker hands it to ONNX Runtime). */
  adapter?: AdapterLike;
  /** Its identity, for logs and reports. */
  adapterInfo?: AdapterInfoLike;
}

function defaultGpu(): GpuLike | undefined {
  const nav = (globalThis as { navigator?: { gpu?: GpuLike } }).navigator;
  return nav?.gpu;
}

async function requestAdapter(
  gpu: GpuLike | undefined,
): Promise<{ adapter: AdapterLike | null; why: string }> {
  if (!gpu)
    return {
      adapter: null,
      why: 'navigator.gpu is missing (no WebGPU in this browser or context)',
    };
  try {
    const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
    return { adapter, why: adapter ? '' : 'navigator.gpu.requestAdapter() returned no adapter' };
  } catch (e) {
    return {
      adapter: null,
      why: `navigator.gpu.requestAdapter() failed: ${e instanceof Error ? e.message : String(e)}`,
    };
  }
}

/** Options of {@link pickDevice}. */
export interface PickDeviceOptions {
  /** Stand-in for `navigator.gpu` (tests); `null` means "no WebGPU". Default: the real one. */
  gpu?: GpuLike | null;
}

/**
 * Decides where the ranker runs; see the module comment for the rule.
 *
 * @throws LocalrecError `bad-input` for an unknown choice; `device-unavailable` when the
 *   explicitly requested device cannot run here.
 */
export async function pickDevice(
  choice: DeviceChoice = 'auto',
  options: PickDeviceOptions = {},
): Promise<DeviceDecision> {
  if (!DEVICE_CHOICES.includes(choice)) {
    throw new LocalrecError(
      'bad-input',
      `unknown device '${String(choice)}'; valid choices are ${DEVICE_CHOICES.map((c) => `'${c}'`).join(', ')}`,
    );
  }
  const hasWasm = typeof WebAssembly === 'object' && typeof WebAssembly.instantiate === 'function';
  const wasmOrFail = (reason: string): DeviceDecision => {
    if (!hasWasm) {
      throw new LocalrecError(
        'device-unavailable',
        `neither WebGPU nor WebAssembly is available here (${reason}); the ranker cannot run in this browser`,
      );
    }
    return { device: 'wasm', reason };
  };
  if (choice === 'wasm') return wasmOrFail("device 'wasm' was requested");

  const gpu = options.gpu === null ? undefined : (options.gpu ?? defaultGpu());
  const { adapter, why } = await requestAdapter(gpu);

  if (choice === 'webgpu') {
    if (!adapter) {
      throw new LocalrecError(
        'device-unavailable',
        `device 'webgpu' was requested but ${why}; use device 'wasm', or 'auto' to pick the best available (valid choices: ${DEVICE_CHOICES.join(', ')})`,
      );
    }
    const cls = classifyAdapter(adapter);
    const note = cls.software ? ` (a software adapter: ${cls.why}; expect CPU speed)` : '';
    return {
      device: 'webgpu',
      reason: `device 'webgpu' was requested; using ${describeAdapter(adapter)}${note}`,
      adapter,
      adapterInfo: adapterIdentity(adapter),
    };
  }

  // auto
  if (!adapter) return wasmOrFail(`auto: no WebGPU, because ${why}`);
  const cls = classifyAdapter(adapter);
  if (cls.software) {
    return {
      ...wasmOrFail(
        `auto: the WebGPU adapter ${describeAdapter(adapter)} is software (${cls.why}), so WASM is faster`,
      ),
      adapterInfo: adapterIdentity(adapter),
    };
  }
  return {
    device: 'webgpu',
    reason: `auto: hardware WebGPU adapter ${describeAdapter(adapter)}`,
    adapter,
    adapterInfo: adapterIdentity(adapter),
  };
}

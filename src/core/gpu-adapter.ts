/**
 * Which WebGPU adapters are software (CPU) implementations, from what an adapter tells of
 * itself: the rule the browser's device choice (src/client/ranker/device.ts) and Node's
 * `--backend auto` (src/cli/backend/webgpu.ts, over Dawn) both apply. Small structural types
 * instead of `@webgpu/types`, so tests can pass plain objects.
 */

/** The subset of `GPUAdapterInfo` the rule reads (all optional: older browsers lack some). */
export interface AdapterInfoLike {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  isFallbackAdapter?: boolean;
}

/** The subset of `GPUAdapter` used here. */
export interface AdapterLike {
  info?: AdapterInfoLike;
  /** Deprecated location of the flag (Chrome < 136 put it on the adapter). */
  isFallbackAdapter?: boolean;
}

/** Whether an adapter is a software (CPU) implementation, and what gave it away. */
export interface AdapterClass {
  software: boolean;
  why: string;
}

/*
 * Names software WebGPU/Vulkan/D3D implementations report in architecture, device or
 * description: SwiftShader (Chrome's fallback), llvmpipe/lavapipe/softpipe (Mesa), WARP
 * ("Microsoft Basic Render Driver"), and Vulkan's "cpu" device type.
 */
const SOFTWARE_NAMES = /swiftshader|llvmpipe|lavapipe|softpipe|basic render|\bwarp\b|\bcpu\b/i;

/**
 * Classifies an adapter as software or hardware. Software when any of:
 * 1. `info.isFallbackAdapter` (or the older `adapter.isFallbackAdapter`) is true — the
 *    browser says so itself;
 * 2. `vendor` is `'google'` — Dawn reports Google's PCI vendor id (0x1AE0) only for
 *    SwiftShader; real GPUs in Google devices report arm, qualcomm, intel, ...;
 * 3. architecture, device or description names a software rasteriser (SwiftShader,
 *    llvmpipe, lavapipe, softpipe, WARP/"Basic Render", or a "cpu" device type).
 * Headless Chromium with `--use-webgpu-adapter=swiftshader` reports
 * `{ vendor: 'google', architecture: 'swiftshader', isFallbackAdapter: true }`.
 */
export function classifyAdapter(adapter: AdapterLike): AdapterClass {
  const info = adapter.info ?? {};
  if (info.isFallbackAdapter === true || adapter.isFallbackAdapter === true) {
    return { software: true, why: 'the browser marks it as a fallback adapter' };
  }
  if ((info.vendor ?? '').toLowerCase() === 'google') {
    return { software: true, why: "vendor 'google' is SwiftShader's" };
  }
  for (const field of ['architecture', 'device', 'description'] as const) {
    const v = info[field] ?? '';
    const m = SOFTWARE_NAMES.exec(v);
    if (m)
      return { software: true, why: `its ${field} '${v}' names a software renderer (${m[0]})` };
  }
  return { software: false, why: 'a hardware adapter' };
}

/** `vendor/architecture` for messages, e.g. `google/swiftshader`. */
export function describeAdapter(adapter: AdapterLike): string {
  const i = adapter.info ?? {};
  const parts = [i.vendor, i.architecture, i.device, i.description].filter((s) => s);
  return parts.length ? parts.join('/') : 'an adapter with no identity';
}

/** A plain copy of the adapter's identity (GPUAdapterInfo's getters do not survive postMessage). */
export function adapterIdentity(adapter: AdapterLike): AdapterInfoLike {
  const i = adapter.info ?? {};
  return {
    vendor: i.vendor ?? '',
    architecture: i.architecture ?? '',
    device: i.device ?? '',
    description: i.description ?? '',
    isFallbackAdapter: i.isFallbackAdapter ?? adapter.isFallbackAdapter ?? false,
  };
}

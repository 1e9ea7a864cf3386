/**
 * Which engine may run the on-device LLM here (issue #15): {@link chooseLlmEngine} is a pure
 * function of the `llm` option, what the device offers ({@link LlmDevice}) and what each
 * offered model needs, so every rule is unit-tested in Node; {@link probeLlmDevice} reads the
 * device in a page or worker.
 *
 * `auto` wants a real GPU adapter (not a software fallback such as SwiftShader) with every
 * feature and limit the web-llm model states, else a WASM runtime wllama's build can run on
 * (SIMD, exceptions, Memory64 — so not Safari, whose build would be @wllama/wllama-compat's);
 * it declines on Save-Data (the weights are large downloads) and when the device's memory is
 * known to be short of the model's. `webgpu` and `wasm` name one engine and skip the
 * Save-Data and fallback-adapter rules (the owner asked); `off` runs none.
 */
import { LocalrecError } from '../../core/errors.ts';
import type { LlmChoice, LlmEngineKind, LlmNeeds } from './api.ts';

/** What the device offers an LLM engine. */
export interface LlmDevice {
  /** null without WebGPU or without an adapter. */
  webgpu: null | {
    features: string[];
    maxBufferSize: number;
    maxStorageBufferBindingSize: number;
    /** A software adapter (SwiftShader, WARP): correct, far too slow for an LLM. */
    isFallbackAdapter: boolean;
  };
  wasm: {
    simd: boolean;
    exceptions: boolean;
    /**
     * JavaScript Promise Integration: wllama reads the model file asynchronously with it, and
     * copies it into its heap without (Firefox); on the CPU it runs either way.
     */
    jspi: boolean;
    /** 64-bit WebAssembly memory: wllama 3's build needs it (Safari lacks it). */
    memory64: boolean;
    /** SharedArrayBuffer under cross-origin isolation: threads are possible. */
    threads: boolean;
  };
  /** navigator.deviceMemory in GB (a rounded value, at most 8 where browsers cap it). */
  deviceMemoryGB?: number;
  hardwareConcurrency: number;
  /** The visitor asked to save data (`navigator.connection.saveData`). */
  saveData: boolean;
}

/** A model on offer and the engine it is built for. */
export interface LlmCandidate {
  engine: LlmEngineKind;
  needs: LlmNeeds;
}

/** The choice: an engine and the offered model it runs, or why none. */
export type LlmDecision =
  | { engine: LlmEngineKind; candidate: number; device: 'webgpu' | 'wasm'; threads: number }
  | { engine: null; reasons: string[] };

const ENGINE_FOR: Record<'webgpu' | 'wasm', LlmEngineKind> = { webgpu: 'webllm', wasm: 'wllama' };

/** Why `device` falls short of `needs` in memory, or undefined. */
function memoryShort(device: LlmDevice, needs: LlmNeeds): string | undefined {
  const gb = device.deviceMemoryGB;
  // deviceMemory is capped (8 in Chromium): a device that says 8 may have more.
  if (gb === undefined || gb >= 8) return undefined;
  // Leave the page, the browser and the OS at least half the memory.
  if (needs.memoryMB > (gb * 1024) / 2)
    return `the model needs ${needs.memoryMB} MB and the device has ${gb} GB`;
  return undefined;
}

function webgpuShort(device: LlmDevice, needs: LlmNeeds, strict: boolean): string | undefined {
  const g = device.webgpu;
  if (!g) return 'there is no WebGPU adapter';
  if (strict && g.isFallbackAdapter) return 'the WebGPU adapter is a software fallback';
  if (needs.shaderF16 && !g.features.includes('shader-f16'))
    return 'the model needs shader-f16 and the adapter lacks it';
  if (needs.maxBufferSizeBytes !== undefined && g.maxBufferSize < needs.maxBufferSizeBytes)
    return `the model needs buffers of ${needs.maxBufferSizeBytes} bytes and the adapter allows ${g.maxBufferSize}`;
  const binding = needs.maxStorageBufferBindingBytes;
  if (binding !== undefined && g.maxStorageBufferBindingSize < binding)
    return `the model needs storage bindings of ${binding} bytes and the adapter allows ${g.maxStorageBufferBindingSize}`;
  return memoryShort(device, needs);
}

function wasmShort(device: LlmDevice, needs: LlmNeeds): string | undefined {
  const w = device.wasm;
  const missing = (
    [
      ['SIMD', w.simd],
      ['exception handling', w.exceptions],
      ['Memory64', w.memory64],
    ] as const
  )
    .filter(([, ok]) => !ok)
    .map(([name]) => name);
  if (missing.length) return `WebAssembly lacks ${missing.join(', ')}`;
  return memoryShort(device, needs);
}

/** wllama's threads: one unless the page is cross-origin isolated, then half the cores (≤ 4). */
export function wasmThreads(device: LlmDevice): number {
  if (!device.wasm.threads) return 1;
  return Math.max(1, Math.min(4, Math.floor(device.hardwareConcurrency / 2)));
}

/**
 * The engine and model to run for `choice`: the first offered model of the first engine that
 * fits, trying WebGPU before WASM for `auto`.
 *
 * @throws LocalrecError `bad-input` for a choice that is not one of the four.
 */
export function chooseLlmEngine(
  choice: LlmChoice,
  device: LlmDevice,
  candidates: readonly LlmCandidate[],
): LlmDecision {
  if (!['auto', 'webgpu', 'wasm', 'off'].includes(choice))
    throw new LocalrecError(
      'bad-input',
      `llm must be 'auto', 'webgpu', 'wasm' or 'off', got ${JSON.stringify(choice)}`,
    );
  if (choice === 'off') return { engine: null, reasons: ["the llm option is 'off'"] };
  if (choice === 'auto' && device.saveData)
    return { engine: null, reasons: ['the visitor asked to save data (Save-Data)'] };
  const strict = choice === 'auto';
  const reasons: string[] = [];
  for (const kind of choice === 'auto' ? (['webgpu', 'wasm'] as const) : [choice]) {
    const engine = ENGINE_FOR[kind];
    const offered = candidates.map((c, i) => [c, i] as const).filter(([c]) => c.engine === engine);
    if (offered.length === 0) {
      reasons.push(`${kind}: no ${engine} model is offered`);
      continue;
    }
    for (const [c, i] of offered) {
      const short =
        kind === 'webgpu' ? webgpuShort(device, c.needs, strict) : wasmShort(device, c.needs);
      if (short === undefined)
        return {
          engine,
          candidate: i,
          device: kind,
          threads: kind === 'wasm' ? wasmThreads(device) : 1,
        };
      reasons.push(`${kind}: ${short}`);
    }
  }
  return { engine: null, reasons };
}

/** The error for a decision without an engine: code `llm-unavailable`, the reasons in its message. */
export function noEngineError(decision: { reasons: string[] }): LocalrecError {
  return new LocalrecError(
    'llm-unavailable',
    `no LLM engine fits this device (${decision.reasons.join('; ')}); answers use the templates`,
  );
}

const validate = (bytes: number[]) => {
  try {
    return WebAssembly.validate(new Uint8Array(bytes));
  } catch {
    return false;
  }
};

/** Reads what this page or worker offers. Never throws; a missing API reads as absent. */
export async function probeLlmDevice(): Promise<LlmDevice> {
  const nav = (globalThis as { navigator?: Navigator }).navigator as
    (Navigator & { deviceMemory?: number; connection?: { saveData?: boolean } }) | undefined;
  let webgpu: LlmDevice['webgpu'] = null;
  try {
    const adapter = await nav?.gpu?.requestAdapter();
    if (adapter) {
      const info = adapter.info as (GPUAdapterInfo & { isFallbackAdapter?: boolean }) | undefined;
      const legacy = (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter;
      webgpu = {
        features: [...adapter.features],
        maxBufferSize: adapter.limits.maxBufferSize,
        maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
        isFallbackAdapter: info?.isFallbackAdapter ?? legacy ?? false,
      };
    }
  } catch {
    webgpu = null;
  }
  let memory64 = false;
  try {
    new WebAssembly.Memory({
      address: 'i64',
      initial: 1n,
    } as unknown as WebAssembly.MemoryDescriptor);
    memory64 = true;
  } catch {
    memory64 = false;
  }
  const isolated = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true;
  return {
    webgpu,
    wasm: {
      // The feature tests wllama runs itself (wasm-feature-detect's modules).
      simd: validate([
        0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0,
        253, 15, 253, 98, 11,
      ]),
      exceptions: validate([
        0, 97, 115, 109, 1, 0, 0, 0, 1, 4, 1, 96, 0, 0, 3, 2, 1, 0, 10, 8, 1, 6, 0, 6, 64, 25, 11,
        11,
      ]),
      jspi: typeof (WebAssembly as { Suspending?: unknown }).Suspending === 'function',
      memory64,
      threads: isolated && typeof SharedArrayBuffer === 'function',
    },
    ...(typeof nav?.deviceMemory === 'number' ? { deviceMemoryGB: nav.deviceMemory } : {}),
    hardwareConcurrency: nav?.hardwareConcurrency ?? 1,
    saveData: nav?.connection?.saveData === true,
  };
}

/**
 * The on-device LLM worker (issue #15): wllama (llama.cpp in WASM) or web-llm (WebGPU), chosen
 * by capability, behind one API (src/client/llm/host.ts). Started only when a caller wants the
 * LLM, so neither engine nor llama.cpp's .wasm loads before that, as chunks of their own;
 * wllama's .wasm comes from the site's origin (src/client/llm/wllama-assets.ts).
 */
import { expose } from 'comlink';
import { registerErrorTransfer } from '../src/client/rpc/errors-transfer.ts';
import { createLlmHost } from '../src/client/llm/host.ts';
import { wllamaAssets } from '../src/client/llm/wllama-assets.ts';

registerErrorTransfer();

expose(createLlmHost({ wllamaAssets }));

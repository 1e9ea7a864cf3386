// worker_threads entry. In a checkout the parent runs TypeScript through a tsx loader it registered
// in-process, which a new thread does not inherit: register it here, then load the real worker. In
// the installed package this file sits beside the compiled grad-worker.js (no tsx there).
import { existsSync } from 'node:fs';

if (existsSync(new URL('./grad-worker.ts', import.meta.url))) {
  const { register } = await import('tsx/esm/api');
  register();
  await import('./grad-worker.ts');
} else {
  await import('./grad-worker.js');
}

// worker_threads entry of the federated client pool (client-pool.ts); as models/sasrec/grad-worker-boot.js:
// in a checkout, register tsx in this thread, then load the TypeScript worker; installed, load the built one.
import { existsSync } from 'node:fs';

if (existsSync(new URL('./client-worker.ts', import.meta.url))) {
  const { register } = await import('tsx/esm/api');
  register();
  await import('./client-worker.ts');
} else {
  await import('./client-worker.js');
}

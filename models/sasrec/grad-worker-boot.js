// worker_threads entry: the parent may run TypeScript through a tsx loader it registered in-process,
// which a new thread does not inherit; register it here, then load the real worker.
import { register } from 'tsx/esm/api';

register();
await import('./grad-worker.ts');

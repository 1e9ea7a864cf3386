/**
 * Starts the recommender worker for the embed, whose script lives on the localrec server while
 * the page that runs it lives on the site's origin.
 *
 * `new Worker('https://recs.example/…')` from `https://shop.example` throws a SecurityError: a
 * worker's script must be same-origin. So the worker is a tiny module script from a `blob:` URL
 * (which has the page's origin) that imports the real worker chunk by its absolute URL; that
 * import is an ordinary cross-origin module fetch (CORS), and inside the chunk `import.meta.url`
 * is the server's URL, so ONNX Runtime's .wasm and the other chunks load from the server too.
 * The worker's own origin is the page's, so the visitor's memory (IndexedDB, Cache Storage) is
 * per site. A page's CSP needs `worker-src blob:` and the server in `script-src`.
 */

/** A started worker and how to release the blob URL once it has loaded. */
export interface EmbedWorker {
  worker: Worker;
  /** Revokes the blob URL (call once the worker answered, or failed). */
  release(): void;
}

/** The module source of the bootstrap worker: one import of the real worker chunk. */
export function bootstrapSource(workerUrl: string): string {
  return `import ${JSON.stringify(workerUrl)};\n`;
}

/**
 * Starts `workerUrl` (an absolute URL of an ES module worker chunk) as a module worker, from any
 * origin. Throws what `new Worker` throws (a CSP without `worker-src blob:`, no Worker support).
 */
export function startEmbedWorker(workerUrl: string): EmbedWorker {
  const url = new URL(workerUrl);
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw new TypeError(`the worker URL must be http(s), got ${url.protocol}`);
  const blobUrl = URL.createObjectURL(
    new Blob([bootstrapSource(url.href)], { type: 'text/javascript' }),
  );
  let released = false;
  const release = (): void => {
    if (released) return;
    released = true;
    URL.revokeObjectURL(blobUrl);
  };
  try {
    return { worker: new Worker(blobUrl, { type: 'module', name: 'localrec' }), release };
  } catch (e) {
    release();
    throw e;
  }
}

import type { FastifyInstance } from 'fastify';
import { SHA256_HEX } from '../../core/blob.ts';
import { LocalrecError } from '../../core/errors.ts';
import { llmFile } from '../../core/llm-manifest.ts';
import { etagMatches } from '../etag.ts';
import type { Published } from '../published.ts';

/**
 * `GET /v1/llm/:config/resolve/main/:name`: a web-llm model's files by the names web-llm asks
 * for. web-llm reads a model from one folder URL (`<model>/resolve/main/<file>`, Hugging Face's
 * layout, src/client/llm/webllm-config.ts), not by content hash, so this maps each name of the
 * current manifest's `llm` section to its blob. `:config` is the sha256 of the model's
 * `mlc-chat-config.json`: a URL names one model's files, so a file web-llm cached for an older
 * model never stands in for a newer one's (a stale `:config` is 404). The client verifies and
 * pre-caches every file itself (src/client/loader/llm-files.ts), so web-llm normally finds them
 * cached; this route is what its URLs point at. The model library is a plain blob
 * (`/v1/blobs/<sha256>`).
 */
export function registerLlmRoutes(app: FastifyInstance, published: Published): void {
  const blobs = published.store.blobs;
  app.get<{ Params: { config: string; name: string } }>(
    '/v1/llm/:config/resolve/main/:name',
    async (req, reply) => {
      const { config, name } = req.params;
      if (!SHA256_HEX.test(config))
        throw new LocalrecError(
          'bad-input',
          'the model folder must be named by its config sha256 (64 lowercase hex characters)',
        );
      const snap = await published.current();
      const llm = snap.llm;
      if (!llm || llm.engine !== 'webllm' || llmFile(llm, 'config')?.sha256 !== config)
        throw new LocalrecError(
          'not-found',
          `the current manifest ships no web-llm model ${config.slice(0, 12)}…`,
        );
      const file = llm.files.find((f) => f.name === name && f.role !== 'model-lib');
      const st = file && snap.servable.has(file.sha256) ? await blobs.stat(file.sha256) : undefined;
      if (!file || !st)
        throw new LocalrecError(
          'not-found',
          `the web-llm model has no file ${JSON.stringify(name)}`,
        );
      const etag = `"${file.sha256}"`;
      reply
        .header('Cache-Control', 'public, max-age=31536000, immutable')
        .header('ETag', etag)
        .type(name.endsWith('.json') ? 'application/json' : 'application/octet-stream');
      if (etagMatches(req.headers['if-none-match'], etag)) return reply.status(304).send();
      reply.header('Content-Length', st.bytes);
      return reply.send(blobs.stream(file.sha256));
    },
  );
}

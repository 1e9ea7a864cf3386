import { LocalrecError } from '../../core/errors.ts';
import { attachLlmToExport } from '../llm-config.ts';
import { readSigningKey } from '../../server/keys.ts';
import { publishExport } from '../../server/publish.ts';
import { openPublicationStore } from '../../server/store/registry.ts';
import type { Command } from '../command.ts';

export const publishCommand: Command = {
  summary: 'store an export’s blobs and a new signed manifest version in the server’s store',
  usage:
    'localrec publish --from <export dir> --store <file:dir> --key <file.key> [--llm <config.json>]',
  options: {
    from: {
      type: 'string',
      description: 'export folder (manifest.json + blobs/) from `localrec export`',
    },
    store: {
      type: 'string',
      description: 'store URL the server serves from (file:<dir>); env LOCALREC_STORE',
    },
    key: {
      type: 'string',
      default: '.localrec/keys/localrec.key',
      description: 'private key from `localrec keygen`; env LOCALREC_KEY',
    },
    llm: {
      type: 'string',
      description:
        'set the export’s on-device LLM from this config (JSON, as for export --llm) before publishing',
    },
  },
  async run(v) {
    const from = v['from'];
    const storeUrl = v['store'] ?? process.env['LOCALREC_STORE'];
    if (typeof from !== 'string')
      throw new LocalrecError('bad-input', '--from is required (an export folder)');
    if (typeof storeUrl !== 'string')
      throw new LocalrecError('bad-input', '--store is required (e.g. file:/srv/localrec)');
    const keyPath =
      process.env['LOCALREC_KEY'] && v['key'] === '.localrec/keys/localrec.key'
        ? process.env['LOCALREC_KEY']
        : String(v['key']);
    const key = await readSigningKey(keyPath, (m) => process.stderr.write(`warning: ${m}\n`));
    if (typeof v['llm'] === 'string') attachLlmToExport(from, v['llm']);
    const store = openPublicationStore(storeUrl);
    try {
      const r = await publishExport(from, store, key);
      process.stderr.write(
        `published version ${r.version} (model ${r.modelVersion}): ${r.blobs} blobs, ${r.newBlobs} new, signed by ${r.keyId}\n`,
      );
      return { ...r, store: store.blobs.url };
    } finally {
      await store.blobs.close();
      await store.manifests.close();
    }
  },
};

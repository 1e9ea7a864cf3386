import { LocalrecError } from '../../core/errors.ts';
import { collectGarbage } from '../../server/gc.ts';
import { openPublicationStore } from '../../server/store/registry.ts';
import { num, type Command } from '../command.ts';

export const gcCommand: Command = {
  summary:
    'delete old manifest versions and the blobs no kept version uses (never the current one)',
  usage: 'localrec gc --store <file:dir> [--keep 3] [--dry-run]',
  options: {
    store: { type: 'string', description: 'store URL (file:<dir>); env LOCALREC_STORE' },
    keep: {
      type: 'string',
      default: '3',
      description: 'newest versions to keep (the current one is always kept)',
    },
    'dry-run': { type: 'boolean', description: 'report what would be deleted, delete nothing' },
  },
  async run(v) {
    const storeUrl = v['store'] ?? process.env['LOCALREC_STORE'];
    if (typeof storeUrl !== 'string')
      throw new LocalrecError('bad-input', '--store is required (e.g. file:/srv/localrec)');
    const keep = num(v, 'keep', { int: true, min: 1 }) ?? 3;
    const store = openPublicationStore(storeUrl);
    try {
      const r = await collectGarbage(store, { keep, dryRun: Boolean(v['dry-run']) });
      process.stderr.write(
        `${r.dryRun ? 'would delete' : 'deleted'} ${r.deletedVersions.length} manifest versions and ${r.deletedBlobs} blobs (${r.freedBytes} bytes); kept versions ${r.keptVersions.join(', ') || 'none'}\n`,
      );
      return r;
    } finally {
      await store.blobs.close();
      await store.manifests.close();
    }
  },
};

import { LocalrecError } from '../../core/errors.ts';
import { parseManifest } from '../../core/manifest.ts';
import { DEFAULT_MAX_BODY_BYTES } from '../../server/app.ts';
import { parseSlices, toRoundSpec } from '../../server/round-spec.ts';
import { adminRound, RoundService } from '../../server/rounds.ts';
import { openPublicationStore, openRoundStore } from '../../server/store/registry.ts';
import { num, type Command } from '../command.ts';

/** `30m`, `2h`, `1d`, `90s` or plain seconds. */
function durationSeconds(text: string): number {
  const m = /^(\d+(?:\.\d+)?)([smhd]?)$/.exec(text.trim());
  if (!m)
    throw new LocalrecError(
      'bad-input',
      `--duration '${text}' is not a duration like 90s, 30m, 2h or 1d`,
    );
  return (
    Number(m[1]) * { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as '' | 's' | 'm' | 'h' | 'd']
  );
}

export const roundCommand: Command = {
  summary: 'open, close, show or list federated rounds (writes the round store directly)',
  usage:
    'localrec round open --rounds <sqlite:file> --slices name:AxB[,…] --clip-norm <x> --min-reports <n> (--duration 1h | --deadline <ISO>) (--base-version <v> | --store <url>)\n' +
    '       localrec round close <id> --rounds <url>\n' +
    '       localrec round show [id] --rounds <url>\n' +
    '       localrec round list --rounds <url>',
  options: {
    rounds: { type: 'string', description: 'round store URL (sqlite:<file>); env LOCALREC_ROUNDS' },
    slices: {
      type: 'string',
      description:
        'parameter slices clients send, name:shape comma-separated (item_emb:100x16,bias:16)',
    },
    'clip-norm': { type: 'string', description: 'L2 bound on each update' },
    'min-reports': {
      type: 'string',
      description: 'the round closes once this many updates are counted',
    },
    duration: {
      type: 'string',
      description: 'the round closes after this long (90s, 30m, 2h, 1d)',
    },
    deadline: { type: 'string', description: 'or at this ISO 8601 time' },
    'base-version': {
      type: 'string',
      description: 'model version clients train from (default: the store’s current manifest)',
    },
    store: {
      type: 'string',
      description: 'store URL to read the current model version from; env LOCALREC_STORE',
    },
  },
  async run(v, positionals) {
    const [action = 'show', idText] = positionals;
    const url = v['rounds'] ?? process.env['LOCALREC_ROUNDS'];
    if (typeof url !== 'string')
      throw new LocalrecError(
        'bad-input',
        '--rounds is required (e.g. sqlite:/srv/localrec/rounds.db)',
      );
    const store = openRoundStore(url);
    try {
      const id = idText === undefined ? undefined : Number(idText);
      if (id !== undefined && (!Number.isInteger(id) || id < 1))
        throw new LocalrecError(
          'bad-input',
          `round id must be a positive integer, got '${idText}'`,
        );
      switch (action) {
        case 'open': {
          let base = v['base-version'];
          if (typeof base !== 'string') {
            const storeUrl = v['store'] ?? process.env['LOCALREC_STORE'];
            if (typeof storeUrl !== 'string')
              throw new LocalrecError(
                'bad-input',
                'give --base-version, or --store to take the current manifest’s model version',
              );
            const pub = openPublicationStore(storeUrl);
            const cur = await pub.manifests.current();
            if (!cur)
              throw new LocalrecError(
                'not-loaded',
                `nothing is published in ${storeUrl}; run \`localrec publish\` first`,
              );
            base = parseManifest(cur).modelVersion;
          }
          if (typeof v['slices'] !== 'string')
            throw new LocalrecError('bad-input', '--slices is required (e.g. item_emb:100x16)');
          const spec = toRoundSpec(
            {
              baseModelVersion: base,
              slices: parseSlices(v['slices']),
              clipNorm: num(v, 'clip-norm', { min: 0 }) ?? NaN,
              minReports: num(v, 'min-reports', { int: true, min: 1 }) ?? NaN,
              deadline: typeof v['deadline'] === 'string' ? v['deadline'] : undefined,
              durationSeconds:
                typeof v['duration'] === 'string' ? durationSeconds(v['duration']) : undefined,
            },
            Date.now(),
            DEFAULT_MAX_BODY_BYTES,
          );
          const r = await store.openRound(spec, Date.now());
          process.stderr.write(
            `opened round ${r.id} (until ${new Date(r.deadline).toISOString()})\n`,
          );
          return adminRound(r);
        }
        case 'close': {
          if (id === undefined)
            throw new LocalrecError('bad-input', 'usage: localrec round close <id>');
          const svc = new RoundService({ store });
          const r = await svc.closeRound(id);
          process.stderr.write(`round ${id} is ${r.state} with ${r.reports} reports\n`);
          return adminRound(r);
        }
        case 'show': {
          const r =
            id === undefined
              ? ((await store.currentRound()) ?? (await store.listRounds())[0])
              : await store.getRound(id);
          if (!r)
            throw new LocalrecError(
              'not-found',
              id === undefined ? 'no rounds yet' : `no round ${id}`,
            );
          return adminRound(r);
        }
        case 'list':
          return { rounds: (await store.listRounds()).map(adminRound) };
        default:
          throw new LocalrecError(
            'bad-input',
            `unknown action '${action}'; use open, close, show or list`,
          );
      }
    } finally {
      await store.close();
    }
  },
};

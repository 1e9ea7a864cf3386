/**
 * `localrec serve --federated`: the sync server runs the learning loop itself. The intake's
 * closing hook hands each closed round to the coordinator (aggregate, DP noise, server step,
 * export, sign, publish), and a timer opens the next round on the newest version whenever none
 * is open and the privacy budget allows one.
 */
import { join, resolve } from 'node:path';
import { LocalrecError } from '../../core/errors.ts';
import type { LocalrecServer } from '../../server/app.ts';
import { readSigningKey } from '../../server/keys.ts';
import type { OnRoundClosing } from '../../server/rounds.ts';
import { splitStoreUrl } from '../../server/store/registry.ts';
import type { FlagValues } from '../command.ts';
import { serverSideFromFlags } from '../commands/federated-flags.ts';
import { FederatedCoordinator } from './coordinator.ts';

/** What `serve` wires in when `--federated` is on. */
export interface FederatedServing {
  /** The round store to use (the flag's, or `sqlite:<store>/rounds.db` for a file store). */
  rounds: string;
  onRoundClosing: OnRoundClosing;
  /** Starts the loop once the server listens; returns a summary for the command's JSON. */
  start(app: LocalrecServer): Promise<Record<string, unknown>>;
}

/** Reads the federated flags and builds the hook and the starter. */
export async function federatedServing(
  v: FlagValues,
  storeUrl: string,
  roundsUrl: string | undefined,
): Promise<FederatedServing> {
  const server = serverSideFromFlags(v);
  const { scheme, rest } = splitStoreUrl(storeUrl);
  const fileDir = scheme === 'file' || scheme === undefined ? resolve(rest) : undefined;
  const rounds = roundsUrl ?? (fileDir ? `sqlite:${join(fileDir, 'rounds.db')}` : undefined);
  if (!rounds)
    throw new LocalrecError(
      'bad-input',
      '--federated needs --rounds (a round store URL) for a store that is not a folder',
    );
  const keyPath =
    typeof v['key'] === 'string'
      ? v['key']
      : (process.env['LOCALREC_KEY'] ?? '.localrec/keys/localrec.key');
  const key = await readSigningKey(keyPath, (m) => process.stderr.write(`warning: ${m}\n`));
  const workDir =
    typeof v['work-dir'] === 'string'
      ? resolve(v['work-dir'])
      : join(fileDir ?? resolve('.localrec'), 'federated-work');
  let coordinator: FederatedCoordinator | undefined;
  return {
    rounds,
    onRoundClosing: async (r, s) => {
      if (!coordinator) throw new LocalrecError('not-loaded', 'the federated loop has not started');
      await coordinator.onClosing(r, s);
    },
    async start(app) {
      const intake = app.localrec.rounds;
      if (!intake) throw new LocalrecError('internal', 'the server has no round intake');
      coordinator = new FederatedCoordinator({
        ...server,
        store: app.localrec.published.store,
        rounds: intake,
        key,
        workDir,
        log: (line) => app.log.info(line),
      });
      const c = coordinator;
      const open = async () => {
        try {
          const r = await c.openRound();
          if (r) app.log.debug({ round: r.id }, 'federated round open');
        } catch (e) {
          app.log.error({ err: e }, 'could not open a federated round');
        }
      };
      // A round a crash left closing is aggregated now (the intake's first tick came before
      // the coordinator existed), so the first round opened trains its version.
      await intake.tick();
      if ((await intake.store.listRounds()).some((r) => r.state === 'closing')) await intake.tick();
      await open();
      const timer = setInterval(() => void open(), 5000);
      timer.unref();
      // Hooks cannot be added once the server listens; its socket's close event still comes.
      app.server.on('close', () => clearInterval(timer));
      const status = await c.status();
      return { federated: { ...server, workDir, ...status } };
    },
  };
}

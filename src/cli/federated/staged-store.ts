/**
 * The publication store as the coordinator writes one round's next version to it: the server
 * optimizer's state is saved (durably, under the version number) just before the manifest is
 * stored as that version, so no version is ever current without its state — a crash before
 * leaves a state file the retry overwrites — and the crash-test stages are marked (see the
 * header of ./coordinator.ts for `LOCALREC_FEDERATED_PAUSE_AT`).
 */
import { LocalrecError } from '../../core/errors.ts';
import { writeFileDurable } from '../../server/store/fs-durable.ts';
import type { PublicationStore } from '../../server/store/registry.ts';

/** Where `LOCALREC_FEDERATED_PAUSE_AT` can stop the coordinator (see the header). */
export const PAUSE_STAGES = ['exported', 'blobs', 'manifest', 'current', 'published'] as const;
export type PauseStage = (typeof PAUSE_STAGES)[number];

/** The crash-test pause the environment asks for; one that never stops when it asks none. */
export function pauseFromEnv(): (stage: PauseStage, round: number) => Promise<void> {
  const at = process.env['LOCALREC_FEDERATED_PAUSE_AT'];
  if (at === undefined || at === '') return async () => undefined;
  if (!(PAUSE_STAGES as readonly string[]).includes(at))
    throw new LocalrecError(
      'bad-input',
      `LOCALREC_FEDERATED_PAUSE_AT must be one of ${PAUSE_STAGES.join(', ')}, got '${at}'`,
    );
  return async (stage, round) => {
    if (stage !== at) return;
    process.stderr.write(`federated: paused at ${stage} (round ${round})\n`);
    await new Promise<never>(() => undefined);
  };
}

/** `target` with some of its methods replaced (the others bound to it). */
function withMethods<T extends object>(target: T, over: Partial<T>): T {
  return new Proxy(target, {
    get(t, k) {
      if (k in over) return over[k as keyof T];
      const v = Reflect.get(t, k) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
    },
  });
}

/** What {@link stagedStore} needs besides the store. */
export interface StagedRound {
  round: number;
  /** The server optimizer's state after this round's step. */
  optimizerState: Uint8Array;
  /** The state file's path up to the version number (`<path>.v` + version). */
  statePath: string;
  pause: (stage: PauseStage, round: number) => Promise<void>;
}

/** `store` as round `o.round`'s publication writes to it (see the header). */
export function stagedStore(store: PublicationStore, o: StagedRound): PublicationStore {
  const { blobs, manifests } = store;
  let stored = false;
  return {
    blobs: withMethods(blobs, {
      put: async (bytes, expected) => {
        const had = expected && (await blobs.stat(expected.sha256)) !== undefined;
        const ref = await blobs.put(bytes, expected);
        if (!had && !stored) {
          stored = true;
          await o.pause('blobs', o.round);
        }
        return ref;
      },
    }),
    manifests: withMethods(manifests, {
      putVersion: async (version, bytes) => {
        await o.pause('manifest', o.round);
        await writeFileDurable(`${o.statePath}${version}`, o.optimizerState);
        await manifests.putVersion(version, bytes);
      },
      setCurrent: async (version) => {
        await o.pause('current', o.round);
        await manifests.setCurrent(version);
      },
    }),
  };
}

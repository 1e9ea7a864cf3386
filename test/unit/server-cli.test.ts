/** `localrec keygen | publish | round | gc` through the real binary. */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { verifyManifest } from '../../src/core/manifest.ts';
import { localrec } from './cli-runner.ts';
import { writeExport } from './server-fixture.ts';

const dir = mkdtempSync(join(tmpdir(), 'localrec-server-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('localrec keygen, publish, round, gc', () => {
  it('makes a 0600 key, publishes signed versions, opens a round, and collects garbage', async () => {
    const keys = join(dir, 'keys', 'owner');
    const kg = await localrec('keygen', '--out', keys);
    expect(kg.code).toBe(0);
    expect(statSync(`${keys}.key`).mode & 0o777).toBe(0o600);
    expect(readFileSync(`${keys}.key`, 'utf8')).toMatch(/BEGIN PRIVATE KEY/);
    const publicKey = readFileSync(`${keys}.pub`, 'utf8').trim();
    expect(kg.json).toMatchObject({ publicKey });
    const again = await localrec('keygen', '--out', keys);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/refusing to overwrite/);

    const store = `file:${join(dir, 'store')}`;
    for (const [i, v] of ['m1', 'm2', 'm3'].entries()) {
      const exp = join(dir, `export-${v}`);
      writeExport(exp, v, i);
      const p = await localrec('publish', '--from', exp, '--store', store, '--key', `${keys}.key`);
      expect(p.code).toBe(0);
      expect(p.json).toMatchObject({ version: i + 1, modelVersion: v, blobs: 2, newBlobs: 2 });
    }
    const served = readFileSync(join(dir, 'store', 'manifest.json'));
    expect((await verifyManifest(served, publicKey)).manifest).toMatchObject({
      version: 3,
      modelVersion: 'm3',
    });

    const rounds = `sqlite:${join(dir, 'rounds.db')}`;
    const open = await localrec(
      'round',
      'open',
      '--rounds',
      rounds,
      '--store',
      store,
      '--slices',
      'item_emb:8x4,bias:4',
      '--clip-norm',
      '1',
      '--min-reports',
      '5',
      '--duration',
      '2h',
    );
    expect(open.code).toBe(0);
    expect(open.json).toMatchObject({
      id: 1,
      state: 'open',
      baseModelVersion: 'm3',
      slices: [
        { name: 'item_emb', shape: [8, 4] },
        { name: 'bias', shape: [4] },
      ],
    });
    const close = await localrec('round', 'close', '1', '--rounds', rounds);
    // Closed with none of its 5 reports: failed, never aggregated (minReports is a lower bound).
    expect(close.json).toMatchObject({ id: 1, state: 'failed', closeReason: 'admin' });

    const gc = await localrec('gc', '--store', store, '--keep', '2');
    expect(gc.json).toMatchObject({
      currentVersion: 3,
      keptVersions: [2, 3],
      deletedVersions: [1],
      deletedBlobs: 2,
    });

    const badScheme = await localrec('gc', '--store', 's3://bucket');
    expect(badScheme.code).toBe(1);
    expect(badScheme.json).toMatchObject({ error: { code: 'bad-input' } });
    expect(badScheme.stderr).toMatch(/scheme 's3:'/);
    const noKey = await localrec(
      'publish',
      '--from',
      join(dir, 'export-m1'),
      '--store',
      store,
      '--key',
      join(dir, 'nope.key'),
    );
    expect(noKey.json).toMatchObject({ error: { code: 'not-found' } });
  }, 60_000);
});

/**
 * `localrec serve`'s flags that reach the server and the learning loop: the intake's limits
 * and the server optimizer's settings, with their defaults and clear refusals.
 */
import { describe, expect, it } from 'vitest';
import { intakeLimits } from '../../src/cli/commands/serve.ts';
import { serverSideFromFlags } from '../../src/cli/commands/federated-flags.ts';

const errorOf = (f: () => unknown): Error => {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error('no error');
};

describe('serve flags', () => {
  it('intake limits: defaults 4 tickets per network and 256 queued, integers ≥ 1 only', () => {
    expect(intakeLimits({})).toEqual({ tickets: { perNetwork: 4 }, maxQueuedUpdates: 256 });
    expect(intakeLimits({ 'tickets-per-network': '1', 'max-queued-updates': '4096' })).toEqual({
      tickets: { perNetwork: 1 },
      maxQueuedUpdates: 4096,
    });
    expect(errorOf(() => intakeLimits({ 'tickets-per-network': '0' })).message).toMatch(
      /--tickets-per-network must be an integer >= 1, got '0'/,
    );
    expect(errorOf(() => intakeLimits({ 'max-queued-updates': '2.5' })).message).toMatch(
      /--max-queued-updates must be an integer >= 1/,
    );
  });

  it('server optimizer: τ and the warm-up reach the loop; a bad warm-up is refused', () => {
    const d = serverSideFromFlags({});
    expect(d.serverWarmup).toBe(0);
    expect(d.serverTau).toBe(1e-7);
    const s = serverSideFromFlags({ 'server-tau': '1e-3', 'server-warmup': '25' });
    expect(s.serverTau).toBe(1e-3);
    expect(s.serverWarmup).toBe(25);
    expect(errorOf(() => serverSideFromFlags({ 'server-warmup': '-1' })).message).toMatch(
      /--server-warmup must be an integer >= 0/,
    );
    expect(d.serverHalfLife).toBe(0);
    expect(serverSideFromFlags({ 'server-half-life': '400' }).serverHalfLife).toBe(400);
    expect(errorOf(() => serverSideFromFlags({ 'server-half-life': '-5' })).message).toMatch(
      /--server-half-life must be a number >= 0/,
    );
  });
});

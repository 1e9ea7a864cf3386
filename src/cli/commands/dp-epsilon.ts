import { LocalrecError } from '../../core/errors.ts';
import { epsilonAfter } from '../../core/privacy/accountant.ts';
import { DEFAULT_RDP_ORDERS } from '../../core/privacy/rdp.ts';
import { num, requiredFlag, type Command, type FlagValues } from '../command.ts';

/** A numeric flag that must be given. */
function requiredNum(
  v: FlagValues,
  key: string,
  what: string,
  opts: Parameters<typeof num>[2] = {},
): number {
  requiredFlag(v, key, what);
  return num(v, key, opts) as number;
}

/** `--orders 1.5,2,4,8`: comma-separated Rényi orders, each > 1. */
function parseOrders(v: FlagValues): readonly number[] {
  const raw = v['orders'];
  if (typeof raw !== 'string') return DEFAULT_RDP_ORDERS;
  const orders = raw.split(',').map((s) => Number(s.trim()));
  if (orders.some((a) => !(a > 1)) || raw.trim() === '')
    throw new LocalrecError(
      'bad-input',
      `--orders must be comma-separated numbers > 1 (e.g. 1.5,2,4,8,16,32), got '${raw}'`,
    );
  return orders;
}

export const dpEpsilonCommand: Command = {
  summary: 'ε at δ after T steps of the subsampled Gaussian mechanism (RDP accountant); JSON last',
  usage: 'localrec dp-epsilon --q <rate> --noise <z> --steps <T> --delta <δ> [--orders 1.5,2,4,…]',
  options: {
    q: {
      type: 'string',
      description:
        'probability a user takes part in a step, in [0, 1]; 1 when the server does not sample who takes part',
    },
    noise: {
      type: 'string',
      description: 'noise multiplier z: noise standard deviation / clip norm, >= 0',
    },
    steps: { type: 'string', description: 'number of steps (rounds or batches), an integer >= 0' },
    delta: { type: 'string', description: 'δ of the (ε, δ) statement, in (0, 1)' },
    orders: {
      type: 'string',
      description: "comma-separated Rényi orders > 1 (default dp_accounting's 156 orders)",
    },
  },
  async run(v) {
    const q = requiredNum(v, 'q', 'the sampling rate, in [0, 1]', { min: 0, max: 1 });
    const noiseMultiplier = requiredNum(v, 'noise', 'the noise multiplier, >= 0', { min: 0 });
    const steps = requiredNum(v, 'steps', 'the number of steps', { int: true, min: 0 });
    const delta = requiredNum(v, 'delta', 'δ, in (0, 1)');
    if (!(delta > 0 && delta < 1))
      throw new LocalrecError(
        'bad-input',
        `--delta must be in (0, 1), got '${String(v['delta'])}'`,
      );
    const orders = parseOrders(v);
    const { epsilon, order } = epsilonAfter({ q, noiseMultiplier, steps, delta, orders });
    const finite = Number.isFinite(epsilon);
    process.stderr.write(
      finite
        ? `ε = ${epsilon.toPrecision(6)} at δ = ${delta} (Rényi order ${order}) after ${steps} steps, q = ${q}, noise ${noiseMultiplier}\n`
        : `no finite ε at δ = ${delta}: ${noiseMultiplier === 0 ? 'without noise there is no privacy' : 'no order gives a bound; try more orders'}\n`,
    );
    // JSON has no ∞: an unbounded ε is null.
    return { epsilon: finite ? epsilon : null, order: finite ? order : null };
  },
};

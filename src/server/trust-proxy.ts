/**
 * Which proxies may tell the server a client's address (X-Forwarded-For): their addresses or
 * CIDR blocks, never "any". The rate limit and the round tickets are counted per client
 * network, so a server that believed any X-Forwarded-For would let every client choose the
 * address it is counted by.
 */
import { isIP } from 'node:net';
import { LocalrecError } from '../core/errors.ts';

/** proxy-addr's (Fastify's) names for address ranges. */
const NAMED = new Set(['loopback', 'linklocal', 'uniquelocal']);

const NAME_THE_PROXY =
  'name the proxies in front of the server by address or CIDR (e.g. 127.0.0.1 or 10.0.0.0/8,::1): ' +
  'X-Forwarded-For is believed only from them, and trusting any proxy would let every client ' +
  'choose the address its rate limit and round tickets are counted by';

/**
 * Checks a `trustProxy` setting (`'10.0.0.0/8,127.0.0.1'`, a list of such, or nothing) and
 * returns the list Fastify takes, or undefined to trust no proxy.
 *
 * @throws LocalrecError `bad-input` for `true`, an entry that is not an IP address, a CIDR
 *   block or one of `loopback`, `linklocal`, `uniquelocal`, or a block of every address.
 */
export function trustedProxies(value: unknown): string[] | undefined {
  if (value === undefined || value === null || value === false || value === '') return undefined;
  if (value === true) throw new LocalrecError('bad-input', `trust-proxy: ${NAME_THE_PROXY}`);
  const items =
    typeof value === 'string'
      ? value.split(',')
      : Array.isArray(value) && value.every((x) => typeof x === 'string')
        ? (value as string[])
        : undefined;
  if (!items)
    throw new LocalrecError('bad-input', `trust-proxy: give addresses or CIDRs; ${NAME_THE_PROXY}`);
  const out = items.map((s) => s.trim()).filter((s) => s !== '');
  for (const entry of out) {
    if (NAMED.has(entry)) continue;
    const [addr = '', prefix, extra] = entry.split('/');
    const family = isIP(addr);
    if (/^(true|yes|1|on|all|\*)$/i.test(entry))
      throw new LocalrecError('bad-input', `trust-proxy: '${entry}': ${NAME_THE_PROXY}`);
    if (family === 0 || extra !== undefined)
      throw new LocalrecError(
        'bad-input',
        `trust-proxy: '${entry}' is not an IP address or CIDR block (e.g. 127.0.0.1, 10.0.0.0/8, fd00::/8)`,
      );
    if (prefix !== undefined) {
      const bits = /^\d{1,3}$/.test(prefix) ? Number(prefix) : NaN;
      const max = family === 4 ? 32 : 128;
      if (!(bits >= 0 && bits <= max))
        throw new LocalrecError(
          'bad-input',
          `trust-proxy: '${entry}': the prefix length must be 1..${max}`,
        );
      if (bits === 0)
        throw new LocalrecError(
          'bad-input',
          `trust-proxy: '${entry}' is every address; ${NAME_THE_PROXY}`,
        );
    }
  }
  return out.length > 0 ? out : undefined;
}

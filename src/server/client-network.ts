/**
 * The network a client posts from, the unit the server rate-limits and hands round tickets
 * to: an IPv4 address, or the /64 prefix of an IPv6 address (one IPv6 subscriber usually gets
 * a whole /64, so the full address would let one device be millions of clients). An
 * IPv4-mapped IPv6 address (`::ffff:192.0.2.1`, what a dual-stack socket reports for an IPv4
 * peer) is its IPv4 address.
 *
 * This bounds what one network can do, not what one person can: many visitors behind one NAT
 * share an IPv4 address, and someone with many addresses or prefixes is many networks.
 */
import { isIPv4, isIPv6 } from 'node:net';

/**
 * The network key of an address: `192.0.2.1`, `2001:db8:1:2::/64`; anything that is not an IP
 * address (a Unix socket's empty address) is returned as `other:<text>`.
 *
 * ```ts
 * clientNetwork('2001:DB8:1:2:aa:bb:cc:dd'); // '2001:db8:1:2::/64'
 * clientNetwork('::ffff:192.0.2.1'); // '192.0.2.1'
 * ```
 */
export function clientNetwork(address: string): string {
  const ip = address.replace(/%.*$/, '');
  if (isIPv4(ip)) return ip;
  if (!isIPv6(ip)) return `other:${address}`;
  const g = ipv6Groups(ip);
  if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff)
    return `${g[6]! >> 8}.${g[6]! & 0xff}.${g[7]! >> 8}.${g[7]! & 0xff}`;
  return `${g
    .slice(0, 4)
    .map((x) => x.toString(16))
    .join(':')}::/64`;
}

/** The eight 16-bit groups of a valid IPv6 address (`::` expanded, a dotted IPv4 tail split). */
function ipv6Groups(ip: string): number[] {
  let text = ip.toLowerCase();
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const parse = (s: string | undefined) => (s ? s.split(':').map((x) => parseInt(x, 16)) : []);
  const h = parse(head);
  const t = parse(tail);
  const zeros = tail === undefined ? [] : new Array<number>(8 - h.length - t.length).fill(0);
  return [...h, ...zeros, ...t];
}

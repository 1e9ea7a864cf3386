/**
 * The unit the intake counts clients by (src/server/client-network.ts): an IPv4 address, an
 * IPv6 /64, IPv4-mapped IPv6 as IPv4; and which proxies may name the client (trust-proxy.ts).
 */
import { describe, expect, it } from 'vitest';
import { isLocalrecError } from '../../src/core/errors.ts';
import { clientNetwork } from '../../src/server/client-network.ts';
import { trustedProxies } from '../../src/server/trust-proxy.ts';

describe('clientNetwork', () => {
  it('keeps an IPv4 address whole', () => {
    expect(clientNetwork('192.0.2.1')).toBe('192.0.2.1');
    expect(clientNetwork('192.0.2.2')).toBe('192.0.2.2');
    expect(clientNetwork('127.0.0.1')).toBe('127.0.0.1');
  });

  it('cuts IPv6 to its /64, however the address is written', () => {
    const net = '2001:db8:1:2::/64';
    for (const a of [
      '2001:db8:1:2::1',
      '2001:DB8:1:2:0:0:0:1',
      '2001:0db8:0001:0002:ffff:ffff:ffff:ffff',
      '2001:db8:1:2:a::b',
      '2001:db8:1:2::192.0.2.1',
      '2001:db8:1:2::1%eth0',
    ])
      expect(clientNetwork(a), a).toBe(net);
    expect(clientNetwork('2001:db8:1:3::1')).toBe('2001:db8:1:3::/64');
    expect(clientNetwork('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(clientNetwork('::1')).toBe('0:0:0:0::/64');
    expect(clientNetwork('::')).toBe('0:0:0:0::/64');
    expect(clientNetwork('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
  });

  it('takes an IPv4-mapped IPv6 address as its IPv4 address', () => {
    expect(clientNetwork('::ffff:192.0.2.1')).toBe('192.0.2.1');
    expect(clientNetwork('::FFFF:192.0.2.1')).toBe('192.0.2.1');
    expect(clientNetwork('::ffff:c000:201')).toBe('192.0.2.1');
    expect(clientNetwork('0:0:0:0:0:ffff:c000:0201')).toBe('192.0.2.1');
    // Not mapped: another prefix before ffff.
    expect(clientNetwork('1::ffff:c000:201')).toBe('1:0:0:0::/64');
  });

  it('marks what is not an address', () => {
    expect(clientNetwork('')).toBe('other:');
    expect(clientNetwork('localhost')).toBe('other:localhost');
    expect(clientNetwork('1.2.3')).toBe('other:1.2.3');
  });
});

describe('trustedProxies', () => {
  const codeOf = (v: unknown) => {
    try {
      trustedProxies(v);
      return 'no error';
    } catch (e) {
      return isLocalrecError(e) ? `${e.code}: ${e.message}` : String(e);
    }
  };

  it('takes addresses and CIDR blocks, as a comma list or an array', () => {
    expect(trustedProxies('10.0.0.0/8,127.0.0.1')).toEqual(['10.0.0.0/8', '127.0.0.1']);
    expect(trustedProxies(' 10.0.0.1 , fd00::/8 ,::1')).toEqual(['10.0.0.1', 'fd00::/8', '::1']);
    expect(trustedProxies(['192.0.2.0/24', 'loopback'])).toEqual(['192.0.2.0/24', 'loopback']);
    expect(trustedProxies(undefined)).toBeUndefined();
    expect(trustedProxies(false)).toBeUndefined();
    expect(trustedProxies('')).toBeUndefined();
  });

  it('refuses "trust any", telling to name the proxy', () => {
    for (const v of [true, 'true', 'yes', '1', '*', '0.0.0.0/0', '::/0'])
      expect(codeOf(v), String(v)).toMatch(/^bad-input: trust-proxy: .*name the proxies/);
  });

  it('refuses what is not an address or block', () => {
    for (const v of ['proxy.example', '10.0.0.0/33', '::1/129', '10.0.0.0/8/1', '10.0.0.0/x', [1]])
      expect(codeOf(v), String(v)).toMatch(/^bad-input: trust-proxy/);
  });
});

/**
 * The privacy rule the end-to-end test enforces (test/e2e/traffic.ts) catches each kind of leak
 * it exists for, and lets through what the app legitimately sends.
 */
import { describe, expect, it } from 'vitest';
import { encodeDelta } from '../../src/core/delta.ts';
import { privacyViolations, type SentRequest } from '../e2e/traffic.ts';

const origin = 'http://127.0.0.1:8080';
const trace = { itemIds: ['42', '7'], titles: ['The Silent Harbor'] };
const base = {
  origin,
  trace,
  federated: false,
  modelVersion: 'm-1',
  isAppFile: (p: string) => ['/', '/assets/app-1.js', '/icons/icon-42.png'].includes(p),
};
const SHA = 'ab'.repeat(32);
const TICKET = 'Tk-_'.repeat(10) + 'xyz';
/** A round-ticket request and the server's answer, as the recorder keeps them. */
const ticketRequest = (ticket = TICKET) =>
  req({
    method: 'POST',
    url: `${origin}/v1/rounds/3/tickets`,
    headers: { accept: '*/*', 'content-length': '0' },
    responseBody: Buffer.from(JSON.stringify({ roundId: 3, ticket, expiresAt: 'x' })),
  });
const ticketed = (headers: Record<string, string> = {}) =>
  req({
    method: 'POST',
    url: `${origin}/v1/rounds/3/updates`,
    body: delta,
    headers: {
      'content-type': 'application/octet-stream',
      authorization: `Ticket ${TICKET}`,
      ...headers,
    },
  });
const delta = Buffer.from(
  encodeDelta({
    roundId: 3,
    baseVersion: 'm-1',
    updateId: '1'.repeat(32),
    clipNorm: 1,
    slices: [{ index: 0, scale: 0.1, values: Int8Array.from([1, 2]) }],
  }),
);

function req(over: Partial<SentRequest>): SentRequest {
  return {
    method: 'GET',
    url: `${origin}/v1/manifest`,
    headers: { accept: '*/*', 'user-agent': 'Chromium', referer: `${origin}/` },
    body: null,
    from: 'page',
    ...over,
  };
}

describe('privacyViolations', () => {
  it('lets through the app, the manifest, blobs, and delta posts with consent', () => {
    const ok = [
      req({}),
      req({ url: `${origin}/` }),
      req({ url: `${origin}/assets/app-1.js` }),
      req({ url: `${origin}/icons/icon-42.png` }),
      req({
        url: `${origin}/v1/blobs/${SHA}`,
        headers: { range: 'bytes=0-', 'if-none-match': '"x"' },
      }),
      req({
        method: 'POST',
        url: `${origin}/v1/rounds/3/updates`,
        body: delta,
        headers: { 'content-type': 'application/octet-stream' },
      }),
      ticketRequest(),
      ticketed(),
      req({ url: `${origin}/v1/rounds/current` }),
    ];
    expect(privacyViolations(ok, { ...base, federated: true })).toEqual([]);
  });

  it('catches every kind of leak', () => {
    const cases: [string, SentRequest][] = [
      ['another origin', req({ url: 'https://tracker.example/p.gif' })],
      ['query string', req({ url: `${origin}/v1/manifest?u=1` })],
      ['unknown path', req({ url: `${origin}/v1/events` })],
      ['path not in the app', req({ url: `${origin}/item/42` })],
      [
        'json post',
        req({
          method: 'POST',
          url: `${origin}/v1/rounds/3/updates`,
          body: Buffer.from('{"items":[42]}'),
        }),
      ],
      ['beacon', req({ method: 'POST', url: `${origin}/collect`, body: Buffer.from('x') })],
      ['custom header', req({ headers: { 'x-history': '42,7' } })],
      ['behaviour in a header', req({ headers: { accept: 'click' } })],
      ['referer with a query', req({ headers: { referer: `${origin}/?item=42` } })],
      ['referer path with an id', req({ headers: { referer: `${origin}/item/7` } })],
      ['title in a header', req({ headers: { 'accept-language': 'The Silent Harbor' } })],
      [
        'delta without consent',
        req({ method: 'POST', url: `${origin}/v1/rounds/3/updates`, body: delta }),
      ],
      [
        'delta of another model',
        req({
          method: 'POST',
          url: `${origin}/v1/rounds/3/updates`,
          body: Buffer.from(
            encodeDelta({
              roundId: 3,
              baseVersion: 'other',
              updateId: '2'.repeat(32),
              clipNorm: 1,
              slices: [{ index: 0, scale: 0.1, values: Int8Array.from([1]) }],
            }),
          ),
        }),
      ],
      ['put', req({ method: 'PUT', url: `${origin}/v1/manifest` })],
      ['round without consent', req({ url: `${origin}/v1/rounds/current` })],
      ['round with a query', req({ url: `${origin}/v1/rounds/current?seen=42` })],
    ];
    for (const [what, r] of cases) {
      const found = privacyViolations([r], {
        ...base,
        federated: what === 'delta of another model' || what === 'round with a query',
      });
      expect(found, what).not.toEqual([]);
    }
    // Tickets: only the server's, only on a delta post, only with consent, no body.
    const ticketCases: [string, SentRequest[]][] = [
      [
        'a ticket the server did not issue',
        [ticketRequest(), ticketed({ authorization: `Ticket ${'a'.repeat(43)}` })],
      ],
      ['a ticket without any ticket request', [ticketed()]],
      ['not a ticket', [ticketRequest(), ticketed({ authorization: 'Bearer 42' })]],
      [
        'a ticket on a GET',
        [ticketRequest(), req({ headers: { authorization: `Ticket ${TICKET}` } })],
      ],
      [
        'a ticket request with a body',
        [{ ...ticketRequest(), body: Buffer.from('{"items":[42]}') }],
      ],
    ];
    for (const [what, rs] of ticketCases)
      expect(privacyViolations(rs, { ...base, federated: true }), what).not.toEqual([]);
    expect(
      privacyViolations([ticketRequest()], base),
      'a ticket request without consent',
    ).not.toEqual([]);
  });
});

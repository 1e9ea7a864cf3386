import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  decodeLatin1,
  parseEventsCsv,
  parseEventsJsonl,
  parseItemsCsv,
  parseItemsJsonl,
  parseMovieLens100k,
  parseMovieLens1m,
  parseSasrecText,
} from '../../src/core/readers/index.ts';
import { leaveOneOut } from '../../src/core/split.ts';
import { isLocalrecError } from '../../src/core/errors.ts';

/** Runs `fn`, expecting a LocalrecError('bad-input') whose message matches `msg`. */
function expectBadInput(fn: () => unknown, msg: string | RegExp): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(isLocalrecError(err), `expected a LocalrecError, got ${String(err)}`).toBe(true);
  if (!isLocalrecError(err)) return;
  expect(err.code).toBe('bad-input');
  if (typeof msg === 'string') expect(err.message).toBe(msg);
  else expect(err.message).toMatch(msg);
}

const flags = (...on: number[]): string =>
  Array.from({ length: 19 }, (_, g) => (on.includes(g) ? '1' : '0')).join('|');

describe('decodeLatin1', () => {
  it('maps every byte to the same code point, including 0x80-0x9f', () => {
    const bytes = Uint8Array.of(
      0x4d,
      0x69,
      0x73,
      0xe9,
      0x72,
      0x61,
      0x62,
      0x6c,
      0x65,
      0x73,
      0x80,
      0x9f,
      0xff,
    );
    expect(decodeLatin1(bytes)).toBe('Misérables\u0080\u009fÿ');
  });

  it('handles inputs larger than one chunk', () => {
    const bytes = new Uint8Array(50_000).map((_, i) => i % 256);
    const s = decodeLatin1(bytes);
    expect(s.length).toBe(50_000);
    expect(s.charCodeAt(49_999)).toBe(49_999 % 256);
    expect(s.charCodeAt(8192 + 3)).toBe((8192 + 3) % 256);
  });
});

describe('parseMovieLens100k', () => {
  const uData = '196\t242\t3\t881250949\n\n186\t302\t3\t891717742\r\n22\t377\t1\t878887116\n';
  const itemBytes = Uint8Array.from(
    [
      `242|Kolya (1996)|24-Jan-1997||http://us.imdb.com/M/title-exact?Kolya%20(1996)|${flags(5)}`,
      `302|L.A. Confidential (1997)|01-Jan-1997|||${flags(6, 10, 13, 16)}`,
      `543|Mis\u00e9rables, Les (1995)|25-Oct-1995||http://x|${flags(8, 17)}`,
    ]
      .join('\n')
      .split('')
      .map((c) => c.charCodeAt(0)),
  );

  it('parses ratings and items with genres, urls and latin-1 titles', () => {
    const d = parseMovieLens100k(uData, decodeLatin1(itemBytes));
    expect(d.name).toBe('ml-100k');
    expect(d.events).toEqual([
      { user: '196', item: '242', timestamp: 881250949 },
      { user: '186', item: '302', timestamp: 891717742 },
      { user: '22', item: '377', timestamp: 878887116 },
    ]);
    expect(d.items).toEqual([
      {
        id: '242',
        title: 'Kolya (1996)',
        categories: ['Comedy'],
        url: 'http://us.imdb.com/M/title-exact?Kolya%20(1996)',
      },
      {
        id: '302',
        title: 'L.A. Confidential (1997)',
        categories: ['Crime', 'Film-Noir', 'Mystery', 'Thriller'],
      },
      { id: '543', title: 'Misérables, Les (1995)', categories: ['Drama', 'War'], url: 'http://x' },
    ]);
  });

  it('accepts a missing u.item', () => {
    expect(parseMovieLens100k(uData, null).items).toEqual([]);
  });

  it('reports the file, line and problem', () => {
    // Blank lines still count: the bad line is the 17th line of the file.
    const bad = `${'1\t2\t3\t4\n'.repeat(10)}\n\n\n\n\n\n1\t2\t3\n`;
    expectBadInput(
      () => parseMovieLens100k(bad, null),
      'u.data line 17: expected 4 tab-separated fields (user item rating timestamp), got 3',
    );
    expectBadInput(
      () => parseMovieLens100k('1\t2\t3\tabc', null, { data: 'x/u1.base' }),
      'x/u1.base line 1: timestamp "abc" is not a number',
    );
    expectBadInput(
      () => parseMovieLens100k('1\t2\tfive\t4', null),
      /^u\.data line 1: rating "five"/,
    );
    expectBadInput(() => parseMovieLens100k('\t2\t3\t4', null), 'u.data line 1: empty user');
    expectBadInput(
      () => parseMovieLens100k('', '1|t|||'),
      /^u\.item line 1: expected 24 '\|'-separated fields/,
    );
    expectBadInput(
      () => parseMovieLens100k('', `1|ok||||${flags()}\n2|t||||${flags().replace(/^0/, '2')}`),
      'u.item line 2: genre flag 1 (unknown) must be 0 or 1, got "2"',
    );
  });
});

describe('parseMovieLens1m', () => {
  it('parses ratings.dat and movies.dat', () => {
    const d = parseMovieLens1m(
      '1::1193::5::978300760\n1::661::3::978302109\n',
      "1193::One Flew Over the Cuckoo's Nest (1975)::Drama\n661::James and the Giant Peach (1996)::Animation|Children's|Musical\n",
    );
    expect(d.name).toBe('ml-1m');
    expect(d.events).toEqual([
      { user: '1', item: '1193', timestamp: 978300760 },
      { user: '1', item: '661', timestamp: 978302109 },
    ]);
    expect(d.items[1]).toEqual({
      id: '661',
      title: 'James and the Giant Peach (1996)',
      categories: ['Animation', "Children's", 'Musical'],
    });
    expect(parseMovieLens1m('', null).events).toEqual([]);
  });

  it('reports errors with file and line', () => {
    expectBadInput(
      () => parseMovieLens1m('1::2::3::4\n1::2::3', null),
      "ratings.dat line 2: expected 4 '::'-separated fields (user item rating timestamp), got 3",
    );
    expectBadInput(() => parseMovieLens1m('', '1::Title'), /^movies\.dat line 1: expected 3/);
  });
});

describe('parseSasrecText', () => {
  it('uses the line index as timestamp', () => {
    const d = parseSasrecText('1 10\n1  11\n\n2\t10\n', 'ml-1m.txt');
    expect(d.name).toBe('ml-1m');
    expect(d.events).toEqual([
      { user: '1', item: '10', timestamp: 0 },
      { user: '1', item: '11', timestamp: 1 },
      { user: '2', item: '10', timestamp: 3 },
    ]);
  });

  it('rejects lines without exactly two fields', () => {
    expectBadInput(
      () => parseSasrecText('1 2\n1 2 3\n', 'Beauty.txt'),
      'Beauty.txt line 2: expected 2 whitespace-separated fields (user item), got 3',
    );
  });
});

describe('parseEventsCsv', () => {
  it('reads aliases, quoting, types and ISO dates', () => {
    const text = [
      'userId,"item_id",extra,TS,type',
      'u1,i1,x,100,view',
      '"u,2","i""2","multi',
      'line",2020-01-02T03:04:05Z,',
      '',
      'u3,i3,,2020-01-02,purchase',
      'u4,i4,,2020-01-02T00:00:00+01:00,click',
    ].join('\r\n');
    const d = parseEventsCsv(text, 'data/shop.csv');
    expect(d.name).toBe('shop');
    expect(d.events).toEqual([
      { user: 'u1', item: 'i1', timestamp: 100, type: 'view' },
      { user: 'u,2', item: 'i"2', timestamp: Date.UTC(2020, 0, 2, 3, 4, 5) },
      { user: 'u3', item: 'i3', timestamp: Date.UTC(2020, 0, 2), type: 'purchase' },
      { user: 'u4', item: 'i4', timestamp: Date.UTC(2020, 0, 1, 23), type: 'click' },
    ]);
  });

  it('reads a zone-less date-time as UTC', () => {
    const d = parseEventsCsv('user,item,time\na,b,2021-06-01 12:00:00\n');
    expect(d.events[0]!.timestamp).toBe(Date.UTC(2021, 5, 1, 12));
  });

  it('reports header, width, timestamp and quoting problems with the right line', () => {
    expectBadInput(
      () => parseEventsCsv('user,product,when\n'),
      'events.csv line 1: header must name the columns user, item, timestamp; missing item, timestamp (got: user,product,when)',
    );
    expectBadInput(() => parseEventsCsv(''), 'events.csv: empty file (a header row is required)');
    // The quoted field spans lines 2-3, so the short record is on line 4.
    expectBadInput(
      () => parseEventsCsv('user,item,ts\n"a\nb",i,1\nx,y\n', 'e.csv'),
      'e.csv line 4: expected 3 comma-separated fields as in the header, got 2',
    );
    expectBadInput(
      () => parseEventsCsv('user,item,ts\n\na,b,yesterday\n', 'e.csv'),
      'e.csv line 3: timestamp "yesterday" is neither a number nor an ISO 8601 date',
    );
    expectBadInput(
      () => parseEventsCsv('user,item,ts\na,"b,1\n'),
      'events.csv line 2: unterminated quoted field',
    );
    expectBadInput(
      () => parseEventsCsv('user,item,ts\na,"b"x,1\n'),
      /^events\.csv line 2: unexpected character after closing quote/,
    );
    expectBadInput(() => parseEventsCsv('user,item,ts\na,,1\n'), 'events.csv line 2: empty item');
  });
});

describe('parseEventsJsonl', () => {
  it('reads objects with aliases and numeric ids', () => {
    const text = [
      '{"user":"a","item":"x","timestamp":3}',
      '',
      '{"user_id":7,"itemId":12,"ts":"2020-01-01T00:00:00Z","type":"click"}',
      '{"UserId":"b","item":"y","time":"42"}',
    ].join('\n');
    expect(parseEventsJsonl(text, 'ev.jsonl').events).toEqual([
      { user: 'a', item: 'x', timestamp: 3 },
      { user: '7', item: '12', timestamp: Date.UTC(2020, 0, 1), type: 'click' },
      { user: 'b', item: 'y', timestamp: 42 },
    ]);
  });

  it('reports errors with file and line', () => {
    expectBadInput(
      () => parseEventsJsonl('{"user":"a","item":"x","ts":1}\n{oops'),
      /^events\.jsonl line 2: invalid JSON/,
    );
    expectBadInput(() => parseEventsJsonl('[1,2]'), 'events.jsonl line 1: expected a JSON object');
    expectBadInput(
      () => parseEventsJsonl('\n{"user":"a"}', 'e.jsonl'),
      'e.jsonl line 2: missing field(s) item, timestamp',
    );
    expectBadInput(
      () => parseEventsJsonl('{"user":"a","item":{},"ts":1}'),
      'events.jsonl line 1: item must be a string or a number, got {}',
    );
    expectBadInput(
      () => parseEventsJsonl('{"user":"a","item":"b","ts":true}'),
      'events.jsonl line 1: timestamp must be a number or a date string, got true',
    );
  });
});

describe('item files', () => {
  it('parses CSV and JSONL items', () => {
    expect(
      parseItemsCsv('item_id,title,genres,url\n1,"A, the movie",Drama|War,http://a\n2,,,\n'),
    ).toEqual([
      { id: '1', title: 'A, the movie', categories: ['Drama', 'War'], url: 'http://a' },
      { id: '2', title: '2', categories: [] },
    ]);
    expect(
      parseItemsJsonl(
        '{"id":1,"title":"T","categories":["a","b"],"image":"i.png"}\n{"item":"z","genres":"x|y"}',
      ),
    ).toEqual([
      { id: '1', title: 'T', categories: ['a', 'b'], image: 'i.png' },
      { id: 'z', title: 'z', categories: ['x', 'y'] },
    ]);
    expectBadInput(
      () => parseItemsCsv('title\nx\n'),
      'items.csv line 1: header must name an id column (got: title)',
    );
    expectBadInput(() => parseItemsJsonl('{"title":"x"}'), 'items.jsonl line 1: missing field id');
  });
});

describe('real MovieLens 100K', () => {
  const dir = fileURLToPath(new URL('../../../shared/data/ml-100k', import.meta.url));
  const present = existsSync(dir);
  if (!present && !process.env.CI) {
    console.warn(
      `\n*** SKIPPING the real ml-100k test: ${dir} is absent (it must exist in CI) ***\n`,
    );
  }

  it.skipIf(!present && !process.env.CI)(
    'parses 943 users, 1682 items, 100000 events and splits them',
    () => {
      if (!present) throw new Error(`ml-100k is required in CI but ${dir} is absent`);
      const d = parseMovieLens100k(
        readFileSync(`${dir}/u.data`, 'latin1'),
        decodeLatin1(readFileSync(`${dir}/u.item`)),
      );
      expect(d.events.length).toBe(100_000);
      expect(new Set(d.events.map((e) => e.user)).size).toBe(943);
      expect(d.items.length).toBe(1682);
      expect(new Set(d.events.map((e) => e.item)).size).toBe(1682);
      expect(d.items.find((i) => i.id === '543')!.title).toBe('Misérables, Les (1995)');
      expect(d.items[0]).toMatchObject({
        id: '1',
        title: 'Toy Story (1995)',
        categories: ['Animation', "Children's", 'Comedy'],
      });

      const s = leaveOneOut(d.events, { extraItems: d.items.map((i) => i.id) });
      expect(s.numItems).toBe(1682);
      expect(s.users.length).toBe(943);
      expect(s.users.filter((u) => u.valid !== 0 && u.test !== 0).length).toBe(943);
      const total = s.users.reduce((a, u) => a + u.train.length + 2, 0);
      expect(total).toBe(100_000);
    },
  );
});

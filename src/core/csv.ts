import { LocalrecError } from './errors.ts';

/** One CSV record and the 1-based line on which it starts (quoted fields may span lines). */
export interface CsvRecord {
  fields: string[];
  line: number;
}

/**
 * Splits RFC 4180 CSV text into records: comma-separated fields, CRLF or LF record ends,
 * fields quoted with `"` may contain commas, newlines and `""` (an escaped quote).
 * Blank lines are skipped. A quote inside an unquoted field is kept literally (a common
 * laxity of spreadsheet exports); text after a closing quote, or a quote that is never
 * closed, is an error naming `fileName` and the line.
 */
export function* parseCsvRecords(text: string, fileName: string): Generator<CsvRecord> {
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0; // a byte-order mark is not part of the header
  const n = text.length;
  let line = 1;
  while (i < n) {
    const start = line;
    const fields: string[] = [];
    let quotedAny = false;
    for (;;) {
      // One field.
      if (text.charCodeAt(i) === 34 /* " */) {
        quotedAny = true;
        const quoteLine = line;
        let value = '';
        i++;
        for (;;) {
          const q = text.indexOf('"', i);
          if (q < 0) {
            throw new LocalrecError(
              'bad-input',
              `${fileName} line ${quoteLine}: unterminated quoted field`,
            );
          }
          const chunk = text.slice(i, q);
          line += countNewlines(chunk);
          value += chunk;
          if (text.charCodeAt(q + 1) === 34) {
            value += '"';
            i = q + 2;
          } else {
            i = q + 1;
            break;
          }
        }
        const c = text.charCodeAt(i);
        if (i < n && c !== 44 && c !== 10 && c !== 13) {
          throw new LocalrecError(
            'bad-input',
            `${fileName} line ${line}: unexpected character after closing quote of field ${fields.length + 1}`,
          );
        }
        fields.push(value);
      } else {
        let j = i;
        while (j < n) {
          const c = text.charCodeAt(j);
          if (c === 44 || c === 10 || c === 13) break;
          j++;
        }
        fields.push(text.slice(i, j));
        i = j;
      }
      // After a field: a comma continues the record, anything else ends it.
      if (i < n && text.charCodeAt(i) === 44) {
        i++;
        continue;
      }
      if (text.charCodeAt(i) === 13) i++;
      if (text.charCodeAt(i) === 10) i++;
      line++;
      break;
    }
    if (!quotedAny && fields.length === 1 && fields[0]!.trim() === '') continue;
    yield { fields, line: start };
  }
}

function countNewlines(s: string): number {
  let k = 0;
  for (let p = s.indexOf('\n'); p >= 0; p = s.indexOf('\n', p + 1)) k++;
  return k;
}

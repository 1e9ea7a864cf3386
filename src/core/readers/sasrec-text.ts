import type { Dataset, Interaction } from '../types.ts';
import { baseName, fail, forEachLine } from './fields.ts';

/**
 * The SASRec text format: `user item` per line, whitespace-separated, already in time
 * order per user. The line index (0-based, blank lines included) becomes the timestamp,
 * which preserves that order through the split's stable sort.
 */
export function parseSasrecText(text: string, fileName = 'sasrec.txt'): Dataset {
  const events: Interaction[] = [];
  forEachLine(text, (line, no) => {
    const f = line.trim().split(/\s+/);
    if (f.length !== 2)
      fail(fileName, no, `expected 2 whitespace-separated fields (user item), got ${f.length}`);
    events.push({ user: f[0]!, item: f[1]!, timestamp: no - 1 });
  });
  return { name: baseName(fileName), events, items: [] };
}

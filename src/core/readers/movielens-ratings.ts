import type { Interaction } from '../types.ts';
import { fail, forEachLine, requireId } from './fields.ts';

/**
 * The rating file of either MovieLens format: `user item rating timestamp` per line, split on
 * `separator` (`separatorName` in the error message). Every rating is an interaction; the
 * rating value itself is checked and dropped (implicit feedback).
 */
export function parseRatings(
  text: string,
  separator: string,
  separatorName: string,
  fileName: string,
): Interaction[] {
  const events: Interaction[] = [];
  forEachLine(text, (line, no) => {
    const f = line.split(separator);
    if (f.length !== 4) {
      fail(
        fileName,
        no,
        `expected 4 ${separatorName}-separated fields (user item rating timestamp), got ${f.length}`,
      );
    }
    events.push(ratingEvent(f, fileName, no));
  });
  return events;
}

/** `user item rating timestamp` fields shared by both MovieLens rating formats. */
function ratingEvent(f: string[], file: string, no: number): Interaction {
  const user = requireId(f[0]!, 'user', file, no);
  const item = requireId(f[1]!, 'item', file, no);
  const rating = f[2]!.trim();
  if (rating === '' || !Number.isFinite(Number(rating)))
    fail(file, no, `rating "${rating}" is not a number`);
  const ts = f[3]!.trim();
  const timestamp = Number(ts);
  if (ts === '' || !Number.isFinite(timestamp)) fail(file, no, `timestamp "${ts}" is not a number`);
  return { user, item, timestamp };
}

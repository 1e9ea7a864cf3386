/**
 * Pure parsers for the event and item files localrec reads. They take file *text* (the
 * caller reads the file and decodes it; MovieLens files are latin-1, see
 * {@link decodeLatin1}) and return a `Dataset`. Every malformed line is reported as
 * `LocalrecError('bad-input', '<file> line <n>: <problem>')` so a user can fix the file.
 * Blank lines are skipped everywhere.
 *
 * One module per format; this index is what other code imports.
 */
export { decodeLatin1 } from './latin1.ts';
export { ML100K_GENRES, parseMovieLens100k, type MovieLens100kNames } from './movielens-100k.ts';
export { parseMovieLens1m, type MovieLens1mNames } from './movielens-1m.ts';
export { parseSasrecText } from './sasrec-text.ts';
export { parseEventsCsv } from './events-csv.ts';
export { parseEventsJsonl } from './events-jsonl.ts';
export { parseItemsCsv } from './items-csv.ts';
export { parseItemsJsonl } from './items-jsonl.ts';

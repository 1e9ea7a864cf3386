/**
 * The id table of an embedding shard (src/core/shard.ts): each row's external item id as a u16
 * byte length followed by its UTF-8 bytes, back to back.
 */
import { LocalrecError } from './errors.ts';

const U16_MAX = 0xffff;

/** The UTF-8 bytes of each id and the table's total length. Throws `bad-input` on a bad id. */
export function encodeIdTable(ids: string[]): { parts: Uint8Array[]; bytes: number } {
  const enc = new TextEncoder();
  const parts: Uint8Array[] = [];
  let bytes = 0;
  ids.forEach((id, i) => {
    // A lone surrogate would be written as U+FFFD and come back as a different id.
    if (/\p{Cs}/u.test(id))
      throw new LocalrecError(
        'bad-input',
        `encodeShard: id of row ${i} is not well-formed Unicode (lone surrogate)`,
      );
    const b = enc.encode(id);
    if (b.length > U16_MAX)
      throw new LocalrecError(
        'bad-input',
        `encodeShard: id of row ${i} is ${b.length} UTF-8 bytes; the limit is ${U16_MAX}`,
      );
    parts.push(b);
    bytes += 2 + b.length;
  });
  return { parts, bytes };
}

/** Writes the table of {@link encodeIdTable} into `out` at `at`. */
export function writeIdTable(out: Uint8Array, at: number, parts: Uint8Array[]): void {
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  let p = at;
  for (const b of parts) {
    view.setUint16(p, b.length, true);
    out.set(b, p + 2);
    p += 2 + b.length;
  }
}

/** Reads `count` ids from the `tableBytes`-byte table at `at`; `bad-format` when it is malformed. */
export function readIdTable(
  bytes: Uint8Array,
  at: number,
  count: number,
  tableBytes: number,
): string[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dec = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  const ids: string[] = new Array<string>(count);
  const end = at + tableBytes;
  let p = at;
  for (let i = 0; i < count; i++) {
    if (p + 2 > end)
      throw bad(`shard id table overflow: id ${i} starts past the table's ${tableBytes} bytes`);
    const len = view.getUint16(p, true);
    if (p + 2 + len > end) {
      throw bad(
        `shard id table overflow: id ${i} (${len} bytes) runs past the table's ${tableBytes} bytes`,
      );
    }
    try {
      ids[i] = dec.decode(bytes.subarray(p + 2, p + 2 + len));
    } catch (e) {
      throw new LocalrecError('bad-format', `shard id ${i} is not valid UTF-8`, { cause: e });
    }
    p += 2 + len;
  }
  if (p !== end) throw bad(`shard id table has ${end - p} trailing bytes after ${count} ids`);
  return ids;
}

function bad(message: string): LocalrecError {
  return new LocalrecError('bad-format', message);
}

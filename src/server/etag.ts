/**
 * Whether an `If-None-Match` header matches `etag` (a quoted strong tag). Uses the weak
 * comparison RFC 9110 prescribes for If-None-Match, so `W/"x"` matches `"x"`; `*` matches any.
 * A compressed representation's tag (`"x-br"`, `"x-gzip"`) matches too: it is the same content,
 * and the client holds a usable copy either way.
 */
export function etagMatches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === '*') return true;
  return header.split(',').some((t) => {
    const tag = t
      .trim()
      .replace(/^W\//, '')
      .replace(/-(?:br|gzip)"$/, '"');
    return tag === etag;
  });
}

/** The ETag of a compressed representation of the content tagged `etag`. */
export function encodedEtag(etag: string, enc: 'br' | 'gzip'): string {
  return `${etag.slice(0, -1)}-${enc}"`;
}

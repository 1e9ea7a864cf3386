/**
 * Whether an `If-None-Match` header matches `etag` (a quoted strong tag). Uses the weak
 * comparison RFC 9110 prescribes for If-None-Match, so `W/"x"` matches `"x"`; `*` matches any.
 */
export function etagMatches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === '*') return true;
  return header.split(',').some((t) => t.trim().replace(/^W\//, '') === etag);
}

/**
 * Decodes ISO-8859-1 bytes: each byte is the code point of the same value. Written out
 * rather than `new TextDecoder('latin1')` because the WHATWG decoder maps that label to
 * windows-1252, which differs in 0x80–0x9F.
 */
export function decodeLatin1(bytes: Uint8Array): string {
  const parts: string[] = [];
  const CHUNK = 0x2000; // keeps the spread argument list well under engine limits
  for (let i = 0; i < bytes.length; i += CHUNK) {
    parts.push(String.fromCharCode(...bytes.subarray(i, i + CHUNK)));
  }
  return parts.join('');
}

/**
 * A digest of a delta's dequantized values that any encoding of the same values shares, so the
 * intake can count a set of values once whatever update id it comes under. Values are
 * `scale × q` per slice; `(scale, q)` and `(scale·k, q/k)` give the same values, so each slice
 * is hashed in its reduced form: q divided by the gcd g of its |q|, and scale·g (exact in
 * float64: a float32 times an integer ≤ 127). Two slices have the same values exactly when
 * their reduced forms are equal (primitive integer vectors that are proportional with a
 * positive ratio are equal). An all-zero slice is hashed as its length alone.
 *
 * Hashes the int8 bytes (480 kB for a 480k-value delta), never the 3.9 MB of float64 values.
 */
import { createHash } from 'node:crypto';
import type { Delta } from '../core/delta.ts';

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/** sha256 (hex) of the delta's dequantized values, per slice in reduced form. */
export function valuesDigest(d: Delta): string {
  const h = createHash('sha256');
  const head = new DataView(new ArrayBuffer(14));
  for (const s of d.slices) {
    const q = s.values;
    let g = 0;
    if (s.scale > 0) for (let i = 0; i < q.length && g !== 1; i++) g = gcd(g, Math.abs(q[i]!));
    head.setUint16(0, s.index, true);
    head.setUint32(2, q.length, true);
    head.setFloat64(6, g === 0 ? 0 : s.scale * g, true);
    h.update(new Uint8Array(head.buffer));
    if (g === 0) continue; // all zero
    if (g === 1) h.update(q);
    else h.update(q.map((x) => x / g));
  }
  return h.digest('hex');
}

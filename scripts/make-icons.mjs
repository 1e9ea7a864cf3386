#!/usr/bin/env node
/**
 * Draws the web app's PNG icons (public/icons/) from the same shapes as public/favicon.svg:
 * a diagonal indigo → teal gradient with three white dots. No image library and no download —
 * a tiny rasterizer (4×4 supersampling) and a PNG writer over node:zlib. Run it again after
 * changing the shapes: `node scripts/make-icons.mjs`.
 *
 * - icon-192.png, icon-512.png: purpose "any", a rounded square on a transparent background;
 * - icon-maskable-512.png: purpose "maskable", full-bleed background with the dots inside the
 *   safe zone (the central circle of radius 40%), so any mask shape keeps them whole;
 * - apple-touch-icon.png (180): full-bleed, as iOS rounds the corners itself.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { deflateSync } from 'node:zlib';

const OUT = resolve(import.meta.dirname, '../public/icons');

// Shapes in the favicon's 64-unit space.
const FROM = [0x63, 0x66, 0xf1]; // #6366f1
const TO = [0x14, 0xb8, 0xa6]; // #14b8a6
const RADIUS = 16;
const DOTS = [
  { x: 24, y: 26, r: 7, alpha: 1 },
  { x: 40, y: 26, r: 7, alpha: 0.75 },
  { x: 32, y: 41, r: 7, alpha: 0.5 },
];

/** Inside a 64×64 square with corner radius `r` (0: a plain square)? */
function inRoundedSquare(x, y, r) {
  if (x < 0 || y < 0 || x > 64 || y > 64) return false;
  const cx = Math.min(Math.max(x, r), 64 - r);
  const cy = Math.min(Math.max(y, r), 64 - r);
  return (x - cx) ** 2 + (y - cy) ** 2 <= r * r;
}

/** Straight (not premultiplied) RGBA of one sample point, in 64-unit coordinates. */
function sample(x, y, rounded) {
  if (!inRoundedSquare(x, y, rounded ? RADIUS : 0)) return [0, 0, 0, 0];
  const t = Math.min(1, Math.max(0, (x + y) / 128));
  let rgb = FROM.map((c, i) => c + (TO[i] - c) * t);
  for (const d of DOTS) {
    if ((x - d.x) ** 2 + (y - d.y) ** 2 <= d.r * d.r) rgb = rgb.map((c) => c + (255 - c) * d.alpha);
  }
  return [...rgb, 255];
}

/** RGBA pixels of a `size`×`size` icon, 4×4 samples per pixel averaged with premultiplied alpha. */
function draw(size, rounded) {
  const px = new Uint8Array(size * size * 4);
  const n = 4;
  for (let py = 0; py < size; py++) {
    for (let pxi = 0; pxi < size; pxi++) {
      let r = 0;
      let g = 0;
      let b = 0;
      let a = 0;
      for (let sy = 0; sy < n; sy++) {
        for (let sx = 0; sx < n; sx++) {
          const x = ((pxi + (sx + 0.5) / n) / size) * 64;
          const y = ((py + (sy + 0.5) / n) / size) * 64;
          const [cr, cg, cb, ca] = sample(x, y, rounded);
          r += cr * ca;
          g += cg * ca;
          b += cb * ca;
          a += ca;
        }
      }
      const o = (py * size + pxi) * 4;
      px[o] = a ? Math.round(r / a) : 0;
      px[o + 1] = a ? Math.round(g / a) : 0;
      px[o + 2] = a ? Math.round(b / a) : 0;
      px[o + 3] = Math.round(a / (n * n));
    }
  }
  return px;
}

const CRC_TABLE = Array.from({ length: 256 }, (_, k) => {
  let c = k;
  for (let i = 0; i < 8; i++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes) {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'ascii');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

/** An 8-bit RGBA PNG, every row with filter type 0. */
function png(size, rgba) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 6; // colour type: RGBA
  const raw = Buffer.alloc(size * (size * 4 + 1));
  for (let y = 0; y < size; y++) {
    Buffer.from(rgba.buffer, y * size * 4, size * 4).copy(raw, y * (size * 4 + 1) + 1);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

const ICONS = [
  { file: 'icon-192.png', size: 192, rounded: true },
  { file: 'icon-512.png', size: 512, rounded: true },
  { file: 'icon-maskable-512.png', size: 512, rounded: false },
  { file: 'apple-touch-icon.png', size: 180, rounded: false },
];

mkdirSync(OUT, { recursive: true });
for (const icon of ICONS) {
  const bytes = png(icon.size, draw(icon.size, icon.rounded));
  writeFileSync(join(OUT, icon.file), bytes);
  console.log(
    `${join('public/icons', icon.file)}: ${icon.size}×${icon.size}, ${bytes.length} bytes`,
  );
}

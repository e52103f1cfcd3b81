import { deflateSync } from 'node:zlib';
import type { TrayState } from './tray-state.js';

/**
 * Tray and app icons drawn in code and encoded as PNG. Drawing them means no image files to
 * keep in step with the states, nothing to locate inside the asar at run time, and the same
 * function writes build/icon.png for the installers (build/generate-icons.mjs).
 */

type Rgb = readonly [number, number, number];

export const STATE_COLORS: Record<TrayState, Rgb> = {
  starting: [138, 143, 152],
  connected: [34, 160, 84],
  disconnected: [138, 143, 152],
  'backing-off': [230, 160, 0],
  failing: [217, 48, 37],
  paused: [59, 125, 216],
};

/** Tray icons are 16 px at scale 1 (Windows, Linux) and 2 for HiDPI and macOS menu bars. */
export const TRAY_ICON_SIZE = 16;

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'ascii');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

/** PNG (RFC 2083) of 8-bit RGBA pixels, row-major, no interlace. */
export function encodePng(width: number, height: number, rgba: Uint8Array): Buffer {
  if (rgba.length !== width * height * 4)
    throw new RangeError(`expected ${width * height * 4} bytes of RGBA, got ${rgba.length}`);
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 6, 0, 0, 0], 8); // bit depth 8, colour type 6 (RGBA), deflate, filter 0, no interlace
  const rows = Buffer.alloc((width * 4 + 1) * height);
  for (let y = 0; y < height; y++) {
    // Each row starts with its filter type; 0 (none) keeps the encoder trivial.
    rows.set(rgba.subarray(y * width * 4, (y + 1) * width * 4), y * (width * 4 + 1) + 1);
  }
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([
    signature,
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(rows)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** Coverage of a pixel by a disc, for soft edges at 16 px: 4×4 samples per pixel. */
function coverage(x: number, y: number, cx: number, cy: number, r: number): number {
  let inside = 0;
  for (let sy = 0; sy < 4; sy++) {
    for (let sx = 0; sx < 4; sx++) {
      const dx = x + (sx + 0.5) / 4 - cx;
      const dy = y + (sy + 0.5) / 4 - cy;
      if (dx * dx + dy * dy <= r * r) inside++;
    }
  }
  return inside / 16;
}

type Layer = (x: number, y: number) => { color: Rgb; alpha: number } | undefined;

function render(size: number, layers: Layer[]): Uint8Array {
  const out = new Uint8Array(size * size * 4);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let [r, g, b, a] = [0, 0, 0, 0];
      for (const layer of layers) {
        const px = layer(x, y);
        if (!px || px.alpha <= 0) continue;
        // "Source over" compositing on straight (non-premultiplied) alpha.
        const na = px.alpha + a * (1 - px.alpha);
        const mix = (src: number, dst: number) => (src * px.alpha + dst * a * (1 - px.alpha)) / na;
        [r, g, b, a] = [mix(px.color[0], r), mix(px.color[1], g), mix(px.color[2], b), na];
      }
      out.set([Math.round(r), Math.round(g), Math.round(b), Math.round(a * 255)], (y * size + x) * 4);
    }
  }
  return out;
}

const disc =
  (cx: number, cy: number, r: number, color: Rgb, alpha = 1): Layer =>
  (x, y) => ({ color, alpha: alpha * coverage(x, y, cx, cy, r) });

/** A coloured dot with a thin dark rim, so it reads on light and dark panels alike. */
export function trayIconPng(state: TrayState, scale: 1 | 2 = 1): Buffer {
  const size = TRAY_ICON_SIZE * scale;
  const c = size / 2;
  const pixels = render(size, [
    disc(c, c, size * 0.44, [32, 32, 32], 0.55),
    disc(c, c, size * 0.36, STATE_COLORS[state]),
  ]);
  return encodePng(size, size, pixels);
}

/** The app icon: a dark rounded square with a white ring around a green dot (an event). */
export function appIconPng(size: number): Buffer {
  const radius = size * 0.18;
  const inset = size * 0.04;
  const roundedSquare: Layer = (x, y) => {
    // Distance outside the square's inner rectangle, then a disc test for the corners.
    const lo = inset + radius;
    const hi = size - inset - radius;
    const cx = Math.min(Math.max(x + 0.5, lo), hi);
    const cy = Math.min(Math.max(y + 0.5, lo), hi);
    return { color: [17, 24, 39], alpha: coverage(x, y, cx, cy, radius) };
  };
  const c = size / 2;
  const ring: Layer = (x, y) => {
    const outer = coverage(x, y, c, c, size * 0.32);
    const inner = coverage(x, y, c, c, size * 0.25);
    return { color: [255, 255, 255], alpha: Math.max(0, outer - inner) };
  };
  return encodePng(
    size,
    size,
    render(size, [roundedSquare, ring, disc(c, c, size * 0.13, STATE_COLORS.connected)]),
  );
}

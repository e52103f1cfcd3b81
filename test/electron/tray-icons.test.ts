import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  appIconPng,
  crc32,
  encodePng,
  STATE_COLORS,
  TRAY_ICON_SIZE,
  trayIconPng,
} from '../../src/electron/tray-icons.js';
import type { TrayState } from '../../src/electron/tray-state.js';
import { readPng } from './png-reader.js';

const STATES = Object.keys(STATE_COLORS) as TrayState[];

describe('tray icons', () => {
  it('computes the standard CRC-32 (check value of "123456789")', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926);
  });

  it('encodes RGBA pixels as a valid PNG', () => {
    const rgba = new Uint8Array([255, 0, 0, 255, 0, 255, 0, 128, 0, 0, 255, 0, 1, 2, 3, 4]);
    const png = readPng(encodePng(2, 2, rgba), crc32);
    expect([png.width, png.height, png.bitDepth, png.colorType, png.crcOk]).toEqual([2, 2, 8, 6, true]);
    expect(png.pixel(1, 0)).toEqual([0, 255, 0, 128]);
    expect(png.pixel(1, 1)).toEqual([1, 2, 3, 4]);
    expect(() => encodePng(2, 2, new Uint8Array(3))).toThrow(RangeError);
  });

  it.each(STATES)(
    'draws the %s icon at 1x and 2x, its colour in the middle, transparent corners',
    (state) => {
      for (const scale of [1, 2] as const) {
        const png = readPng(trayIconPng(state, scale), crc32);
        const size = TRAY_ICON_SIZE * scale;
        expect([png.width, png.height, png.crcOk]).toEqual([size, size, true]);
        expect(png.pixel(size / 2, size / 2)).toEqual([...STATE_COLORS[state], 255]);
        expect(png.pixel(0, 0)[3]).toBe(0);
      }
    },
  );

  it('gives connected, backing-off and failing colours a user can tell apart', () => {
    const colours = new Set(
      (['connected', 'backing-off', 'failing'] as const).map((s) => STATE_COLORS[s].join()),
    );
    expect(colours.size).toBe(3);
  });
});

describe('installer icons (build/)', () => {
  it('build/icon.png is the generated app icon, large enough for every platform (≥ 512 px)', () => {
    const file = new URL('../../build/icon.png', import.meta.url);
    const bytes = fs.readFileSync(file);
    const png = readPng(bytes, crc32);
    expect(png.crcOk).toBe(true);
    expect(png.width).toBeGreaterThanOrEqual(512);
    expect(png.width).toBe(png.height);
    // Same drawing code as appIconPng: regenerate with build/generate-icons.mjs after changing it.
    const sample = readPng(appIconPng(64), crc32);
    const scale = png.width / 64;
    expect(png.pixel(32 * scale, 32 * scale)).toEqual(sample.pixel(32, 32));
  });
});

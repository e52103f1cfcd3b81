import { inflateSync } from 'node:zlib';

/** Just enough of a PNG reader to check what tray-icons.ts writes: RGBA, 8 bit, filter 0 rows. */
export interface DecodedPng {
  width: number;
  height: number;
  colorType: number;
  bitDepth: number;
  crcOk: boolean;
  pixel(x: number, y: number): [number, number, number, number];
}

const SIGNATURE = '89504e470d0a1a0a';

export function readPng(buf: Buffer, crc32: (b: Uint8Array) => number): DecodedPng {
  if (buf.subarray(0, 8).toString('hex') !== SIGNATURE) throw new Error('not a PNG');
  let off = 8;
  let width = 0;
  let height = 0;
  let colorType = -1;
  let bitDepth = -1;
  let crcOk = true;
  const idat: Buffer[] = [];
  while (off < buf.length) {
    const len = buf.readUInt32BE(off);
    const type = buf.toString('ascii', off + 4, off + 8);
    const data = buf.subarray(off + 8, off + 8 + len);
    if (crc32(buf.subarray(off + 4, off + 8 + len)) !== buf.readUInt32BE(off + 8 + len)) crcOk = false;
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      bitDepth = data[8]!;
      colorType = data[9]!;
    }
    if (type === 'IDAT') idat.push(data);
    off += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  return {
    width,
    height,
    colorType,
    bitDepth,
    crcOk,
    pixel: (x, y) => {
      const i = y * (width * 4 + 1) + 1 + x * 4;
      return [raw[i]!, raw[i + 1]!, raw[i + 2]!, raw[i + 3]!];
    },
  };
}

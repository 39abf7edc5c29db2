/** The protobuf writer against encodings worked out by hand from the wire-format specification. */
import { describe, expect, it } from 'vitest';
import { ProtoWriter } from '../../src/export/protobuf.js';

const bytes = (build: (w: ProtoWriter) => void): number[] => {
  const w = new ProtoWriter();
  build(w);
  return [...w.finish()];
};

describe('ProtoWriter', () => {
  it('writes the specification\'s examples: varint 150, the string "testing", an embedded message', () => {
    // https://protobuf.dev/programming-guides/encoding/: field 1 = 150 is 08 96 01; field 2 = "testing" is 12 07 74 65 73 74 69 6e 67;
    // field 3 = a message holding field 1 = 150 is 1a 03 08 96 01
    expect(bytes((w) => w.int(1, 150))).toEqual([0x08, 0x96, 0x01]);
    expect(bytes((w) => w.string(2, 'testing'))).toEqual([0x12, 0x07, 0x74, 0x65, 0x73, 0x74, 0x69, 0x6e, 0x67]);
    expect(bytes((w) => w.message(3, (m) => m.int(1, 150)))).toEqual([0x1a, 0x03, 0x08, 0x96, 0x01]);
  });

  it("varints: zero, one-byte limit, 64-bit values and negative int64 as ten bytes of two's complement", () => {
    expect(bytes((w) => w.int(1, 0))).toEqual([0x08, 0x00]);
    expect(bytes((w) => w.int(1, 127))).toEqual([0x08, 0x7f]);
    expect(bytes((w) => w.int(1, 128))).toEqual([0x08, 0x80, 0x01]);
    // 2^53 − 1 = 0x1fffffffffffff: seven groups of 7 bits set, then 0b1111
    expect(bytes((w) => w.int(1, 2 ** 53 - 1))).toEqual([0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f]);
    expect(bytes((w) => w.int(1, (1n << 64n) - 1n))).toEqual([
      0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
    ]);
    expect(bytes((w) => w.int(1, -1))).toEqual([0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    expect(bytes((w) => w.int(1, -2))).toEqual([0x08, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
  });

  it('keys of field numbers above 15 take two bytes (field 20, varint: (20 << 3) | 0 = 160 = a0 01)', () => {
    expect(bytes((w) => w.int(20, 7))).toEqual([0xa0, 0x01, 0x07]);
    expect(bytes((w) => w.string(14, ''))).toEqual([0x72, 0x00]);
  });

  it('floats are fixed32 little-endian (1.0 = 0x3f800000; −2.5 = 0xc0200000)', () => {
    expect(bytes((w) => w.float(2, 1))).toEqual([0x15, 0x00, 0x00, 0x80, 0x3f]);
    expect(bytes((w) => w.float(2, -2.5))).toEqual([0x15, 0x00, 0x00, 0x20, 0xc0]);
  });

  it('UTF-8 strings count bytes, not characters; long payloads grow the buffer intact', () => {
    expect(bytes((w) => w.string(1, 'σ²'))).toEqual([0x0a, 0x04, 0xcf, 0x83, 0xc2, 0xb2]);
    const payload = Uint8Array.from({ length: 70_000 }, (_, i) => (i * 31) & 0xff);
    const out = bytes((w) => w.int(1, 1).bytes(9, payload));
    // 70000 = 0x11170 → varint f0 a2 04
    expect(out.slice(0, 6)).toEqual([0x08, 0x01, 0x4a, 0xf0, 0xa2, 0x04]);
    expect(out.length).toBe(6 + payload.length);
    expect(out.slice(6)).toEqual([...payload]);
  });

  it('refuses values a varint cannot hold exactly and invalid field numbers', () => {
    expect(() => bytes((w) => w.int(1, 0.5))).toThrow(/not an integer/);
    expect(() => bytes((w) => w.int(1, 2 ** 60))).toThrow(/not an integer that fits/);
    expect(() => bytes((w) => w.int(1, 1n << 64n))).toThrow(/64 bits/);
    expect(() => bytes((w) => w.int(0, 1))).toThrow(/field number 0/);
  });
});

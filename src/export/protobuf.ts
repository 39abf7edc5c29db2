/**
 * A minimal protocol-buffers writer: the wire format (https://protobuf.dev/programming-guides/encoding/) for
 * the field kinds the ONNX messages of onnxProto.ts use — varints (int32, int64, enums), length-delimited
 * fields (strings, bytes, nested messages) and 32-bit floats. No Node API (the web page exports ONNX too).
 *
 * Why our own instead of protobufjs with onnx.proto: the ONNX export writes nine message types, about 30
 * fields; their encoder is ~100 lines that the tests check byte for byte against hand-encoded protobuf
 * and decode with an independent decoder (the protobufjs module onnxruntime-web generated from onnx.proto).
 * protobufjs would add a runtime dependency (and its own copy of onnx.proto) to a library that has four,
 * and to the web page's bundle, for no gain in correctness on these few fields.
 *
 * Nested messages are encoded first and written as bytes (length-prefixed): simple, and the copies are
 * small next to the weights, which are written once as one raw byte field.
 */

/** Wire types (the low three bits of a field's key). */
const VARINT = 0;
const LENGTH_DELIMITED = 2;
const FIXED32 = 5;

const TWO_64 = 1n << 64n;

/** Appends protobuf fields to a growing byte buffer; `finish()` returns the message's bytes. */
export class ProtoWriter {
  private buf = new Uint8Array(256);
  private len = 0;
  private readonly view = { dv: new DataView(this.buf.buffer) };

  /** A varint field (int32, int64, uint64, bool, enum). Negative integers take ten bytes (two's complement), as protobuf's int64. */
  int(field: number, value: number | bigint): this {
    this.key(field, VARINT);
    this.varint(value);
    return this;
  }

  /** A 32-bit float field (proto `float`), little-endian. */
  float(field: number, value: number): this {
    this.key(field, FIXED32);
    this.ensure(4);
    this.view.dv.setFloat32(this.len, value, true);
    this.len += 4;
    return this;
  }

  /** A string field, UTF-8. */
  string(field: number, value: string): this {
    return this.bytes(field, new TextEncoder().encode(value));
  }

  /** A bytes field, or an embedded message given as its encoded bytes. */
  bytes(field: number, value: Uint8Array): this {
    this.key(field, LENGTH_DELIMITED);
    this.varint(value.length);
    this.ensure(value.length);
    this.buf.set(value, this.len);
    this.len += value.length;
    return this;
  }

  /** An embedded message, built by `build` on a fresh writer. */
  message(field: number, build: (w: ProtoWriter) => void): this {
    const inner = new ProtoWriter();
    build(inner);
    return this.bytes(field, inner.finish());
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }

  private key(field: number, wireType: number): void {
    if (!Number.isInteger(field) || field < 1 || field > 0x1fffffff)
      throw new Error(`protobuf: field number ${field} is out of range.`);
    this.varint(field * 8 + wireType);
  }

  private varint(value: number | bigint): void {
    if (typeof value === 'number' && !Number.isSafeInteger(value))
      throw new Error(`protobuf: ${value} is not an integer that fits a varint exactly.`);
    let v = BigInt(value);
    if (v < 0n) v += TWO_64; // int64 two's complement: always ten bytes
    if (v < 0n || v >= TWO_64) throw new Error(`protobuf: ${value} does not fit in 64 bits.`);
    this.ensure(10);
    do {
      const low = Number(v & 0x7fn);
      v >>= 7n;
      this.buf[this.len++] = v > 0n ? low | 0x80 : low;
    } while (v > 0n);
  }

  private ensure(extra: number): void {
    if (this.len + extra <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + extra) size *= 2;
    const bigger = new Uint8Array(size);
    bigger.set(this.buf.subarray(0, this.len));
    this.buf = bigger;
    this.view.dv = new DataView(bigger.buffer);
  }
}

/**
 * The ONNX messages the export writes, as plain objects, and their protobuf encoding. Field numbers are
 * those of onnx.proto (https://github.com/onnx/onnx/blob/main/onnx/onnx.proto); only the fields used here
 * are listed. onnx.proto is proto2: repeated numbers are written unpacked (one key per value), as ONNX's own
 * serializer writes them (every protobuf parser also reads packed ones).
 */
import { ProtoWriter } from './protobuf.js';

/** TensorProto.DataType: every tensor here is float32. */
const FLOAT = 1;

/** AttributeProto.AttributeType values used here. */
const AttributeType = { FLOAT: 1, INT: 2, STRING: 3, INTS: 7 } as const;

/** An initializer: float32 values, stored as little-endian raw bytes (raw_data). */
export interface OnnxTensor {
  name: string;
  dims: readonly number[];
  data: Float32Array;
}

export type OnnxAttribute =
  | { name: string; int: number }
  | { name: string; ints: readonly number[] }
  | { name: string; float: number }
  | { name: string; string: string };

export interface OnnxNode {
  name: string;
  opType: string;
  inputs: readonly string[];
  outputs: readonly string[];
  attributes?: readonly OnnxAttribute[];
}

/** A float tensor value's name and shape; a string dimension is symbolic (dim_param), a number fixed (dim_value). */
export interface OnnxValueInfo {
  name: string;
  shape: readonly (number | string)[];
  docString?: string;
}

export interface OnnxModel {
  irVersion: number;
  opsetVersion: number;
  producerName: string;
  producerVersion: string;
  docString: string;
  graph: {
    name: string;
    docString: string;
    nodes: readonly OnnxNode[];
    initializers: readonly OnnxTensor[];
    inputs: readonly OnnxValueInfo[];
    outputs: readonly OnnxValueInfo[];
  };
  metadata: readonly { key: string; value: string }[];
}

/** ModelProto bytes: what an .onnx file holds. */
export function encodeModel(model: OnnxModel): Uint8Array {
  const w = new ProtoWriter();
  w.int(1, model.irVersion); // ir_version
  w.message(8, (o) => o.string(1, '').int(2, model.opsetVersion)); // opset_import: the default domain ai.onnx
  w.string(2, model.producerName);
  w.string(3, model.producerVersion);
  w.string(6, model.docString);
  w.message(7, (g) => writeGraph(g, model.graph));
  for (const { key, value } of model.metadata) w.message(14, (e) => e.string(1, key).string(2, value)); // metadata_props
  return w.finish();
}

function writeGraph(w: ProtoWriter, graph: OnnxModel['graph']): void {
  for (const node of graph.nodes) w.message(1, (n) => writeNode(n, node));
  w.string(2, graph.name);
  for (const t of graph.initializers) w.message(5, (m) => writeTensor(m, t));
  w.string(10, graph.docString);
  for (const v of graph.inputs) w.message(11, (m) => writeValueInfo(m, v));
  for (const v of graph.outputs) w.message(12, (m) => writeValueInfo(m, v));
}

function writeNode(w: ProtoWriter, node: OnnxNode): void {
  for (const i of node.inputs) w.string(1, i);
  for (const o of node.outputs) w.string(2, o);
  w.string(3, node.name);
  w.string(4, node.opType);
  for (const a of node.attributes ?? []) w.message(5, (m) => writeAttribute(m, a));
}

function writeAttribute(w: ProtoWriter, a: OnnxAttribute): void {
  w.string(1, a.name);
  if ('int' in a) w.int(3, a.int).int(20, AttributeType.INT);
  else if ('ints' in a) {
    for (const v of a.ints) w.int(8, v);
    w.int(20, AttributeType.INTS);
  } else if ('float' in a) w.float(2, a.float).int(20, AttributeType.FLOAT);
  else w.string(4, a.string).int(20, AttributeType.STRING);
}

function writeTensor(w: ProtoWriter, t: OnnxTensor): void {
  const size = t.dims.reduce((a, b) => a * b, 1);
  if (size !== t.data.length)
    throw new Error(`ONNX tensor ${t.name}: dims [${t.dims.join(', ')}] hold ${size} values, got ${t.data.length}.`);
  for (const d of t.dims) w.int(1, d);
  w.int(2, FLOAT); // data_type
  w.string(8, t.name);
  w.bytes(9, littleEndianFloat32(t.data)); // raw_data
}

function writeValueInfo(w: ProtoWriter, v: OnnxValueInfo): void {
  w.string(1, v.name);
  // TypeProto { tensor_type: TypeProto.Tensor { elem_type, shape: TensorShapeProto { dim* } } }
  w.message(2, (type) =>
    type.message(1, (tensor) => {
      tensor.int(1, FLOAT); // elem_type
      tensor.message(2, (shape) => {
        for (const d of v.shape) shape.message(1, (dim) => (typeof d === 'number' ? dim.int(1, d) : dim.string(2, d)));
      });
    }),
  );
  if (v.docString !== undefined) w.string(3, v.docString);
}

/** float32 values as little-endian bytes, whatever the host's byte order (ONNX raw_data is little-endian). */
function littleEndianFloat32(values: Float32Array): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(4 * i, values[i]!, true);
  return out;
}

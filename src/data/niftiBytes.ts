/**
 * A small NIfTI-1 reader of our own (single-file `.nii`), on bytes. No Node imports: the web page uses it as
 * it is, after gunzipping a `.nii.gz` with `DecompressionStream`; src/data/nifti.ts adds zlib and files.
 *
 * What it does:
 *  - parses the 348-byte header in either byte order (detected from `sizeof_hdr`, as the standard says),
 *  - reads `dim`, `pixdim`, `datatype`, `bitpix`, `vox_offset`, `scl_slope`, `scl_inter`, `descrip`,
 *  - decodes the voxel data for the common datatypes (uint8, int8, int16, uint16, int32, uint32, float32,
 *    float64) and applies the intensity scaling `y = scl_slope·x + scl_inter` when `scl_slope` is non-zero
 *    and finite (NIfTI-1: a slope of 0 means "no scaling").
 *
 * Voxel order is the file's: `i` varies fastest, then `j`, then `k` (Fortran order), so voxel (i, j, k) of a
 * 3-D volume is `data[i + dim1·(j + dim2·k)]`.
 *
 * Not supported (clear errors): NIfTI-2 (`sizeof_hdr` 540), header/image pairs (`ni1`, `.hdr`/`.img`),
 * complex and RGB datatypes.
 */
export const NIFTI_DT = {
  UINT8: 2,
  INT16: 4,
  INT32: 8,
  FLOAT32: 16,
  FLOAT64: 64,
  INT8: 256,
  UINT16: 512,
  UINT32: 768,
} as const;

/** datatype code → [name, bytes per voxel]. */
const DATATYPES: ReadonlyMap<number, readonly [string, number]> = new Map([
  [NIFTI_DT.UINT8, ['uint8', 1]],
  [NIFTI_DT.INT16, ['int16', 2]],
  [NIFTI_DT.INT32, ['int32', 4]],
  [NIFTI_DT.FLOAT32, ['float32', 4]],
  [NIFTI_DT.FLOAT64, ['float64', 8]],
  [NIFTI_DT.INT8, ['int8', 1]],
  [NIFTI_DT.UINT16, ['uint16', 2]],
  [NIFTI_DT.UINT32, ['uint32', 4]],
] as const);

export interface NiftiHeader {
  littleEndian: boolean;
  /** Number of dimensions, `dim[0]`. */
  ndim: number;
  /** Sizes of the `ndim` dimensions (`dim[1..ndim]`). */
  shape: number[];
  /** `pixdim[1..ndim]` (voxel spacing). */
  spacing: number[];
  datatype: number;
  datatypeName: string;
  bitpix: number;
  voxOffset: number;
  sclSlope: number;
  sclInter: number;
  magic: string;
  descrip: string;
}

export interface NiftiVolume {
  header: NiftiHeader;
  /** Voxel values after intensity scaling, file order (i fastest). */
  data: Float64Array;
  /** Whether `scl_slope`/`scl_inter` changed the stored values. */
  scaled: boolean;
}

const HEADER_BYTES = 348;

/** Parse only the header. `bytes` must be the uncompressed file content. `what` names the file in errors. */
export function parseNiftiHeader(bytes: Uint8Array, what = 'NIfTI data'): NiftiHeader {
  if (bytes.byteLength < HEADER_BYTES) {
    throw new Error(
      `${what}: truncated NIfTI header — got ${bytes.byteLength} bytes, a NIfTI-1 header needs ${HEADER_BYTES}.`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const le = view.getInt32(0, true);
  const be = view.getInt32(0, false);
  let littleEndian: boolean;
  if (le === 348) littleEndian = true;
  else if (be === 348) littleEndian = false;
  else if (le === 540 || be === 540) {
    throw new Error(`${what}: this is a NIfTI-2 file (sizeof_hdr = 540); only NIfTI-1 is supported.`);
  } else {
    throw new Error(
      `${what}: not a NIfTI-1 file — sizeof_hdr is ${le} (little-endian) / ${be} (big-endian), expected 348.`,
    );
  }
  const magicBytes = bytes.subarray(344, 348);
  const magic = String.fromCharCode(...magicBytes.subarray(0, 3));
  if (magic === 'ni1') {
    throw new Error(
      `${what}: header-only NIfTI-1 ('ni1', separate .img file) is not supported; convert to a single .nii/.nii.gz file.`,
    );
  }
  if (magic !== 'n+1' || magicBytes[3] !== 0) {
    throw new Error(
      `${what}: bad NIfTI-1 magic ${JSON.stringify(String.fromCharCode(...magicBytes))} at byte 344, expected "n+1\\0".`,
    );
  }
  const i16 = (o: number): number => view.getInt16(o, littleEndian);
  const f32 = (o: number): number => view.getFloat32(o, littleEndian);
  const ndim = i16(40);
  if (ndim < 1 || ndim > 7) {
    throw new Error(`${what}: invalid dim[0] = ${ndim} (must be 1..7).`);
  }
  const shape: number[] = [];
  const spacing: number[] = [];
  for (let d = 1; d <= ndim; d++) {
    const n = i16(40 + 2 * d);
    if (n < 1) throw new Error(`${what}: invalid dim[${d}] = ${n} (must be ≥ 1).`);
    shape.push(n);
    spacing.push(f32(76 + 4 * d));
  }
  const datatype = i16(70);
  const bitpix = i16(72);
  const dt = DATATYPES.get(datatype);
  if (!dt) {
    throw new Error(
      `${what}: unsupported NIfTI datatype ${datatype}; supported: ${[...DATATYPES.entries()]
        .map(([c, [n]]) => `${c} (${n})`)
        .join(', ')}.`,
    );
  }
  if (bitpix !== dt[1] * 8) {
    throw new Error(`${what}: bitpix ${bitpix} does not match datatype ${datatype} (${dt[0]}, ${dt[1] * 8} bits).`);
  }
  const voxOffset = f32(108);
  if (!Number.isFinite(voxOffset) || voxOffset < 352 || voxOffset !== Math.floor(voxOffset)) {
    throw new Error(`${what}: invalid vox_offset ${voxOffset} (a single-file NIfTI-1 needs an integer ≥ 352).`);
  }
  let descrip = '';
  for (let o = 148; o < 228; o++) {
    const ch = bytes[o] ?? 0;
    if (ch === 0) break;
    descrip += String.fromCharCode(ch);
  }
  return {
    littleEndian,
    ndim,
    shape,
    spacing,
    datatype,
    datatypeName: dt[0],
    bitpix,
    voxOffset,
    sclSlope: f32(112),
    sclInter: f32(116),
    magic,
    descrip,
  };
}

/** True when the bytes start with the gzip magic (1f 8b): a `.nii.gz` that must be gunzipped first. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.byteLength >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/**
 * Decode an uncompressed NIfTI-1 file from bytes. Gunzip a `.nii.gz` first: `decodeNifti` (Node, zlib) or
 * `DecompressionStream('gzip')` in a page.
 */
export function decodeNiftiBytes(bytes: Uint8Array, what = 'NIfTI data'): NiftiVolume {
  if (isGzip(bytes)) {
    throw new Error(
      `${what}: gzip-compressed; gunzip it first (decodeNifti in Node, DecompressionStream('gzip') in a browser).`,
    );
  }
  const header = parseNiftiHeader(bytes, what);
  const nvox = header.shape.reduce((a, b) => a * b, 1);
  const bpv = header.bitpix / 8;
  const need = header.voxOffset + nvox * bpv;
  if (bytes.byteLength < need) {
    throw new Error(
      `${what}: truncated NIfTI data — expected ${need} bytes (vox_offset ${header.voxOffset} + ${nvox} voxels × ${bpv} bytes, ` +
        `shape ${header.shape.join('×')}), got ${bytes.byteLength}.`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset + header.voxOffset, nvox * bpv);
  const le = header.littleEndian;
  const data = new Float64Array(nvox);
  switch (header.datatype) {
    case NIFTI_DT.UINT8:
      for (let i = 0; i < nvox; i++) data[i] = view.getUint8(i);
      break;
    case NIFTI_DT.INT8:
      for (let i = 0; i < nvox; i++) data[i] = view.getInt8(i);
      break;
    case NIFTI_DT.INT16:
      for (let i = 0; i < nvox; i++) data[i] = view.getInt16(2 * i, le);
      break;
    case NIFTI_DT.UINT16:
      for (let i = 0; i < nvox; i++) data[i] = view.getUint16(2 * i, le);
      break;
    case NIFTI_DT.INT32:
      for (let i = 0; i < nvox; i++) data[i] = view.getInt32(4 * i, le);
      break;
    case NIFTI_DT.UINT32:
      for (let i = 0; i < nvox; i++) data[i] = view.getUint32(4 * i, le);
      break;
    case NIFTI_DT.FLOAT32:
      for (let i = 0; i < nvox; i++) data[i] = view.getFloat32(4 * i, le);
      break;
    case NIFTI_DT.FLOAT64:
      for (let i = 0; i < nvox; i++) data[i] = view.getFloat64(8 * i, le);
      break;
    default:
      throw new Error(`${what}: unsupported datatype ${header.datatype}.`); // unreachable: checked in the header
  }
  const slope = header.sclSlope;
  const inter = header.sclInter;
  let scaled = false;
  if (Number.isFinite(slope) && slope !== 0 && (slope !== 1 || (Number.isFinite(inter) && inter !== 0))) {
    const b = Number.isFinite(inter) ? inter : 0;
    for (let i = 0; i < nvox; i++) data[i] = slope * (data[i] as number) + b;
    scaled = true;
  }
  return { header, data, scaled };
}

export interface EncodeNiftiOptions {
  datatype?: number;
  littleEndian?: boolean;
  sclSlope?: number;
  sclInter?: number;
  spacing?: number[];
  voxOffset?: number;
  descrip?: string;
}

/**
 * Write a NIfTI-1 single file (uncompressed bytes; gzip them yourself with `gzipSync` for `.nii.gz`).
 * `values` are the stored (raw, unscaled) values in file order. Used by the tests and for exporting volumes.
 */
export function encodeNifti(values: ArrayLike<number>, shape: number[], opts: EncodeNiftiOptions = {}): Uint8Array {
  const datatype = opts.datatype ?? NIFTI_DT.FLOAT32;
  const dt = DATATYPES.get(datatype);
  if (!dt) throw new Error(`encodeNifti: unsupported datatype ${datatype}.`);
  if (shape.length < 1 || shape.length > 7) throw new Error(`encodeNifti: shape must have 1..7 dims.`);
  const nvox = shape.reduce((a, b) => a * b, 1);
  if (values.length !== nvox) throw new Error(`encodeNifti: ${values.length} values for shape ${shape.join('×')}.`);
  const le = opts.littleEndian ?? true;
  const voxOffset = opts.voxOffset ?? 352;
  const bpv = dt[1];
  const out = new Uint8Array(voxOffset + nvox * bpv);
  const v = new DataView(out.buffer);
  v.setInt32(0, 348, le);
  v.setInt16(40, shape.length, le);
  for (let d = 0; d < 7; d++) v.setInt16(42 + 2 * d, shape[d] ?? 1, le);
  v.setInt16(70, datatype, le);
  v.setInt16(72, bpv * 8, le);
  v.setFloat32(76, 1, le); // pixdim[0] = qfac
  for (let d = 0; d < shape.length; d++) v.setFloat32(80 + 4 * d, opts.spacing?.[d] ?? 1, le);
  v.setFloat32(108, voxOffset, le);
  v.setFloat32(112, opts.sclSlope ?? 1, le);
  v.setFloat32(116, opts.sclInter ?? 0, le);
  const descrip = (opts.descrip ?? 'sizeseg').slice(0, 79);
  for (let i = 0; i < descrip.length; i++) out[148 + i] = descrip.charCodeAt(i) & 0x7f;
  out[344] = 0x6e; // 'n'
  out[345] = 0x2b; // '+'
  out[346] = 0x31; // '1'
  out[347] = 0;
  const base = voxOffset;
  for (let i = 0; i < nvox; i++) {
    const x = values[i] as number;
    switch (datatype) {
      case NIFTI_DT.UINT8:
        v.setUint8(base + i, x);
        break;
      case NIFTI_DT.INT8:
        v.setInt8(base + i, x);
        break;
      case NIFTI_DT.INT16:
        v.setInt16(base + 2 * i, x, le);
        break;
      case NIFTI_DT.UINT16:
        v.setUint16(base + 2 * i, x, le);
        break;
      case NIFTI_DT.INT32:
        v.setInt32(base + 4 * i, x, le);
        break;
      case NIFTI_DT.UINT32:
        v.setUint32(base + 4 * i, x, le);
        break;
      case NIFTI_DT.FLOAT32:
        v.setFloat32(base + 4 * i, x, le);
        break;
      case NIFTI_DT.FLOAT64:
        v.setFloat64(base + 8 * i, x, le);
        break;
    }
  }
  return out;
}

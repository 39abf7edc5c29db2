import { describe, expect, it } from 'vitest';
import { gzipSync } from 'node:zlib';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NIFTI_DT, decodeNifti, encodeNifti, parseNiftiHeader, readNifti } from '../../src/data/nifti.js';

const shape = [3, 4, 2];
const nvox = 24;
const ramp = (k: number): number[] => Array.from({ length: nvox }, (_, i) => (i * k) % 200);

describe('NIfTI-1 reader', () => {
  const cases: [string, number, number[]][] = [
    ['uint8', NIFTI_DT.UINT8, ramp(7)],
    ['int16', NIFTI_DT.INT16, ramp(13).map((v) => v * 37 - 3000)],
    ['int32', NIFTI_DT.INT32, ramp(11).map((v) => v * 100000 - 7)],
    ['float32', NIFTI_DT.FLOAT32, ramp(3).map((v) => Math.fround(v / 7 - 3.25))],
    ['float64', NIFTI_DT.FLOAT64, ramp(5).map((v) => v / 3 - Math.PI)],
  ];
  for (const [name, dt, values] of cases) {
    for (const le of [true, false]) {
      for (const gz of [false, true]) {
        it(`${name}, ${le ? 'little' : 'big'}-endian, ${gz ? 'gzip' : 'raw'}`, () => {
          let bytes = encodeNifti(values, shape, { datatype: dt, littleEndian: le });
          if (gz) bytes = new Uint8Array(gzipSync(bytes));
          const vol = decodeNifti(bytes);
          expect(vol.header.littleEndian).toBe(le);
          expect(vol.header.shape).toEqual(shape);
          expect(vol.header.datatype).toBe(dt);
          expect(vol.header.datatypeName).toBe(name);
          expect(vol.scaled).toBe(false);
          expect(Array.from(vol.data)).toEqual(values);
        });
      }
    }
  }

  it('voxel order is i fastest (Fortran order)', () => {
    const values = Array.from({ length: nvox }, (_, n) => n);
    const vol = decodeNifti(encodeNifti(values, shape, { datatype: NIFTI_DT.INT16 }));
    const [I, J] = shape as [number, number, number];
    // voxel (i=2, j=1, k=1) = 2 + 3·(1 + 4·1) = 17
    expect(vol.data[2 + I * (1 + J * 1)]).toBe(17);
  });

  it('applies scl_slope / scl_inter (both byte orders), and slope 0 means no scaling', () => {
    const values = [0, 1, 2, 3, 250, 255];
    for (const le of [true, false]) {
      const vol = decodeNifti(
        encodeNifti(values, [6], { datatype: NIFTI_DT.UINT8, littleEndian: le, sclSlope: 0.5, sclInter: -10 }),
      );
      expect(vol.scaled).toBe(true);
      expect(Array.from(vol.data)).toEqual(values.map((v) => 0.5 * v - 10));
    }
    const none = decodeNifti(encodeNifti(values, [6], { datatype: NIFTI_DT.UINT8, sclSlope: 0, sclInter: 5 }));
    expect(none.scaled).toBe(false);
    expect(Array.from(none.data)).toEqual(values);
  });

  it('honours vox_offset beyond 352 and reads descrip', () => {
    const values = [5, 6, 7, 8];
    const vol = decodeNifti(
      encodeNifti(values, [2, 2], { datatype: NIFTI_DT.INT32, voxOffset: 400, descrip: 'hello' }),
    );
    expect(vol.header.voxOffset).toBe(400);
    expect(vol.header.descrip).toBe('hello');
    expect(Array.from(vol.data)).toEqual(values);
  });

  it('reads .nii and .nii.gz files from disk', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sizeseg-nifti-'));
    const raw = encodeNifti([1, 2, 3, 4, 5, 6], [1, 2, 3], { datatype: NIFTI_DT.FLOAT32, littleEndian: false });
    writeFileSync(join(dir, 'a.nii'), raw);
    writeFileSync(join(dir, 'a.nii.gz'), gzipSync(raw));
    expect(Array.from(readNifti(join(dir, 'a.nii')).data)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(Array.from(readNifti(join(dir, 'a.nii.gz')).data)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(() => readNifti(join(dir, 'missing.nii.gz'))).toThrow(/missing\.nii\.gz.*cannot read/);
  });

  describe('clear errors', () => {
    const good = encodeNifti(ramp(1), shape, { datatype: NIFTI_DT.INT16 });

    it('bad magic', () => {
      const b = good.slice();
      b[344] = 'x'.charCodeAt(0);
      expect(() => decodeNifti(b, 'f.nii')).toThrow(/f\.nii: bad NIfTI-1 magic/);
    });
    it('not a NIfTI file (sizeof_hdr)', () => {
      const b = new Uint8Array(400).fill(7);
      expect(() => decodeNifti(b)).toThrow(/not a NIfTI-1 file.*expected 348/);
    });
    it('NIfTI-2 is named', () => {
      const b = new Uint8Array(600);
      new DataView(b.buffer).setInt32(0, 540, true);
      expect(() => decodeNifti(b)).toThrow(/NIfTI-2/);
    });
    it('truncated header', () => {
      expect(() => decodeNifti(good.slice(0, 100))).toThrow(/truncated NIfTI header — got 100 bytes/);
    });
    it('truncated data names expected and actual bytes', () => {
      const cut = good.slice(0, good.length - 5);
      expect(() => decodeNifti(cut)).toThrow(new RegExp(`expected ${good.length} bytes.*got ${cut.length}`));
      // and through gzip
      expect(() => decodeNifti(new Uint8Array(gzipSync(cut)))).toThrow(/truncated NIfTI data/);
    });
    it('truncated / corrupt gzip stream', () => {
      const gz = new Uint8Array(gzipSync(good));
      expect(() => decodeNifti(gz.slice(0, gz.length >> 1), 'x.nii.gz')).toThrow(
        /x\.nii\.gz: corrupt or truncated gzip/,
      );
      const bad = gz.slice();
      for (let i = 12; i < 40; i++) bad[i] = 0xff;
      expect(() => decodeNifti(bad)).toThrow(/corrupt or truncated gzip/);
    });
    it('unsupported datatype and inconsistent bitpix', () => {
      const b = good.slice();
      new DataView(b.buffer).setInt16(70, 32, true); // complex64
      expect(() => decodeNifti(b)).toThrow(/unsupported NIfTI datatype 32/);
      const c = good.slice();
      new DataView(c.buffer).setInt16(72, 8, true);
      expect(() => decodeNifti(c)).toThrow(/bitpix 8 does not match/);
    });
    it('invalid dims and vox_offset', () => {
      const b = good.slice();
      new DataView(b.buffer).setInt16(40, 9, true);
      expect(() => parseNiftiHeader(b)).toThrow(/invalid dim\[0\] = 9/);
      const c = good.slice();
      new DataView(c.buffer).setFloat32(108, 100, true);
      expect(() => parseNiftiHeader(c)).toThrow(/invalid vox_offset 100/);
      const d = good.slice();
      new DataView(d.buffer).setInt16(44, 0, true);
      expect(() => parseNiftiHeader(d)).toThrow(/invalid dim\[2\] = 0/);
    });
    it('header-only ni1 files are refused with a hint', () => {
      const b = good.slice();
      b[345] = 'i'.charCodeAt(0);
      expect(() => decodeNifti(b)).toThrow(/ni1/);
    });
  });
});

/**
 * Test helpers for the download path: a small tar writer (ustar, with pax headers for long paths), a
 * Task04-layout folder of tiny NIfTI volumes, and an HTTP server on 127.0.0.1 that serves bytes with
 * Range support and can misbehave on request (drop the connection, stall, redirect, 404).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { NIFTI_DT, encodeNifti } from '../../src/data/nifti.js';

export interface TarInput {
  path: string;
  body?: Uint8Array;
  /** '0' file (default), '5' folder, '2' symlink, '1' hard link. */
  type?: '0' | '5' | '2' | '1';
  linkpath?: string;
}

function header(name: string, size: number, type: string, linkpath = ''): Buffer {
  const h = Buffer.alloc(512);
  h.write(name.slice(0, 100), 0, 'utf8');
  h.write('0000644\0', 100, 'latin1');
  h.write('0000000\0', 108, 'latin1');
  h.write('0000000\0', 116, 'latin1');
  h.write(`${size.toString(8).padStart(11, '0')}\0`, 124, 'latin1');
  h.write(`${(1_700_000_000).toString(8).padStart(11, '0')}\0`, 136, 'latin1');
  h.write('        ', 148, 'latin1');
  h.write(type, 156, 'latin1');
  h.write(linkpath.slice(0, 100), 157, 'utf8');
  h.write('ustar\0', 257, 'latin1');
  h.write('00', 263, 'latin1');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return h;
}

function padded(body: Uint8Array): Buffer[] {
  const pad = (512 - (body.length % 512)) % 512;
  return [Buffer.from(body), Buffer.alloc(pad)];
}

/** A pax record `"<len> key=value\n"`, whose length counts itself. */
function paxRecord(key: string, value: string): string {
  const rest = ` ${key}=${value}\n`;
  const restLength = Buffer.byteLength(rest);
  let len = restLength + 1;
  while (String(len).length + restLength !== len) len++;
  return `${len}${rest}`;
}

/** A tar archive of `entries`, in order; paths over 100 bytes get a pax `path` header, as GNU/bsdtar write. */
export function packTar(entries: readonly TarInput[]): Buffer {
  const out: Buffer[] = [];
  for (const e of entries) {
    const type = e.type ?? '0';
    const body = type === '0' ? (e.body ?? new Uint8Array()) : new Uint8Array();
    if (Buffer.byteLength(e.path) > 100) {
      const pax = Buffer.from(paxRecord('path', e.path), 'utf8');
      out.push(header('PaxHeader/long', pax.length, 'x'), ...padded(pax));
    }
    out.push(header(e.path, body.length, type, e.linkpath), ...padded(body));
  }
  out.push(Buffer.alloc(1024));
  return Buffer.concat(out);
}

/** Every file below `dir` as tar entries under `prefix/`, sorted by path (folders first). */
export function folderEntries(dir: string, prefix: string): TarInput[] {
  const out: TarInput[] = [{ path: `${prefix}/`, type: '5' }];
  for (const name of readdirSync(dir).sort()) {
    const full = join(dir, name);
    if (statSync(full).isDirectory()) out.push(...folderEntries(full, `${prefix}/${name}`));
    else out.push({ path: `${prefix}/${name}`, body: readFileSync(full) });
  }
  return out;
}

/**
 * A Task04-layout folder of `volumes` tiny volumes (32×48×4 after crop/pad: sizes vary so crop and pad both
 * occur; 2 of 4 slices per volume keep enough foreground), plus dataset.json.
 */
export function writeTinyTask04(dir: string, volumes = 12): void {
  mkdirSync(join(dir, 'imagesTr'), { recursive: true });
  mkdirSync(join(dir, 'labelsTr'), { recursive: true });
  for (let v = 1; v <= volumes; v++) {
    const I = 30 + (v % 5);
    const J = 45 + (v % 7);
    const K = 4;
    const img: number[] = [];
    const lab: number[] = [];
    for (let k = 0; k < K; k++) {
      for (let j = 0; j < J; j++) {
        for (let i = 0; i < I; i++) {
          const inside = k % 2 === 0 && j >= 15 + (v % 4) && j < 27 + k && i >= 8 && i < 16 + (v % 3);
          img.push(((i * 3 + j * 5 + k * 7 + v) % 97) * 0.5 + (inside ? 40 : 0));
          lab.push(inside ? (j < 20 ? 1 : 2) : 0);
        }
      }
    }
    const id = `hippocampus_${String(v).padStart(3, '0')}`;
    writeFileSync(
      join(dir, 'imagesTr', `${id}.nii.gz`),
      gzipSync(encodeNifti(img, [I, J, K], { datatype: NIFTI_DT.FLOAT32 })),
    );
    writeFileSync(
      join(dir, 'labelsTr', `${id}.nii.gz`),
      gzipSync(encodeNifti(lab, [I, J, K], { datatype: NIFTI_DT.UINT8 })),
    );
  }
  writeFileSync(
    join(dir, 'dataset.json'),
    `${JSON.stringify({ name: 'Hippocampus (test copy)', numTraining: volumes })}\n`,
  );
}

export interface ServeOptions {
  /** The first GET (only) sends this many body bytes, then destroys the socket. */
  dropFirstAfter?: number;
  /** Every GET sends this many body bytes, then stops sending and keeps the socket open. */
  stallAfter?: number;
  /** Honour `Range` (default true). */
  ranges?: boolean;
  etag?: string;
}

export interface TestServer {
  url: string;
  /** Every request's path and headers, in order. */
  requests: { path: string; range: string | undefined; ifRange: string | undefined }[];
  /** Extra routes: path → handler (checked before the archive route). */
  routes: Map<string, (req: IncomingMessage, res: ServerResponse) => void>;
  close: () => Promise<void>;
}

/** Serve `bytes` at `/archive.tar` (and `routes`) from 127.0.0.1 on a free port. */
export async function serveArchive(bytes: Uint8Array, opts: ServeOptions = {}): Promise<TestServer> {
  const requests: TestServer['requests'] = [];
  const routes: TestServer['routes'] = new Map();
  let gets = 0;
  const server = createServer((req, res) => {
    const path = req.url ?? '/';
    requests.push({ path, range: req.headers.range, ifRange: req.headers['if-range'] as string | undefined });
    const route = routes.get(path);
    if (route) return route(req, res);
    if (path !== '/archive.tar') {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
      return;
    }
    gets++;
    let start = 0;
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const etag = opts.etag ?? '"v1"';
    const validatorOk = req.headers['if-range'] === undefined || req.headers['if-range'] === etag;
    if (range && (opts.ranges ?? true) && validatorOk) {
      start = Number(range[1]);
      if (start >= bytes.length) {
        res.writeHead(416, { 'content-range': `bytes */${bytes.length}` });
        res.end();
        return;
      }
      res.writeHead(206, {
        'content-length': bytes.length - start,
        'content-range': `bytes ${start}-${bytes.length - 1}/${bytes.length}`,
        etag,
        'accept-ranges': 'bytes',
      });
    } else {
      res.writeHead(200, { 'content-length': bytes.length, etag, 'accept-ranges': 'bytes' });
    }
    const body = Buffer.from(bytes.subarray(start));
    if (opts.dropFirstAfter !== undefined && gets === 1) {
      res.write(body.subarray(0, opts.dropFirstAfter), () => setTimeout(() => res.socket?.destroy(), 20));
      return;
    }
    if (opts.stallAfter !== undefined) {
      res.write(body.subarray(0, opts.stallAfter)); // then nothing: the client's idle timeout must fire
      return;
    }
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    routes,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

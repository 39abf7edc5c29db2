/**
 * `npm run web`: builds the page and serves it on 127.0.0.1 (default port 8080, the next free one if taken),
 * with the cross-origin isolation headers (COOP/COEP) that let a page use SharedArrayBuffer.
 * Options: --port N, --no-build (serve the existing web/dist), --dir DIR.
 */
import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildWeb, describeBuild } from './build.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
  '.json': 'application/json',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.gz': 'application/gzip',
};

/**
 * A static file server for `dir` on 127.0.0.1:`port` (0 = any free port). Resolves once listening.
 * `isolate: false` leaves out COOP/COEP, as a plain static host would (the tests use it).
 */
export function serveStatic(
  dir: string,
  port = 0,
  opts: { isolate?: boolean } = {},
): Promise<{ server: Server; url: string }> {
  const isolate = opts.isolate ?? true;
  const root = resolve(dir);
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname);
    const file = normalize(join(root, path.endsWith('/') ? `${path}index.html` : path));
    const headers: Record<string, string> = { 'Cache-Control': 'no-cache' };
    if (isolate) {
      headers['Cross-Origin-Opener-Policy'] = 'same-origin';
      headers['Cross-Origin-Embedder-Policy'] = 'require-corp';
    }
    if ((file !== root && !file.startsWith(root + sep)) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404, { ...headers, 'Content-Type': 'text/plain' });
      res.end('not found');
      return;
    }
    res.writeHead(200, { ...headers, 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream' });
    createReadStream(file).pipe(res);
  });
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', fail);
      ok({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/` });
    });
  });
}

const HELP = `Usage: npm run web [-- --port N] [--no-build] [--dir DIR]

Builds the interactive page (as npm run build:web does) and serves it on http://127.0.0.1:PORT/ with the
cross-origin isolation headers (COOP/COEP) that let its training worker use several threads.

  --port N      the port (default 8080, or $PORT; the next free one if it is taken)
  --no-build    serve the folder as it is, without building it first
  --dir DIR     the folder to build into and serve (default web/dist)
  -h, --help    this help; builds and serves nothing`;

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  if (args.includes('--help') || args.includes('-h')) {
    console.log(HELP);
    process.exit(0);
  }
  const value = (name: string): string | undefined => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const here = fileURLToPath(new URL('.', import.meta.url));
  let dir = value('--dir') ?? join(here, 'dist');
  if (!args.includes('--no-build')) {
    const b = await buildWeb(dir);
    dir = b.outDir;
    console.log(`built ${describeBuild(b)}`);
  }
  const wanted = Number(value('--port') ?? process.env['PORT'] ?? 8080);
  let served: { url: string };
  try {
    served = await serveStatic(dir, wanted);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw e;
    served = await serveStatic(dir, 0);
    console.log(`port ${wanted} is taken; using another one`);
  }
  console.log(`sizeseg page: ${served.url}  (open it in a browser; Ctrl-C stops the server)`);
}

/**
 * Ctrl-C says truthfully what exists: in the first epoch no checkpoint has been written, so there is nothing
 * to resume and the message must not promise it; and an interrupted run exits 130 (SIGINT) so that a
 * script can tell it from a finished one.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const out = mkdtempSync(join(tmpdir(), 'sizeseg-interrupt-'));

describe('Ctrl-C', () => {
  it('in the first epoch: exit 130, "nothing to resume", no --resume promised, the name free with --overwrite', async () => {
    const args = [
      '--import',
      'tsx',
      'src/cli/main.ts',
      'pretrain',
      '--data',
      'synthetic',
      '--count',
      '120',
      '--widths',
      '2,4',
      '--batch',
      '8',
      '--m',
      '8',
      '--epochs',
      '50',
      '--out',
      out,
      '--name',
      'early',
    ];
    const child = spawn(process.execPath, args, { env: { ...process.env, SIZESEG_THREADS: '1' } });
    let stderr = '';
    let sent = false;
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      // the note printed as training starts (the signal handler is installed before it)
      if (!sent && stderr.includes('once its first epoch is saved')) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    const code = await new Promise<number | null>((done) => child.on('exit', (c) => done(c)));
    expect(sent).toBe(true);
    expect(code).toBe(130);
    expect(stderr).toMatch(
      /stopped by Ctrl-C during the first epoch, before any checkpoint was written: no weights were kept and there is nothing to resume\. Start again with the same flags and --overwrite/,
    );
    expect(stderr).not.toMatch(/best weights so far were kept|Continue with/);
    expect(existsSync(join(out, 'early', 'last.ckpt'))).toBe(false);
    expect(existsSync(join(out, 'early', '.lock'))).toBe(false);
    const again = spawnSync(process.execPath, [...args.map((a) => (a === '50' ? '1' : a)), '--overwrite', '--quiet'], {
      encoding: 'utf8',
      env: { ...process.env, SIZESEG_THREADS: '1' },
    });
    expect(again.stderr).toBe('');
    expect(again.status).toBe(0);
  });
});

/**
 * Running a Python peer (PyTorch's CPU build) from a bench: the script prints one JSON line on stdout;
 * this returns it, or a reason why there is none. Never throws: a machine without the interpreter, torch
 * or ../shared gets null numbers and the reason in the results.
 *
 * Debian: apt-get install -y python3-torch (the benches call /usr/bin/python3, whose torch that is).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export const PYTHON = '/usr/bin/python3';

/**
 * glibc's allocator settings of a process that keeps its freed blocks: with its defaults, PyTorch hands
 * the megabytes of a step's tensors back to the system and maps them afresh, page faults included.
 * Measured here: W1 73–82 ms with these settings against 155–168 ms without, in alternating runs (a
 * single 16→16 convolution: 220–240 GFLOP/s against 10–35). Allocator tuning of this kind (or jemalloc,
 * tcmalloc) is the usual advice for PyTorch on CPUs, so the benches report the peer both ways.
 */
export const KEEP_FREED_MEMORY: Record<string, string> = {
  MALLOC_MMAP_THRESHOLD_: '4294967296',
  MALLOC_TRIM_THRESHOLD_: '4294967296',
};

export type PeerRun =
  | { ok: true; json: Record<string, unknown>; seconds: number }
  | { ok: false; reason: string; seconds: number };

export function runPythonPeer(
  script: string,
  args: string[],
  env: Record<string, string> = {},
  python = PYTHON,
): PeerRun {
  const t0 = performance.now();
  const seconds = () => Math.round(performance.now() - t0) / 1000;
  const none = (reason: string): PeerRun => ({ ok: false, reason, seconds: seconds() });
  if (!existsSync(script)) return none(`${script} not found (no ../shared next to the repository)`);
  if (!existsSync(python)) return none(`${python} not found`);
  const r = spawnSync(python, [script, ...args], {
    encoding: 'utf8',
    timeout: 600_000,
    env: { ...process.env, ...env },
  });
  if (r.error !== undefined) return none(`could not run the peer: ${r.error.message}`);
  if (r.status !== 0) {
    const err = (r.stderr ?? '').trim().split('\n').slice(-1)[0] ?? '';
    const hint = /No module named 'torch'/.test(r.stderr ?? '') ? ' (apt-get install -y python3-torch)' : '';
    return none(`peer exited with ${r.status ?? r.signal}: ${err}${hint}`);
  }
  const line = (r.stdout ?? '')
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .pop();
  try {
    return { ok: true, json: JSON.parse(line ?? '') as Record<string, unknown>, seconds: seconds() };
  } catch {
    return none(`unparsable peer output: ${(r.stdout ?? '').slice(0, 200)}`);
  }
}

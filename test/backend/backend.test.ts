/** Backend selection: unknown names, SIZESEG_BACKEND validation, and disposal (a disposed device is never handed back). */
import { describe, expect, it } from 'vitest';
import {
  backendFromEnv,
  disposeBackends,
  getBackend,
  registerBackendFactory,
  setBackend,
  type Backend,
} from '../../src/backend.js';

function fakeBackend(log: string[]): Backend {
  let open = false;
  return {
    name: 'fake',
    init: async () => {
      open = true;
      log.push('init');
    },
    upload: (t) => {
      if (!open) throw new Error('upload on a disposed backend');
      return t;
    },
    info: () => ({ backend: 'fake', open }),
    dispose: () => {
      open = false;
      log.push('dispose');
    },
  };
}

describe('backend selection', () => {
  it('unknown backends and bad SIZESEG_BACKEND values are clear errors', async () => {
    await expect(setBackend('tpu')).rejects.toThrow(/unknown backend 'tpu'; choose one of: cpu/);
    expect(() => backendFromEnv({ SIZESEG_BACKEND: 'tpu' })).toThrow(/SIZESEG_BACKEND='tpu' is not a backend/);
    expect(backendFromEnv({})).toBe('cpu');
  });

  it('disposeBackends forgets opened devices: the next setBackend opens a fresh one, and the current backend is cpu again', async () => {
    const log: string[] = [];
    let made = 0;
    registerBackendFactory('fake', async () => {
      made++;
      return fakeBackend(log);
    });
    const first = await setBackend('fake');
    expect(getBackend()).toBe('fake');
    disposeBackends();
    expect(getBackend()).toBe('cpu');
    const second = await setBackend('fake');
    expect(second).not.toBe(first);
    expect(made).toBe(2);
    expect(log).toEqual(['init', 'dispose', 'init']);
    expect(second.info()).toMatchObject({ open: true });
    disposeBackends();
  });
});

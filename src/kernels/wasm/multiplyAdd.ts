/**
 * Whether the generated kernels' inner products use fused multiply-adds (relaxed SIMD's `f32x4.relaxed_madd`)
 * or a multiplication and an addition (plain SIMD, what every release before this one computed).
 *
 * Why: the convolutions spend their time in `acc += w·x` on four lanes. Plain SIMD has no fused multiply-add,
 * so each step is two instructions on the core's two floating-point ports; `relaxed_madd` makes it one where
 * the hardware has FMA (every x86-64 core since 2013, every ARM64 core), which halves the inner loops' work.
 *
 * Bits: a fused multiply-add rounds once where the pair rounds twice, so the two modes give different bits
 * (both inside the float64 references' bounds: one rounding fewer per term). The relaxed instruction may fuse
 * or not as the machine likes, but one engine on one machine always does the same, so results stay identical
 * for any thread count; V8 fuses on x86-64 with FMA3 and on ARM64.
 *
 * - `'auto'` (the default): fused where the engine runs relaxed SIMD (Chromium ≥ 114, Node ≥ 22; Node 20
 *   once sizeseg's Node entry has turned on V8's flag, nodeRelaxedSimd.ts), separate elsewhere.
 * - `'on'`: fused; an error where the engine lacks relaxed SIMD.
 * - `'off'`: separate multiplications and additions everywhere (the bits of earlier releases).
 *
 * `SIZESEG_FMA=auto|on|off` sets it at start-up, `setFusedMultiplyAdd` at run time (kernels generated
 * before keep theirs: the module cache keys carry the mode).
 */
import { f32x4, ModuleBuilder, v128, type Expr } from './emitter.js';
import { choiceFromEnv, parseChoice } from './envChoice.js';

export type FusedMultiplyAddMode = 'auto' | 'on' | 'off';
const MODES: readonly FusedMultiplyAddMode[] = ['auto', 'on', 'off'];

let relaxedSupport: boolean | null = null;

/** True when this engine compiles relaxed SIMD (checked once, by validating a tiny module). */
export function relaxedSimdAvailable(): boolean {
  if (relaxedSupport === null) {
    try {
      const m = new ModuleBuilder({ module: 'env', name: 'memory', initial: 1, maximum: 1, shared: false });
      m.function('probe', [['p', 'i32']], (f, p) => {
        const v = f.local('v128');
        f.set(v, f32x4.relaxed_madd(v128.load(p!), v128.load(p!), v128.load(p!)));
      });
      relaxedSupport = typeof WebAssembly === 'object' && WebAssembly.validate(m.bytes());
    } catch {
      relaxedSupport = false;
    }
  }
  return relaxedSupport;
}

/** The mode a SIZESEG_FMA value names ('auto' when unset or empty); a clear error otherwise. */
export function parseFusedMultiplyAdd(value: string | undefined): FusedMultiplyAddMode {
  return parseChoice('SIZESEG_FMA', value, MODES);
}

let mode: FusedMultiplyAddMode | null = null;
let fused: boolean | null = null;

const NOT_AVAILABLE =
  'this engine does not run relaxed SIMD (Chromium ≥ 114 and Node ≥ 22 do; on Node 20 import sizeseg through its Node entry, which turns the flag on, or run node --experimental-wasm-relaxed-simd)';

/** The fused multiply-add mode of the 'wasm' kernels (see the top of this file). */
export function getFusedMultiplyAdd(): FusedMultiplyAddMode {
  return (mode ??= choiceFromEnv('SIZESEG_FMA', MODES));
}

export function setFusedMultiplyAdd(m: FusedMultiplyAddMode): void {
  if (!(MODES as readonly string[]).includes(m)) {
    throw new Error(`setFusedMultiplyAdd: expected one of ${MODES.join(', ')}, got ${String(m)}`);
  }
  if (m === 'on' && !relaxedSimdAvailable()) throw new Error(`setFusedMultiplyAdd('on'): ${NOT_AVAILABLE}.`);
  mode = m;
  fused = null;
}

/** Whether kernels generated now use fused multiply-adds. */
export function fusedMultiplyAddActive(): boolean {
  if (fused === null) {
    const m = getFusedMultiplyAdd();
    if (m === 'on' && !relaxedSimdAvailable()) throw new Error(`SIZESEG_FMA=on: ${NOT_AVAILABLE}.`);
    fused = m === 'on' || (m === 'auto' && relaxedSimdAvailable());
  }
  return fused;
}

/** acc + a·b on four lanes: one fused multiply-add or a multiplication and an addition (the mode above). */
export function mulAdd(a: Expr, b: Expr, acc: Expr): Expr {
  return fusedMultiplyAddActive() ? f32x4.relaxed_madd(a, b, acc) : f32x4.add(acc, f32x4.mul(a, b));
}

/**
 * A small WebAssembly emitter: TypeScript that writes the bytes of a module, with no toolchain, no
 * build step and nothing downloaded. Kernels (see `convKernels.ts`) are generated at run time for one
 * shape, with its sizes and strides baked in as constants, and cached.
 *
 * Code is written as expressions that read like C with intrinsics:
 *
 *   f.set(acc, f32x4.add(acc, f32x4.mul(w, v128.load32_splat(xp, 16))));
 *   f.forRange(i, 0, n, 1, () => { ... });
 *
 * An expression is a tree; emitting it writes its operands first (WebAssembly is a stack machine), so
 * the tree is the only notation a reader needs. Only the instructions the kernels use are here.
 * Encoding: the WebAssembly core binary format (module preamble, sections 1/2/3/7/10) and the SIMD
 * opcodes (prefix 0xFD, LEB128 sub-opcode).
 */

export type ValType = 'i32' | 'f32' | 'f64' | 'v128';

const VALTYPE_CODE: Record<ValType, number> = { i32: 0x7f, f32: 0x7d, f64: 0x7c, v128: 0x7b };

/** Something that pushes one value (or, for statements, nothing) when emitted. */
export interface Expr {
  readonly type: ValType | 'void';
  emit(out: number[]): void;
}

/** A local variable (parameters are locals too); reading it is an expression. */
export class Local implements Expr {
  constructor(readonly index: number, readonly type: ValType, readonly name: string) {}
  emit(out: number[]): void {
    out.push(0x20);
    uleb(out, this.index);
  }
}

// ------------------------------------------------------------------------------------------------
// LEB128 and small encoders

export function uleb(out: number[], v: number): void {
  if (!Number.isInteger(v) || v < 0) throw new Error(`uleb: ${v} is not a non-negative integer`);
  do {
    let b = v & 0x7f;
    v = Math.floor(v / 128);
    if (v !== 0) b |= 0x80;
    out.push(b);
  } while (v !== 0);
}

export function sleb(out: number[], v: number): void {
  if (!Number.isInteger(v)) throw new Error(`sleb: ${v} is not an integer`);
  for (;;) {
    const b = v & 0x7f;
    v = Math.floor(v / 128);
    const done = (v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0);
    out.push(done ? b : b | 0x80);
    if (done) return;
  }
}

function name(out: number[], s: string): void {
  const bytes = new TextEncoder().encode(s);
  uleb(out, bytes.length);
  for (const b of bytes) out.push(b);
}

function section(out: number[], id: number, body: number[]): void {
  out.push(id);
  uleb(out, body.length);
  for (const b of body) out.push(b);
}

// ------------------------------------------------------------------------------------------------
// Expression constructors

function node(type: ValType | 'void', operands: readonly Expr[], opcode: readonly number[], imm?: (out: number[]) => void): Expr {
  return {
    type,
    emit(out) {
      for (const o of operands) o.emit(out);
      for (const b of opcode) out.push(b);
      imm?.(out);
    },
  };
}

function check(what: string, e: Expr, type: ValType): void {
  if (e.type !== type) throw new Error(`${what}: operand of type ${e.type}, expected ${type}`);
}

function binary(type: ValType, opcode: readonly number[], what: string) {
  return (a: Expr, b: Expr): Expr => {
    check(what, a, type);
    check(what, b, type);
    return node(type, [a, b], opcode);
  };
}

/** SIMD opcode bytes: 0xFD then the LEB128 sub-opcode. */
function simd(op: number): number[] {
  const out = [0xfd];
  uleb(out, op);
  return out;
}

/** memarg: alignment exponent and byte offset (a constant folded into the address computation). */
function memarg(alignLog2: number, offset: number) {
  return (out: number[]) => {
    uleb(out, alignLog2);
    uleb(out, offset);
  };
}

function load(type: ValType, opcode: readonly number[], alignLog2: number, what: string) {
  return (addr: Expr, offset = 0): Expr => {
    check(what, addr, 'i32');
    return node(type, [addr], opcode, memarg(alignLog2, offset));
  };
}

function store(type: ValType, opcode: readonly number[], alignLog2: number, what: string) {
  return (addr: Expr, value: Expr, offset = 0): Expr => {
    check(what, addr, 'i32');
    check(what, value, type);
    return node('void', [addr, value], opcode, memarg(alignLog2, offset));
  };
}

export const i32 = {
  const: (v: number): Expr => node('i32', [], [0x41], (out) => sleb(out, v | 0)),
  add: binary('i32', [0x6a], 'i32.add'),
  sub: binary('i32', [0x6b], 'i32.sub'),
  mul: binary('i32', [0x6c], 'i32.mul'),
  div_u: binary('i32', [0x6e], 'i32.div_u'),
  rem_u: binary('i32', [0x70], 'i32.rem_u'),
  and: binary('i32', [0x71], 'i32.and'),
  shl: binary('i32', [0x74], 'i32.shl'),
  eq: binary('i32', [0x46], 'i32.eq'),
  ne: binary('i32', [0x47], 'i32.ne'),
  lt_s: binary('i32', [0x48], 'i32.lt_s'),
  gt_s: binary('i32', [0x4a], 'i32.gt_s'),
  le_s: binary('i32', [0x4c], 'i32.le_s'),
  ge_s: binary('i32', [0x4e], 'i32.ge_s'),
  load: load('i32', [0x28], 2, 'i32.load'),
  /** Atomically adds `value` to the i32 at addr (+offset) and yields the old value (threads proposal). */
  atomic_rmw_add: (addr: Expr, value: Expr, offset = 0): Expr => {
    check('i32.atomic.rmw.add', addr, 'i32');
    check('i32.atomic.rmw.add', value, 'i32');
    return node('i32', [addr, value], [0xfe, 0x1e], memarg(2, offset));
  },
  /** One unsigned byte, zero-extended. */
  load8_u: load('i32', [0x2d], 0, 'i32.load8_u'),
  store: store('i32', [0x36], 2, 'i32.store'),
};

export const i32x4 = {
  splat: (v: Expr): Expr => {
    check('i32x4.splat', v, 'i32');
    return node('v128', [v], simd(0x11));
  },
  replace_lane: (v: Expr, lane: number, x: Expr): Expr => {
    check('i32x4.replace_lane', v, 'v128');
    check('i32x4.replace_lane', x, 'i32');
    return node('v128', [v, x], simd(0x1c), (out) => out.push(lane));
  },
  add: binary('v128', simd(0xae), 'i32x4.add'),
  /** Lane-wise 0 − x (so 1 becomes all ones). */
  neg: (v: Expr): Expr => node('v128', [v], simd(0xa1)),
  min_s: binary('v128', simd(0xb6), 'i32x4.min_s'),
  max_s: binary('v128', simd(0xb8), 'i32x4.max_s'),
  /** Lane-wise a ≥ b (signed) as an all-ones / all-zeros mask. */
  ge_s: binary('v128', simd(0x3f), 'i32x4.ge_s'),
};

export const f32 = {
  const: (v: number): Expr =>
    node('f32', [], [0x43], (out) => {
      const b = new Uint8Array(new Float32Array([v]).buffer);
      for (const x of b) out.push(x);
    }),
  add: binary('f32', [0x92], 'f32.add'),
  sub: binary('f32', [0x93], 'f32.sub'),
  mul: binary('f32', [0x94], 'f32.mul'),
  max: binary('f32', [0x97], 'f32.max'),
  load: load('f32', [0x2a], 2, 'f32.load'),
  store: store('f32', [0x38], 2, 'f32.store'),
  /** f64 → f32, rounding to nearest. */
  demote: (v: Expr): Expr => {
    check('f32.demote_f64', v, 'f64');
    return node('f32', [v], [0xb6]);
  },
  /** Lane-wise a > b as 1 or 0 (i32). */
  gt: (a: Expr, b: Expr): Expr => {
    check('f32.gt', a, 'f32');
    check('f32.gt', b, 'f32');
    return node('i32', [a, b], [0x5e]);
  },
  /** cond ? a : b */
  select: (a: Expr, b: Expr, cond: Expr): Expr => {
    check('select', a, 'f32');
    check('select', b, 'f32');
    check('select', cond, 'i32');
    return node('f32', [a, b, cond], [0x1b]);
  },
};

export const f64 = {
  const: (v: number): Expr =>
    node('f64', [], [0x44], (out) => {
      const b = new Uint8Array(new Float64Array([v]).buffer);
      for (const x of b) out.push(x);
    }),
  add: binary('f64', [0xa0], 'f64.add'),
  sub: binary('f64', [0xa1], 'f64.sub'),
  mul: binary('f64', [0xa2], 'f64.mul'),
  div: binary('f64', [0xa3], 'f64.div'),
  sqrt: (v: Expr): Expr => node('f64', [v], [0x9f]),
  load: load('f64', [0x2b], 3, 'f64.load'),
  store: store('f64', [0x39], 3, 'f64.store'),
  /** f32 → f64 (exact). */
  promote: (v: Expr): Expr => {
    check('f64.promote_f32', v, 'f32');
    return node('f64', [v], [0xbb]);
  },
};

export const v128 = {
  /** All-zero vector. */
  zero: (): Expr => node('v128', [], simd(0x0c), (out) => { for (let i = 0; i < 16; i++) out.push(0); }),
  load: load('v128', simd(0x00), 0, 'v128.load'),
  /** Loads one f32 (or i32) and repeats it in all four lanes. */
  load32_splat: load('v128', simd(0x09), 2, 'v128.load32_splat'),
  store: store('v128', simd(0x0b), 0, 'v128.store'),
  /** Loads 64 bits into lane 0 (as i64x2), zeroing lane 1: two f32 values in f32x4 lanes 0 and 1. */
  load64_zero: load('v128', simd(0x5d), 3, 'v128.load64_zero'),
  /** Stores the low 64 bits (lanes 0–1 of an f32x4). */
  store64_lane0: (addr: Expr, value: Expr, offset = 0): Expr => {
    check('v128.store64_lane', addr, 'i32');
    check('v128.store64_lane', value, 'v128');
    return node('void', [addr, value], simd(0x5b), (out) => {
      memarg(3, offset)(out);
      out.push(0);
    });
  },
  and: binary('v128', simd(0x4e), 'v128.and'),
  /**
   * i8x16.shuffle viewed on 32-bit lanes: result lane i = lane `lanes[i]` of a‖b (0–3 from a, 4–7 from b).
   */
  shuffle32: (a: Expr, b: Expr, lanes: readonly [number, number, number, number]): Expr => {
    check('i8x16.shuffle', a, 'v128');
    check('i8x16.shuffle', b, 'v128');
    return node('v128', [a, b], simd(0x0d), (out) => {
      for (const l of lanes) for (let k = 0; k < 4; k++) out.push(4 * l + k);
    });
  },
  bitselect: (a: Expr, b: Expr, mask: Expr): Expr => node('v128', [a, b, mask], simd(0x52)),
};

export const f64x2 = {
  splat: (v: Expr): Expr => {
    check('f64x2.splat', v, 'f64');
    return node('v128', [v], simd(0x14));
  },
  /** Lanes 0 and 1 of an f32x4, exactly, as an f64x2. */
  promote_low_f32x4: (v: Expr): Expr => node('v128', [v], simd(0x5f)),
  /** f64x2 → f32x4 lanes 0 and 1 (rounded to nearest), lanes 2 and 3 zero. */
  demote_to_f32x4_zero: (v: Expr): Expr => node('v128', [v], simd(0x5e)),
  add: binary('v128', simd(0xf0), 'f64x2.add'),
  sub: binary('v128', simd(0xf1), 'f64x2.sub'),
  mul: binary('v128', simd(0xf2), 'f64x2.mul'),
  div: binary('v128', simd(0xf3), 'f64x2.div'),
  sqrt: (v: Expr): Expr => node('v128', [v], simd(0xef)),
};

export const f32x4 = {
  splat: (v: Expr): Expr => {
    check('f32x4.splat', v, 'f32');
    return node('v128', [v], simd(0x13));
  },
  extract_lane: (v: Expr, lane: number): Expr => {
    check('f32x4.extract_lane', v, 'v128');
    return node('f32', [v], simd(0x1f), (out) => out.push(lane));
  },
  add: binary('v128', simd(0xe4), 'f32x4.add'),
  sub: binary('v128', simd(0xe5), 'f32x4.sub'),
  mul: binary('v128', simd(0xe6), 'f32x4.mul'),
  div: binary('v128', simd(0xe7), 'f32x4.div'),
  min: binary('v128', simd(0xe8), 'f32x4.min'),
  max: binary('v128', simd(0xe9), 'f32x4.max'),
  /** Lane-wise a > b as an all-ones / all-zeros mask. */
  gt: binary('v128', simd(0x44), 'f32x4.gt'),
  /** Signed 32-bit integer lanes to float. */
  convert_i32x4_s: (v: Expr): Expr => node('v128', [v], simd(0xfa)),
  sqrt: (v: Expr): Expr => node('v128', [v], simd(0xe3)),
  /**
   * a·b + c from the relaxed-SIMD proposal: one fused multiply-add (one rounding) where the hardware has FMA,
   * else a multiplication and an addition (two). Which one is fixed per engine and machine, so a kernel still
   * gives the same bits for any thread count there; engines without relaxed SIMD reject the module.
   */
  relaxed_madd: (a: Expr, b: Expr, c: Expr): Expr => {
    check('f32x4.relaxed_madd', a, 'v128');
    check('f32x4.relaxed_madd', b, 'v128');
    check('f32x4.relaxed_madd', c, 'v128');
    return node('v128', [a, b, c], simd(0x105));
  },
  /** Sum of the four lanes, in float64 (lanes promoted exactly, added in lane order). */
  sumLanesF64: (v: Local): Expr =>
    f64.add(f64.add(f64.add(f64.promote(f32x4.extract_lane(v, 0)), f64.promote(f32x4.extract_lane(v, 1))),
      f64.promote(f32x4.extract_lane(v, 2))), f64.promote(f32x4.extract_lane(v, 3))),
};

// ------------------------------------------------------------------------------------------------
// Functions and modules

/** Builds one function body: declare locals, then append statements. */
export class FunctionBuilder {
  readonly params: Local[];
  private readonly extraLocals: Local[] = [];
  private readonly code: number[] = [];
  private depth = 0;

  constructor(readonly name: string, paramTypes: readonly ValType[], paramNames: readonly string[] = []) {
    this.params = paramTypes.map((t, i) => new Local(i, t, paramNames[i] ?? `p${i}`));
  }

  /** A new local of type `type` (initialised to zero, as WebAssembly does). */
  local(type: ValType, name = `l${this.params.length + this.extraLocals.length}`): Local {
    const l = new Local(this.params.length + this.extraLocals.length, type, name);
    this.extraLocals.push(l);
    return l;
  }

  /** Appends a statement (an expression of type void, e.g. a store). */
  do(stmt: Expr): void {
    if (stmt.type !== 'void') throw new Error(`${this.name}: a statement must not leave a value (got ${stmt.type}); assign it with set()`);
    stmt.emit(this.code);
  }

  /** Calls function `index` of the module (a function that returns nothing) with `args`. */
  call(index: number, ...args: Expr[]): void {
    for (const a of args) a.emit(this.code);
    this.code.push(0x10);
    uleb(this.code, index);
  }

  /** Leaves the innermost enclosing loop of a `forever` body. */
  breakLoop(): void {
    this.code.push(0x0c);
    uleb(this.code, this.loopExitDepth());
  }

  private exitLabels: number[] = [];
  private loopExitDepth(): number {
    const at = this.exitLabels[this.exitLabels.length - 1];
    if (at === undefined) throw new Error(`${this.name}: breakLoop() outside forever()`);
    return this.depth - at;
  }

  /** loop { body() } until body calls breakLoop(). */
  forever(body: () => void): void {
    this.code.push(0x02, 0x40);
    this.depth++;
    this.exitLabels.push(this.depth);
    this.code.push(0x03, 0x40);
    this.depth++;
    body();
    this.code.push(0x0c, 0x00); // back to the loop's start
    this.depth--;
    this.code.push(0x0b);
    this.exitLabels.pop();
    this.depth--;
    this.code.push(0x0b);
  }

  /** local = value */
  set(l: Local, value: Expr): void {
    check(`${this.name}: set ${l.name}`, value, l.type);
    value.emit(this.code);
    this.code.push(0x21);
    uleb(this.code, l.index);
  }

  /** for (i = start; i < end; i += step) body(); `end` is evaluated before every iteration. Runs ≥ 0 times. */
  forRange(i: Local, start: Expr | number, end: Expr | number, step: number, body: () => void): void {
    const s = typeof start === 'number' ? i32.const(start) : start;
    const e = typeof end === 'number' ? i32.const(end) : end;
    this.set(i, s);
    this.block(() => {
      // leave at once when the range is empty
      this.brIf(0, i32.ge_s(i, e));
      this.loop(() => {
        body();
        this.set(i, i32.add(i, i32.const(step)));
        this.brIf(0, i32.lt_s(i, e));
      });
    });
  }

  /** if (cond) then(); */
  if(cond: Expr, then: () => void): void {
    check(`${this.name}: if`, cond, 'i32');
    cond.emit(this.code);
    this.code.push(0x04, 0x40);
    this.depth++;
    then();
    this.depth--;
    this.code.push(0x0b);
  }

  private block(body: () => void): void {
    this.code.push(0x02, 0x40);
    this.depth++;
    body();
    this.depth--;
    this.code.push(0x0b);
  }

  private loop(body: () => void): void {
    this.code.push(0x03, 0x40);
    this.depth++;
    body();
    this.depth--;
    this.code.push(0x0b);
  }

  /** Branch to the `label`-th enclosing block/loop (0 = innermost) when cond ≠ 0. */
  private brIf(label: number, cond: Expr): void {
    cond.emit(this.code);
    this.code.push(0x0d);
    uleb(this.code, label);
  }

  /** The function body's bytes (locals declaration + code + end). */
  body(): number[] {
    const out: number[] = [];
    // one (count, type) entry per local, simple and valid
    uleb(out, this.extraLocals.length);
    for (const l of this.extraLocals) {
      out.push(1, VALTYPE_CODE[l.type]);
    }
    for (const b of this.code) out.push(b);
    out.push(0x0b);
    return out;
  }

  get paramTypes(): ValType[] {
    return this.params.map((p) => p.type);
  }
}

export interface MemoryImport {
  module: string;
  name: string;
  /** Pages of 64 KiB. */
  initial: number;
  maximum: number;
  shared: boolean;
}

/** A module: one imported memory, functions that return nothing, all exported by name. */
export class ModuleBuilder {
  private readonly functions: FunctionBuilder[] = [];

  constructor(private readonly memory: MemoryImport) {}

  /** Adds an exported function `name(params)` → void; `build` appends its statements. */
  function(name: string, params: readonly [string, ValType][], build: (f: FunctionBuilder, ...p: Local[]) => void): number {
    const f = new FunctionBuilder(name, params.map((p) => p[1]), params.map((p) => p[0]));
    build(f, ...f.params);
    this.functions.push(f);
    return this.functions.length - 1;
  }

  /**
   * A work-item kernel `name(args, item)` plus its driver `name$items(args, counter, count)`, which takes
   * items from the shared counter (an atomic add at byte `counter`) and runs them until they are gone. Each
   * thread calls the driver once per kernel, instead of calling into WebAssembly once per item.
   */
  itemFunction(name: string, build: (f: FunctionBuilder, args: Local, item: Local) => void): void {
    const index = this.function(name, [['args', 'i32'], ['item', 'i32']], (f, args, item) => build(f, args!, item!));
    this.function(`${name}$items`, [['args', 'i32'], ['counter', 'i32'], ['count', 'i32']], (f, args, counter, count) => {
      const item = f.local('i32', 'item');
      f.forever(() => {
        f.set(item, i32.atomic_rmw_add(counter!, i32.const(1)));
        f.if(i32.ge_s(item, count!), () => f.breakLoop());
        f.call(index, args!, item);
      });
    });
  }

  bytes(): Uint8Array<ArrayBuffer> {
    const out: number[] = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
    // types: one per function (duplicates are allowed and keep this simple)
    const types: number[] = [];
    uleb(types, this.functions.length);
    for (const f of this.functions) {
      types.push(0x60);
      uleb(types, f.paramTypes.length);
      for (const t of f.paramTypes) types.push(VALTYPE_CODE[t]);
      types.push(0); // no results
    }
    section(out, 1, types);
    // imports: the memory
    const imports: number[] = [1];
    name(imports, this.memory.module);
    name(imports, this.memory.name);
    imports.push(0x02, this.memory.shared ? 0x03 : 0x01);
    uleb(imports, this.memory.initial);
    uleb(imports, this.memory.maximum);
    section(out, 2, imports);
    // functions: function i has type i
    const funcs: number[] = [];
    uleb(funcs, this.functions.length);
    this.functions.forEach((_, i) => uleb(funcs, i));
    section(out, 3, funcs);
    // exports
    const exports: number[] = [];
    uleb(exports, this.functions.length);
    this.functions.forEach((f, i) => {
      name(exports, f.name);
      exports.push(0x00);
      uleb(exports, i);
    });
    section(out, 7, exports);
    // code
    const code: number[] = [];
    uleb(code, this.functions.length);
    for (const f of this.functions) {
      const body = f.body();
      uleb(code, body.length);
      for (const b of body) code.push(b);
    }
    section(out, 10, code);
    return new Uint8Array(out);
  }
}

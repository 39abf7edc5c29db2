/**
 * GPU.js kernel sources, as JavaScript source TEXT (not TypeScript functions): GPU.js parses the text
 * of a kernel with acorn and translates it to WGSL (webgpu mode) or runs it as JavaScript (cpu mode).
 * Keeping them as strings means no transpiler (tsc, esbuild under tsx/vitest) can rewrite them, and the
 * very same text runs in both modes — cpu mode is how CI checks them on machines without a GPU.
 *
 * Conventions every source here follows (see docs/gpu.md):
 *  - every argument is a flat 1-D float32 array (a pipeline handle on the device), every output is 1-D
 *    (`this.thread.x` is the flat output index);
 *  - every size is a kernel constant (`this.constants.X`, one compiled kernel per shape, cached by key):
 *    GPU.js cuts loops whose bound is a run-time value at `loopMaxIterations` (default 1000) without an
 *    error; a bound read from `this.constants` is a static loop and is never cut;
 *  - loop initialisers are the literal 0 (otherwise GPU.js treats the loop as dynamic and caps it);
 *  - in WGSL, GPU.js declares integer-valued locals as f32 ("index in float32"): integer arithmetic on
 *    them is exact only below 2^24, which is why tensors above 2^24 elements are refused (limits.ts);
 *  - integer division is f32 division (not exact on GPUs: WGSL allows 2.5 ulp), so every index split goes
 *    through `divmod`, which rounds from a half-integer and corrects the remainder with exact integer
 *    arithmetic.
 */

/** `this.constants.NAME` */
const K = (name: string): string => `this.constants.${name}`;

/**
 * Statements that declare `q = floor(a / d)` and `r = a - q·d` (a ≥ 0 integer, d > 0 integer constant),
 * exact for a < 2^24 even where f32 division is off by a few ulp.
 */
export function divmod(q: string, r: string, a: string, d: string): string {
  return `
  let ${q} = Math.floor((${a} + 0.5) / ${d});
  let ${r} = ${a} - ${q} * ${d};
  if (${r} < 0) { ${q} = ${q} - 1; ${r} = ${r} + ${d}; }
  if (${r} < 0) { ${q} = ${q} - 1; ${r} = ${r} + ${d}; }
  if (${r} >= ${d}) { ${q} = ${q} + 1; ${r} = ${r} - ${d}; }
  if (${r} >= ${d}) { ${q} = ${q} + 1; ${r} = ${r} - ${d}; }`;
}

// ---- data movement ---------------------------------------------------------------------------------

/** out[i] = a[i] (upload of a host array into a device buffer, or a device copy). */
export const copySource = `function (a) {
  return a[this.thread.x];
}`;

// ---- element-wise ----------------------------------------------------------------------------------

export const reluSource = `function (a) {
  return Math.max(a[this.thread.x], 0);
}`;

/** dx = dy where x > 0, else 0. */
export const reluBackwardSource = `function (dy, x) {
  const i = this.thread.x;
  let v = 0;
  if (x[i] > 0) {
    v = dy[i];
  }
  return v;
}`;

export const addSource = `function (a, b) {
  const i = this.thread.x;
  return a[i] + b[i];
}`;

export const mulSource = `function (a, b) {
  const i = this.thread.x;
  return a[i] * b[i];
}`;

/** Constants: PLANE = H·W, CT = total channels, C0..C{k-1} channel counts of the k inputs. */
export function concatChannelsSource(k: number): string {
  const args = Array.from({ length: k }, (_, j) => `x${j}`);
  let body = '';
  let start = '0';
  for (let j = 0; j < k; j++) {
    const cj = K(`C${j}`);
    const end = j === 0 ? cj : `${start} + ${cj}`;
    body += `
  ${j === 0 ? '' : 'else '}if (c < ${end}) {
    v = x${j}[(n * ${cj} + (c - (${start}))) * ${K('PLANE')} + p];
  }`;
    start = end;
  }
  return `function (${args.join(', ')}) {
  const i = this.thread.x;${divmod('nc', 'p', 'i', K('PLANE'))}${divmod('n', 'c', 'nc', K('CT'))}
  let v = 0;${body}
  return v;
}`;
}

// ---- convolution -----------------------------------------------------------------------------------
// Constants: N, C, H, W (input), O, KH, KW (weight), HO, WO (output), S (stride), P (padding).

/** out[n,o,oh,ow] = Σ_{c,kh,kw} x[n,c,oh·S−P+kh, ow·S−P+kw] · w[o,c,kh,kw] (+ b[o]). */
export function conv2dSource(hasBias: boolean): string {
  return `function (x, w${hasBias ? ', b' : ''}) {
  const i = this.thread.x;${divmod('t1', 'ow', 'i', K('WO'))}${divmod('t2', 'oh', 't1', K('HO'))}${divmod('n', 'o', 't2', K('O'))}
  const ih0 = oh * ${K('S')} - ${K('P')};
  const iw0 = ow * ${K('S')} - ${K('P')};
  let sum = 0;
  for (let c = 0; c < ${K('C')}; c++) {
    const xb = (n * ${K('C')} + c) * ${K('H')};
    const wb = (o * ${K('C')} + c) * ${K('KH')};
    for (let kh = 0; kh < ${K('KH')}; kh++) {
      const ih = ih0 + kh;
      if (ih >= 0 && ih < ${K('H')}) {
        const xr = (xb + ih) * ${K('W')};
        const wr = (wb + kh) * ${K('KW')};
        for (let kw = 0; kw < ${K('KW')}; kw++) {
          const iw = iw0 + kw;
          if (iw >= 0 && iw < ${K('W')}) {
            sum += x[xr + iw] * w[wr + kw];
          }
        }
      }
    }
  }
  return sum${hasBias ? ' + b[o]' : ''};
}`;
}

/**
 * dx[n,c,ih,iw] = Σ_{o,kh,kw} dy[n,o,oh,ow] · w[o,c,kh,kw] over oh·S−P+kh = ih, ow·S−P+kw = iw
 * (the adjoint of conv2d in x). Stride 1 needs no division; stride > 1 keeps the exact multiples.
 */
export function conv2dBackpropInputSource(stride: number): string {
  const split = (q: string, r: string, t: string) =>
    stride === 1 ? `\n  let ${q} = ${t};\n  let ${r} = 0;` : divmod(q, r, t, K('S'));
  return `function (dy, w) {
  const i = this.thread.x;${divmod('t1', 'iw', 'i', K('W'))}${divmod('t2', 'ih', 't1', K('H'))}${divmod('n', 'c', 't2', K('C'))}
  let sum = 0;
  for (let o = 0; o < ${K('O')}; o++) {
    const dyb = (n * ${K('O')} + o) * ${K('HO')};
    const wb = (o * ${K('C')} + c) * ${K('KH')};
    for (let kh = 0; kh < ${K('KH')}; kh++) {
      const th = ih + ${K('P')} - kh;
      if (th >= 0) {${split('oh', 'rh', 'th').replace(/\n/g, '\n      ')}
        if (rh == 0 && oh < ${K('HO')}) {
          const dyr = (dyb + oh) * ${K('WO')};
          const wr = (wb + kh) * ${K('KW')};
          for (let kw = 0; kw < ${K('KW')}; kw++) {
            const tw = iw + ${K('P')} - kw;
            if (tw >= 0) {${split('ow', 'rw', 'tw').replace(/\n/g, '\n              ')}
              if (rw == 0 && ow < ${K('WO')}) {
                sum += dy[dyr + ow] * w[wr + kw];
              }
            }
          }
        }
      }
    }
  }
  return sum;
}`;
}

/**
 * Partial filter gradient, stage 1 of 2: part[g,o,c,kh,kw] = Σ over images n of group g (NB images per
 * group) and all output pixels of dy[n,o,oh,ow] · x[n,c,oh·S−P+kh, ow·S−P+kw]. Splitting the batch into
 * G groups gives G·O·C·KH·KW threads instead of O·C·KH·KW (a GPU needs the parallelism); stage 2
 * (`sumRowsSource`) adds the G partial sums. Extra constant: NB.
 */
export const conv2dBackpropFilterPartialSource = `function (dy, x) {
  const i = this.thread.x;${divmod('t1', 'kw', 'i', K('KW'))}${divmod('t2', 'kh', 't1', K('KH'))}${divmod('t3', 'c', 't2', K('C'))}${divmod('g', 'o', 't3', K('O'))}
  let sum = 0;
  for (let nn = 0; nn < ${K('NB')}; nn++) {
    const n = g * ${K('NB')} + nn;
    if (n < ${K('N')}) {
      const dyb = (n * ${K('O')} + o) * ${K('HO')};
      const xb = (n * ${K('C')} + c) * ${K('H')};
      for (let oh = 0; oh < ${K('HO')}; oh++) {
        const ih = oh * ${K('S')} - ${K('P')} + kh;
        if (ih >= 0 && ih < ${K('H')}) {
          const dyr = (dyb + oh) * ${K('WO')};
          const xr = (xb + ih) * ${K('W')};
          for (let ow = 0; ow < ${K('WO')}; ow++) {
            const iw = ow * ${K('S')} - ${K('P')} + kw;
            if (iw >= 0 && iw < ${K('W')}) {
              sum += dy[dyr + ow] * x[xr + iw];
            }
          }
        }
      }
    }
  }
  return sum;
}`;

// ---- reductions ------------------------------------------------------------------------------------

/** out[r] = Σ_{l<L} a[r·L + l]: one flat loop of L (L = H·W is 1536 for a 48×32 image, past GPU.js's default cap of 1000). */
export const sumLastAxisSource = `function (a) {
  const base = this.thread.x * ${K('L')};
  let sum = 0;
  for (let l = 0; l < ${K('L')}; l++) {
    sum += a[base + l];
  }
  return sum;
}`;

/** out[j] = SCALE · Σ_{r<R} a[r·J + j]. */
export const sumRowsSource = `function (a) {
  const j = this.thread.x;
  let sum = 0;
  for (let r = 0; r < ${K('R')}; r++) {
    sum += a[r * ${K('J')} + j];
  }
  return sum * ${K('SCALE')};
}`;

// ---- batch norm ------------------------------------------------------------------------------------
// Constants: C, PLANE (= H·W); row r = n·C + c of an [N·C, PLANE] view.

/** part[n·C + c] = Σ_p (x[n,c,p] − mean[c])². */
export const bnSqDevPartialSource = `function (x, mean) {
  const r = this.thread.x;${divmod('n', 'c', 'r', K('C'))}
  const mu = mean[c];
  const base = r * ${K('PLANE')};
  let sum = 0;
  for (let p = 0; p < ${K('PLANE')}; p++) {
    const d = x[base + p] - mu;
    sum += d * d;
  }
  return sum;
}`;

/** part[n·C + c] = Σ_p dy[n,c,p] · (x[n,c,p] − mean[c]). */
export const bnDyXmuPartialSource = `function (dy, x, mean) {
  const r = this.thread.x;${divmod('n', 'c', 'r', K('C'))}
  const mu = mean[c];
  const base = r * ${K('PLANE')};
  let sum = 0;
  for (let p = 0; p < ${K('PLANE')}; p++) {
    sum += dy[base + p] * (x[base + p] - mu);
  }
  return sum;
}`;

/** invStd[c] = 1 / sqrt(var[c] + EPS). */
export const bnInvStdSource = `function (v) {
  return 1 / Math.sqrt(v[this.thread.x] + ${K('EPS')});
}`;

/** out = (1 − MOM)·running + MOM·SCALE·stat (running-average update; SCALE = m/(m−1) for the variance). */
export const bnRunningSource = `function (running, stat) {
  const c = this.thread.x;
  return (1 - ${K('MOM')}) * running[c] + ${K('MOM')} * ${K('SCALE')} * stat[c];
}`;

/** y = gamma[c]·(x − mean[c])·invStd[c] + beta[c]. */
export const bnNormalizeSource = `function (x, gamma, beta, mean, invStd) {
  const i = this.thread.x;${divmod('nc', 'p', 'i', K('PLANE'))}${divmod('n', 'c', 'nc', K('C'))}
  return gamma[c] * (x[i] - mean[c]) * invStd[c] + beta[c];
}`;

/**
 * Training-mode dx = k·(m·dy − sdy − x̂·dg) with k = gamma·invStd/m, x̂ = (x − mean)·invStd,
 * sdy = dbeta[c], dg = dgamma[c] (constant M = m = N·H·W).
 */
export const bnBackwardDxSource = `function (dy, x, gamma, mean, invStd, dbeta, dgamma) {
  const i = this.thread.x;${divmod('nc', 'p', 'i', K('PLANE'))}${divmod('n', 'c', 'nc', K('C'))}
  const is = invStd[c];
  const k = gamma[c] * is / ${K('M')};
  return k * (${K('M')} * dy[i] - dbeta[c] - (x[i] - mean[c]) * is * dgamma[c]);
}`;

// ---- nearest-neighbour ×2 upsampling ---------------------------------------------------------------
// Constants: H, W (the small side).

/** out[nc, oh, ow] = x[nc, ⌊oh/2⌋, ⌊ow/2⌋], out is [.., 2H, 2W]. */
export const upsample2xSource = `function (x) {
  const i = this.thread.x;${divmod('t1', 'ow', 'i', `(2 * ${K('W')})`)}${divmod('nc', 'oh', 't1', `(2 * ${K('H')})`)}${divmod('h', 'a', 'oh', '2')}${divmod('w', 'b', 'ow', '2')}
  return x[(nc * ${K('H')} + h) * ${K('W')} + w];
}`;

/** dx[nc, h, w] = Σ of the 2×2 block of dy at (2h, 2w). */
export const upsample2xBackwardSource = `function (dy) {
  const i = this.thread.x;${divmod('t1', 'w', 'i', K('W'))}${divmod('nc', 'h', 't1', K('H'))}
  const W2 = 2 * ${K('W')};
  const base = (nc * 2 * ${K('H')} + 2 * h) * W2 + 2 * w;
  return dy[base] + dy[base + 1] + dy[base + W2] + dy[base + W2 + 1];
}`;

// ---- channel slicing (the backward of channel concatenation) -----------------------------------------

/** out[n, c, p] = x[n, START + c, p] for c < C, x with CT channels. Constants: C, CT, START, PLANE. */
export const sliceChannelsSource = `function (x) {
  const i = this.thread.x;${divmod('nc', 'p', 'i', K('PLANE'))}${divmod('n', 'c', 'nc', K('C'))}
  return x[(n * ${K('CT')} + ${K('START')} + c) * ${K('PLANE')} + p];
}`;

// ---- batch norm, eval mode ---------------------------------------------------------------------------

/** Eval-mode dx = dy·gamma[c]·invStd[c] (the running statistics are constants). Constants: C, PLANE. */
export const bnEvalBackwardDxSource = `function (dy, gamma, invStd) {
  const i = this.thread.x;${divmod('nc', 'p', 'i', K('PLANE'))}${divmod('n', 'c', 'nc', K('C'))}
  return dy[i] * gamma[c] * invStd[c];
}`;

// ---- optimisers --------------------------------------------------------------------------------------
// The hyper-parameters come in a small device array `hp` rather than as constants: Adam's bias
// corrections change every step (and a learning-rate schedule may change lr), and every distinct constant
// would compile another kernel. Structural switches (decoupled decay, Nesterov) are constants.
// The formulas are those of src/models/optim.ts, term for term.

/**
 * Adam hp: [lr, beta1, beta2, eps, weightDecay, c1, c2, 1 − beta1, 1 − beta2] with c1 = 1 − beta1^t,
 * c2 = 1 − beta2^t. The differences are computed on the host in float64: 1 − beta2 computed from a float32
 * beta2 = 0.999 would be off by 1.3e-5 relative.
 */
export const ADAM_HP = [
  'lr',
  'beta1',
  'beta2',
  'eps',
  'weightDecay',
  'c1',
  'c2',
  'oneMinusBeta1',
  'oneMinusBeta2',
] as const;

/** New first moment: beta1·m + (1 − beta1)·g', g' = g + weightDecay·w unless decoupled. Constant: DECOUPLED (0/1). */
export const adamMoment1Source = `function (m, g, w, hp) {
  const i = this.thread.x;
  let gi = g[i];
  if (${K('DECOUPLED')} == 0) {
    gi = gi + hp[4] * w[i];
  }
  return hp[1] * m[i] + hp[7] * gi;
}`;

/** New second moment: beta2·v + (1 − beta2)·g'². Constant: DECOUPLED (0/1). */
export const adamMoment2Source = `function (v, g, w, hp) {
  const i = this.thread.x;
  let gi = g[i];
  if (${K('DECOUPLED')} == 0) {
    gi = gi + hp[4] * w[i];
  }
  return hp[2] * v[i] + hp[8] * gi * gi;
}`;

/** New weight: w' − lr·(m/c1)/(sqrt(v/c2) + eps), w' = w − lr·weightDecay·w when decoupled (AdamW). m, v: the new moments. */
export const adamParamSource = `function (w, m, v, hp) {
  const i = this.thread.x;
  let wi = w[i];
  if (${K('DECOUPLED')} == 1) {
    wi = wi - hp[0] * hp[4] * wi;
  }
  return wi - (hp[0] * (m[i] / hp[5])) / (Math.sqrt(v[i] / hp[6]) + hp[3]);
}`;

/** SGD hp: [lr, momentum, weightDecay]. */
export const SGD_HP = ['lr', 'momentum', 'weightDecay'] as const;

/** Plain SGD: w − lr·(g + weightDecay·w). */
export const sgdParamSource = `function (w, g, hp) {
  const i = this.thread.x;
  return w[i] - hp[0] * (g[i] + hp[2] * w[i]);
}`;

/** New velocity: momentum·v + (g + weightDecay·w). */
export const sgdVelocitySource = `function (v, g, w, hp) {
  const i = this.thread.x;
  return hp[1] * v[i] + (g[i] + hp[2] * w[i]);
}`;

/** SGD with momentum, vNew the new velocity: w − lr·vNew, or with Nesterov w − lr·(d + momentum·vNew). Constant: NESTEROV (0/1). */
export const sgdMomentumParamSource = `function (w, g, vNew, hp) {
  const i = this.thread.x;
  let d = vNew[i];
  if (${K('NESTEROV')} == 1) {
    d = g[i] + hp[2] * w[i] + hp[1] * vNew[i];
  }
  return w[i] - hp[0] * d;
}`;

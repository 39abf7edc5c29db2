/**
 * Panel 1 — object size. Draw a mask; the Chebyshev distance transform d, max d, g = 2·max d and the largest
 * all-foreground square (clipped to the image) update as you draw.
 */
import { chebyshevDistanceTransform, objectSize } from '../../../src/estimators/index.js';
import { button, cellGrid, el, heat, paintable, paintCell } from '../ui.js';

export const OS_HEIGHT = 8;
export const OS_WIDTH = 12;

/** A starting mask: an L-shaped object, so that the square is not simply the whole object. */
function initialMask(): Uint8Array {
  const m = new Uint8Array(OS_HEIGHT * OS_WIDTH);
  for (let r = 1; r <= 6; r++) for (let c = 1; c <= 5; c++) m[r * OS_WIDTH + c] = 1;
  for (let r = 4; r <= 6; r++) for (let c = 6; c <= 10; c++) m[r * OS_WIDTH + c] = 1;
  return m;
}

export interface ObjectSizePanel {
  root: HTMLElement;
  getMask(): Uint8Array;
  setMask(mask: Uint8Array): void;
}

export function objectSizePanel(): ObjectSizePanel {
  const H = OS_HEIGHT;
  const W = OS_WIDTH;
  let mask = initialMask();
  const maskGrid = cellGrid(H, W, { testid: 'os-mask', cls: 'mask-grid', cell: 32 });
  const dtGrid = cellGrid(H, W, { testid: 'os-dt', cell: 32 });
  const readout = el('div', { class: 'readout', 'data-testid': 'os-readout' });

  const redraw = (): void => {
    const d = chebyshevDistanceTransform(mask, H, W);
    const g = objectSize(mask, H, W);
    let D = 0;
    let centre = -1;
    for (let i = 0; i < d.length; i++) {
      if ((d[i] as number) > D) {
        D = d[i] as number;
        centre = i;
      }
    }
    // the largest all-foreground square S(c, D−1) around the first pixel with d = D, clipped to the image
    const inSquare = new Uint8Array(H * W);
    if (Number.isFinite(D) && D > 0 && centre >= 0) {
      const r0 = Math.floor(centre / W);
      const c0 = centre % W;
      for (let r = Math.max(0, r0 - D + 1); r <= Math.min(H - 1, r0 + D - 1); r++) {
        for (let c = Math.max(0, c0 - D + 1); c <= Math.min(W - 1, c0 + D - 1); c++) inSquare[r * W + c] = 1;
      }
    }
    const finiteMax = Number.isFinite(D) ? Math.max(1, D) : 1;
    for (let i = 0; i < H * W; i++) {
      const on = mask[i] === 1;
      const mc = maskGrid.cells[i]!;
      paintCell(mc, on ? '#2f5fb3' : '#f3f4f7', '', on ? 1 : 0);
      mc.classList.toggle('square', inSquare[i] === 1);
      mc.classList.toggle('centre', i === centre && Number.isFinite(D) && D > 0);
      const di = d[i] as number;
      const dc = dtGrid.cells[i]!;
      paintCell(dc, Number.isFinite(di) ? heat(di / finiteMax) : heat(1), Number.isFinite(di) ? String(di) : '∞');
      dc.dataset['d'] = Number.isFinite(di) ? String(di) : 'Infinity';
      dc.classList.toggle('square', inSquare[i] === 1);
      dc.classList.toggle('centre', i === centre && Number.isFinite(D) && D > 0);
    }
    readout.dataset['maxd'] = String(D);
    readout.dataset['g'] = String(g);
    readout.replaceChildren(
      el(
        'div',
        { class: 'big' },
        'max d = ',
        el('b', { 'data-testid': 'os-maxd' }, Number.isFinite(D) ? String(D) : '∞'),
      ),
      el(
        'div',
        { class: 'big' },
        'g = 2 · max d = ',
        el('b', { 'data-testid': 'os-g' }, Number.isFinite(g) ? String(g) : '∞'),
      ),
      el(
        'p',
        { class: 'note' },
        Number.isFinite(g)
          ? D === 0
            ? 'No foreground: g = 0.'
            : `The outlined square has half-width ${D - 1} around the ringed pixel (side ${2 * D - 1} before clipping): the largest all-foreground square, clipped to the image. Pixels outside the image are not background.`
          : 'No background pixel at all: d = ∞ and g = ∞. Inside the loss, ĝ = 2·max(H, W) keeps the numbers finite.',
      ),
    );
  };

  let paintValue = 1;
  paintable(maskGrid, (i, first) => {
    if (first) paintValue = mask[i] === 1 ? 0 : 1; // start on foreground = erase, on background = draw
    if (mask[i] !== paintValue) {
      mask[i] = paintValue;
      redraw();
    }
  });

  const presets = el(
    'div',
    { class: 'buttons' },
    button('clear', () => {
      mask = new Uint8Array(H * W);
      redraw();
    }),
    button('L-shape', () => {
      mask = initialMask();
      redraw();
    }),
    button('touching the border', () => {
      mask = new Uint8Array(H * W);
      for (let r = 0; r < H; r++) for (let c = 7; c < W; c++) mask[r * W + c] = 1;
      redraw();
    }),
    button('fill', () => {
      mask = new Uint8Array(H * W).fill(1);
      redraw();
    }),
  );

  const root = el(
    'section',
    { class: 'panel', id: 'panel-size', 'data-testid': 'panel-size' },
    el('h2', {}, '1 · Object size from the distance transform'),
    el(
      'p',
      { class: 'lead' },
      'Click or drag on the mask to draw; start on a blue pixel to erase. Every pixel gets its Chebyshev (chessboard) ',
      'distance to the nearest background pixel; the object size is twice the largest distance.',
    ),
    el(
      'div',
      { class: 'formula' },
      'd',
      el('sub', {}, 'i'),
      ' = min',
      el('sub', {}, 'j ∈ background'),
      ' max(|r',
      el('sub', {}, 'i'),
      ' − r',
      el('sub', {}, 'j'),
      '|, |c',
      el('sub', {}, 'i'),
      ' − c',
      el('sub', {}, 'j'),
      '|),     g(y) = 2 · max',
      el('sub', {}, 'i'),
      ' d',
      el('sub', {}, 'i'),
    ),
    el(
      'div',
      { class: 'row' },
      el('figure', {}, maskGrid.root, el('figcaption', {}, 'mask y (draw here)')),
      el('figure', {}, dtGrid.root, el('figcaption', {}, 'distance transform d')),
      readout,
    ),
    presets,
  );
  redraw();
  return {
    root,
    getMask: () => mask.slice(),
    setMask: (m: Uint8Array) => {
      mask = m.slice();
      redraw();
    },
  };
}

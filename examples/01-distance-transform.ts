// examples/01-distance-transform.ts — step 1: the Chebyshev distance transform d and the object size g = 2·max d.
import { chebyshevDistanceTransform, objectSize } from '../src/index.js';

/** A mask from rows of '#' (foreground, 1) and '.' (background, 0). */
function parse(rows: string[]): { mask: Uint8Array; H: number; W: number } {
  const H = rows.length, W = rows[0]!.length;
  const mask = new Uint8Array(H * W);
  rows.forEach((row, r) => [...row].forEach((ch, c) => { mask[r * W + c] = ch === '#' ? 1 : 0; }));
  return { mask, H, W };
}

function show(title: string, rows: string[]): void {
  const { mask, H, W } = parse(rows);
  const d = chebyshevDistanceTransform(mask, H, W);
  const maxD = Math.max(...d);
  console.log(`${title}: max d = ${maxD}, g = ${objectSize(mask, H, W)}`);
  for (let r = 0; r < H; r++) {
    console.log(`  ${rows[r]}   ${Array.from(d.subarray(r * W, (r + 1) * W), (v) => (v === Infinity ? '∞' : String(v))).join(' ')}`);
  }
}

// The 7×7 example of method.md: a 5×5 foreground square with a one-pixel background frame.
show('7×7, 5×5 square inside', ['.......', '.#####.', '.#####.', '.#####.', '.#####.', '.#####.', '.......']);

// The border convention: pixels OUTSIDE the image are not background. The same 3×3 square has g = 4 in the
// middle of the image, but g = 6 in a corner, because the nearest background is 3 pixels away inside the image.
show('3×3 square in the middle', ['.......', '.......', '..###..', '..###..', '..###..', '.......', '.......']);
show('3×3 square in the corner', ['###....', '###....', '###....', '.......', '.......', '.......', '.......']);

// Edge cases: no foreground gives g = 0; no background gives d = g = +∞ (the size loss caps it, see below).
console.log(`all background: g = ${objectSize(new Uint8Array(9), 3, 3)}; all foreground: g = ${objectSize(new Uint8Array(9).fill(1), 3, 3)}`);

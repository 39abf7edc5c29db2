/**
 * The paper's Fig. 3 toy probability map (6×6), in a module of its own with no Node import, so that the
 * figure script (fig3.ts) and the web page's Lemma-1 panel use the same numbers.
 */

/** The toy map (row-major): object = rows 1–4 × cols 1–4. */
export function fig3Probabilities(): Float64Array {
  // prettier-ignore
  return Float64Array.from([
    0, 0, 0.15, 0.25, 0, 0, 0, 0.55, 0.7, 0.8, 0.45, 0, 0.1, 0.75, 1, 1, 0.85, 0.2, 0, 0.6, 1, 1, 0.9, 0.3, 0, 0.35,
    0.65, 0.5, 0.4, 0, 0, 0, 0.05, 0, 0, 0,
  ]);
}

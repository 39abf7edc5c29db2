/**
 * Object size, the size loss and its gradient estimators ("Learning to segment from object sizes",
 * Baručić & Kybic). Pure functions on typed arrays; masks are 0/1 Uint8Arrays, row-major (H rows × W cols).
 * See docs/estimators.md.
 */
export {
  chebyshevDistanceTransform,
  chebyshevDistanceTransformBatch,
  DT_INF,
} from './distanceTransform.js';
export {
  objectSize,
  allForegroundSize,
  finiteSize,
  sizeLoss,
} from './objectSize.js';
export { lemma1Gradient, lemma1Entry, type Lemma1Method, type Lemma1Options } from './lemma1.js';
export { exactSizeLoss, exactSizeLossUncertain, EXACT_MAX_PIXELS, type ExactResult } from './exact.js';
export {
  reinforceGradient,
  straightThroughGradient,
  type ReinforceBaseline,
  type ReinforceOptions,
} from './baselines.js';
export {
  sizeLossForwardBackward,
  sampleBernoulliMasks,
  stableSigmoid,
  type SizeLossOptions,
  type SizeLossResult,
} from './sizeLossKernel.js';

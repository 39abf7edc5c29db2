/** The paper's experiments (Figs. 3, 5–7) and the "beyond the paper" variants; see docs/results.md. */
export { PRESETS, type Preset, type PresetName, type ExperimentContext } from './common.js';
export { runFig3 } from './fig3.js';
export { runFig5 } from './fig5.js';
export { runFig7 } from './fig7.js';
export { runBeyond } from './beyond.js';
export { runControl } from './control.js';
export { runFig7Paper, FIG7_PROTOCOLS, type Fig7Protocol, type Fig7ProtocolName } from './fig7paper.js';
export { runRemedies, REMEDIES_PROTOCOLS, type RemediesProtocol, type RemediesProtocolName } from './remedies.js';

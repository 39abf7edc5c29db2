/**
 * The sizeseg web page: four panels that teach "learning to segment from object sizes" by touching it.
 * Panels 1–3 run the library's estimators on the page's thread (they are small); panel 4 trains in a worker.
 */
import { ignoreStrayDrops } from './dropFiles.js';
import { lemma1Panel } from './panels/lemma1.js';
import { noisePanel } from './panels/noise.js';
import { objectSizePanel } from './panels/objectSize.js';
import { trainingPanel } from './panels/training.js';

const main = document.getElementById('panels');
if (!main) throw new Error('index.html has no #panels element');
const size = objectSizePanel();
const lemma1 = lemma1Panel();
const training = trainingPanel();
main.append(size.root, noisePanel(), lemma1.root, training.root);
ignoreStrayDrops(window); // a file dropped beside panel 4's drop zone must not replace the page

// A handle for the browser tests (and for curious students in the console).
(window as unknown as { sizeseg: unknown }).sizeseg = { size, lemma1, training };

/**
 * Panel 4's real data: the MSD Task04 files (chosen in two inputs, or dropped on the section — files, or the
 * imagesTr/ and labelsTr/ folders at once), what the worker made of them, and the choice of what the next run
 * trains on. A failed load says what the next run will use, and the synthetic images stay one click away.
 */
import { acceptDrops, type DroppedFile } from '../dropFiles.js';
import type { FromWorker, NamedBytes, ToWorker, VolumesLoaded } from '../protocol.js';
import { el } from '../ui.js';
import { plural } from '../words.js';

export interface RealData {
  /** The "Train on real MRI slices" section (inputs, drop zone, notes). */
  section: HTMLElement;
  /** "train on: synthetic images / your MRI volumes", for the training panel to show beside its start button. */
  choice: HTMLElement;
  /** What the next run trains on. */
  data(): 'synthetic' | 'msd';
  setData(data: 'synthetic' | 'msd'): void;
  /** The worker's 'volumes' and 'volumes-progress' messages. */
  handle(msg: Extract<FromWorker, { type: 'volumes' | 'volumes-progress' }>): void;
}

export function realDataSection(
  send: (msg: ToWorker, transfer: Transferable[]) => void,
  onLoaded: (ok: boolean, text: string) => void,
): RealData {
  let loaded: VolumesLoaded | null = null;

  const radio = (value: 'synthetic' | 'msd', checked: boolean): HTMLInputElement =>
    el('input', {
      type: 'radio',
      name: 'tr-data',
      value,
      checked,
      'data-testid': `tr-data-${value}`,
      disabled: value === 'msd',
    });
  const syntheticRadio = radio('synthetic', true);
  const msdRadio = radio('msd', false);
  const msdLabel = el('span', {}, 'your MRI volumes (none loaded yet: see below)');
  const choice = el(
    'div',
    { class: 'data-choice', 'data-testid': 'tr-data' },
    el('span', {}, 'train on: '),
    el('label', {}, syntheticRadio, ' synthetic images (48×32)'),
    el('label', {}, msdRadio, ' ', msdLabel),
  );

  const note = el('div', { class: 'note', 'data-testid': 'tr-volumes', role: 'status' }, 'No files loaded.');
  const details = el('ul', { class: 'note', 'data-testid': 'tr-volume-notes' });
  const setNote = (text: string, kind: 'info' | 'ok' | 'error'): void => {
    note.textContent = text;
    note.className = `note ${kind === 'info' ? '' : kind}`.trim();
    note.dataset['state'] = kind;
  };
  const nextRun = (): string =>
    msdRadio.checked && loaded
      ? `the ${plural(loaded.volumes, 'volume')} loaded before (${plural(loaded.slices, 'slice')})`
      : 'synthetic images';

  const sendFiles = (files: NamedBytes[]): void =>
    send(
      { type: 'volumes', files },
      files.map((f) => f.bytes),
    );
  const read = async (f: File, path: string, role: NamedBytes['role']): Promise<NamedBytes> => ({
    name: f.name,
    path,
    bytes: await f.arrayBuffer(),
    role,
  });

  const imagesInput = el('input', { type: 'file', multiple: true, accept: '.gz,.nii', 'data-testid': 'tr-images' });
  const labelsInput = el('input', { type: 'file', multiple: true, accept: '.gz,.nii', 'data-testid': 'tr-labels' });
  const fromInputs = async (): Promise<void> => {
    const images = [...(imagesInput.files ?? [])];
    const labels = [...(labelsInput.files ?? [])];
    if (images.length === 0 || labels.length === 0) {
      setNote(images.length ? 'Now the files of labelsTr/ (the same names).' : 'Now the files of imagesTr/.', 'info');
      return;
    }
    setNote(`reading ${plural(images.length + labels.length, 'file')}…`, 'info');
    details.replaceChildren();
    sendFiles([
      ...(await Promise.all(images.map((f) => read(f, f.name, 'image')))),
      ...(await Promise.all(labels.map((f) => read(f, f.name, 'label')))),
    ]);
  };
  imagesInput.addEventListener('change', () => void fromInputs());
  labelsInput.addEventListener('change', () => void fromInputs());

  const fromDrop = async (files: DroppedFile[]): Promise<void> => {
    setNote(`reading ${plural(files.length, 'dropped file')}…`, 'info');
    details.replaceChildren();
    sendFiles(await Promise.all(files.map((d) => read(d.file, d.path, null))));
  };

  const section = el(
    'details',
    { class: 'drop', 'data-testid': 'tr-drop' },
    el('summary', {}, 'Train on real MRI slices (Medical Segmentation Decathlon, Task04 hippocampus)'),
    el(
      'p',
      {},
      'Drop the ',
      el('code', {}, 'imagesTr/'),
      ' and ',
      el('code', {}, 'labelsTr/'),
      ' folders (or some of their ',
      el('code', {}, '.nii.gz'),
      ' files) anywhere on this section, or choose the image files and the label files of the same names below. They are gunzipped in the page ',
      "(DecompressionStream), decoded by the library's NIfTI reader and cut into the same 48×32 slices as the command line does; ",
      'nothing leaves your computer. Dropped files are told apart by their folder names, else by their contents.',
    ),
    el('div', { class: 'buttons' }, el('label', {}, 'images ', imagesInput), el('label', {}, 'labels ', labelsInput)),
    note,
    details,
  );
  acceptDrops(
    section,
    (files) => void fromDrop(files),
    (message) => setNote(message, 'error'),
  );
  section.addEventListener('dragenter', () => {
    section.open = true;
  }); // show the inputs and notes while files hover

  return {
    section,
    choice,
    data: () => (msdRadio.checked ? 'msd' : 'synthetic'),
    setData(data) {
      (data === 'msd' && !msdRadio.disabled ? msdRadio : syntheticRadio).checked = true;
    },
    handle(msg) {
      if (msg.type === 'volumes-progress') {
        setNote(msg.text, 'info');
        return;
      }
      if (msg.ok) {
        loaded = msg.loaded;
        msdRadio.disabled = false;
        msdRadio.checked = true;
        msdLabel.textContent = `your MRI volumes (${plural(loaded.volumes, 'volume')} → ${plural(loaded.slices, 'slice')})`;
        setNote(`${loaded.text}; the next run trains on them.`, 'ok');
        details.replaceChildren(...loaded.notes.map((n) => el('li', {}, n)));
        onLoaded(true, loaded.text);
      } else {
        loaded = msg.kept;
        const reason = /[.!?]$/.test(msg.text) ? msg.text : `${msg.text}.`;
        setNote(
          `Could not use these files: ${reason} The next run trains on ${nextRun()}${loaded && msdRadio.checked ? ' (or choose “synthetic images” above)' : ''}.`,
          'error',
        );
        details.replaceChildren();
        onLoaded(false, msg.text);
      }
    },
  };
}

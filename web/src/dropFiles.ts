/**
 * Dropping files and folders on the page: a drop zone that takes files and whole folders (imagesTr/ and labelsTr/
 * at once, each file with its path inside the folder), and a guard so that a drop that misses the zone does not
 * make the browser open the file in place of the page.
 */

export interface DroppedFile {
  file: File;
  /** "Task04_Hippocampus/labelsTr/hippocampus_001.nii.gz" for a file inside a dropped folder, else the file name. */
  path: string;
}

function readAllEntries(dir: FileSystemDirectoryEntry): Promise<FileSystemEntry[]> {
  const reader = dir.createReader();
  const all: FileSystemEntry[] = [];
  return new Promise((resolve, reject) => {
    // readEntries returns the folder in batches (100 at a time in Chromium) and an empty batch at the end
    const next = (): void =>
      reader.readEntries((batch) => {
        if (batch.length === 0) resolve(all);
        else {
          all.push(...batch);
          next();
        }
      }, reject);
    next();
  });
}

async function filesOfEntry(entry: FileSystemEntry, out: DroppedFile[]): Promise<void> {
  if (entry.isFile) {
    const file = await new Promise<File>((resolve, reject) => (entry as FileSystemFileEntry).file(resolve, reject));
    out.push({ file, path: entry.fullPath.replace(/^\//, '') || file.name });
  } else if (entry.isDirectory) {
    for (const child of await readAllEntries(entry as FileSystemDirectoryEntry)) await filesOfEntry(child, out);
  }
}

/** Every file of a drop, folders walked recursively. Call it inside the drop event (the items expire after it). */
export function droppedFiles(data: DataTransfer): Promise<DroppedFile[]> {
  // take the entries now, synchronously: a DataTransfer's items are emptied once the event handler returns
  const entries: Array<FileSystemEntry | File> = [];
  for (const item of Array.from(data.items)) {
    if (item.kind !== 'file') continue;
    const entry = item.webkitGetAsEntry?.();
    const file = entry ? null : item.getAsFile();
    if (entry) entries.push(entry);
    else if (file) entries.push(file);
  }
  if (entries.length === 0) for (const file of Array.from(data.files)) entries.push(file);
  return (async () => {
    const out: DroppedFile[] = [];
    for (const e of entries) {
      if (e instanceof File) out.push({ file: e, path: e.name });
      else await filesOfEntry(e, out);
    }
    return out;
  })();
}

/** Accept file drops anywhere on `zone` (highlighted while files are dragged over it). */
export function acceptDrops(
  zone: HTMLElement,
  onFiles: (files: DroppedFile[]) => void,
  onError: (message: string) => void,
): void {
  const carriesFiles = (ev: DragEvent): boolean =>
    !!ev.dataTransfer && Array.from(ev.dataTransfer.types).includes('Files');
  zone.addEventListener('dragover', (ev) => {
    if (!carriesFiles(ev)) return;
    ev.preventDefault(); // cancelling dragover is what makes this a drop target
    ev.dataTransfer!.dropEffect = 'copy';
    zone.classList.add('dragging');
  });
  zone.addEventListener('dragleave', (ev) => {
    if (!zone.contains(ev.relatedTarget as Node | null)) zone.classList.remove('dragging');
  });
  zone.addEventListener('drop', (ev) => {
    zone.classList.remove('dragging');
    if (!ev.dataTransfer) return;
    ev.preventDefault();
    ev.stopPropagation();
    droppedFiles(ev.dataTransfer).then(onFiles, (e: unknown) =>
      onError(`could not read the dropped files: ${e instanceof Error ? e.message : String(e)}`),
    );
  });
}

/** Outside the drop zones a file drop does nothing (the browser would otherwise navigate to the file). */
export function ignoreStrayDrops(win: Window): void {
  win.addEventListener('dragover', (ev) => {
    if (ev.defaultPrevented) return;
    ev.preventDefault();
    if (ev.dataTransfer) ev.dataTransfer.dropEffect = 'none';
  });
  win.addEventListener('drop', (ev) => ev.preventDefault());
}

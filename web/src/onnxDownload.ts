/**
 * Panel 4's "download ONNX" button, page side: asks the training worker for the network it trained as an
 * .onnx file (web/src/onnxFile.ts builds it there with the library's exportOnnx) and saves what comes back
 * as a download. No library import here: the page's bundle stays as small as it was.
 */
import type { OnnxFileMessage } from './protocol.js';
import { button } from './ui.js';

/** The worker's answer to { type: 'exportOnnx' }: the file, or why there is none. */

export interface OnnxDownload {
  button: HTMLButtonElement;
  /** Enabled once a run has finished (done or stopped), disabled while one runs. */
  enable(on: boolean): void;
  /** Saves the worker's file as a download (or shows why there is none). */
  receive(msg: OnnxFileMessage): void;
}

/** `request` posts { type: 'exportOnnx' } to the worker. */
export function onnxDownload(request: () => void): OnnxDownload {
  const b = button(
    'download ONNX',
    () => {
      b.disabled = true;
      b.textContent = 'exporting…';
      request();
    },
    {
      'data-testid': 'tr-onnx',
      disabled: true,
      title: 'the trained network as an .onnx file for onnxruntime (Python, C++, C#, the web)',
    },
  );
  const reset = (on: boolean) => {
    b.disabled = !on;
    b.textContent = 'download ONNX';
  };
  return {
    button: b,
    enable: reset,
    receive(msg) {
      reset(true);
      if ('error' in msg) {
        b.title = `no ONNX file: ${msg.error}`;
        console.warn(`download ONNX: ${msg.error}`);
        return;
      }
      const url = URL.createObjectURL(new Blob([msg.bytes], { type: 'application/octet-stream' }));
      const a = document.createElement('a');
      a.href = url;
      a.download = msg.name;
      a.click();
      // the download has started from the URL; keep it a moment for browsers that read it asynchronously
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    },
  };
}

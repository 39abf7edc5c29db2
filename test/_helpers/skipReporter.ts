/**
 * After the default reporter's summary, one line per skipped suite (or skipped test outside a skipped suite):
 * where it is, why it was skipped and how to run it, from its skipNote (test/_helpers/skipNote.ts) or the note
 * of `ctx.skip(note)`. Skips without a note — tests left out by `-t`, `.only` or a file filter — are counted
 * in one line, so a filtered run does not print hundreds.
 */
import type { Reporter, TestCase, TestModule, TestSuite, Vitest } from 'vitest/node';
import type { SkipNote } from './skipNote.js';

export default class SkipReporter implements Reporter {
  private vitest: Vitest | undefined;

  onInit(vitest: Vitest): void {
    this.vitest = vitest;
  }

  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    const lines: string[] = [];
    let unexplained = 0;
    const report = (where: string, note: SkipNote | string | undefined): void => {
      if (note === undefined) unexplained++;
      else if (typeof note === 'string') lines.push(`skipped: ${where}: ${note}`);
      else lines.push(`skipped: ${where}: ${note.reason}; to run it: ${note.enable}`);
    };
    const visit = (module: TestModule, children: Iterable<TestCase | TestSuite>): void => {
      for (const child of children) {
        const where = `${module.relativeModuleId} > ${child.fullName}`;
        if (child.type === 'suite') {
          if (child.state() === 'skipped') report(where, child.meta().skipNote);
          else visit(module, child.children);
        } else {
          const result = child.result();
          if (result.state !== 'skipped' || child.options.mode === 'todo') continue;
          report(where, child.meta().skipNote ?? result.note);
        }
      }
    };
    for (const module of testModules) visit(module, module.children);
    if (unexplained > 0)
      lines.push(`skipped: ${unexplained} more without a recorded reason (left out by -t, .only or a filter)`);
    const log = (line: string): void => (this.vitest ? this.vitest.logger.log(line) : console.log(line));
    for (const line of lines) log(line);
  }
}

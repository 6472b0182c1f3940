import type { Command } from 'commander';
import { runDoctor } from '../../models/doctor.js';
import { printJson } from '../options.js';

export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .description('Versions, execution providers (and why others are unavailable), CPU, GPU and native modules.')
    .option('--json', 'print JSON')
    .action((opts: { json?: boolean }) => {
      const report = runDoctor();
      if (opts.json) {
        printJson(report);
        return;
      }
      console.log(`node      ${report.node} on ${report.platform}, ${report.cpu.threads} threads (${report.cpu.model}), ${report.memoryGiB} GiB`);
      console.log(`electron  ${report.electron.version ?? '-'}: ${report.electron.note}`);
      console.log(`gpu       ${report.gpus.length ? report.gpus.join('; ') : 'none found'}`);
      for (const p of report.providers) console.log(`provider  ${p.name.padEnd(7)} ${p.usable ? 'yes' : 'no '}  ${p.reason}`);
      for (const m of report.nativeModules) console.log(`module    ${m.name.padEnd(17)} ${m.ok ? m.version : `FAILED: ${m.error}`}`);
    });
}

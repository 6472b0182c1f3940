import { Command, CommanderError } from 'commander';
import { registerIndex } from './commands/indexCommand.js';
import { registerRatings } from './commands/ratingsCommand.js';
import { registerTag } from './commands/tagCommand.js';
import { registerList } from './commands/listCommand.js';
import { registerInfo } from './commands/infoCommand.js';
import { registerExport } from './commands/exportCommand.js';
import { registerSynth } from './commands/synthCommand.js';
import { registerDoctor } from './commands/doctorCommand.js';
import { registerModels } from './commands/modelsCommand.js';
import { registerScore } from './commands/scoreCommand.js';
import { registerAttribute } from './commands/attributeCommand.js';
import { registerRaters } from './commands/ratersCommand.js';
import { registerExplain } from './commands/explainCommand.js';
import { registerProbe } from './commands/probeCommand.js';
import { registerPseudoLabels } from './commands/pseudoLabelsCommand.js';
import { registerServe } from './commands/serveCommand.js';
import { registerApp } from './commands/appCommand.js';
import { registerProject } from './commands/projectCommand.js';
import { registerSimilar } from './commands/similarCommand.js';
import { registerDuplicates } from './commands/duplicatesCommand.js';
import { registerOutliers } from './commands/outliersCommand.js';
import { registerProbeLabels } from './commands/probeLabelsCommand.js';
import { registerRaterModels } from './commands/raterModelsCommand.js';
import { registerLabelIssues } from './commands/labelIssuesCommand.js';
import { registerIssues } from './commands/issuesCommand.js';

/** Thrown by commands for a failure the user can fix; printed as one line without a stack trace. */
export class CliError extends Error {}

export function buildProgram(): Command {
  const program = new Command('miru')
    .description('Miru: a workbench for image-aesthetics datasets (index, rate, tag, query, synthesise).')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  registerIndex(program);
  registerRatings(program);
  registerTag(program);
  registerList(program);
  registerInfo(program);
  registerExport(program);
  registerSynth(program);
  registerModels(program);
  registerScore(program);
  registerAttribute(program);
  registerRaters(program);
  registerExplain(program);
  registerProbe(program);
  registerProject(program);
  registerSimilar(program);
  registerDuplicates(program);
  registerOutliers(program);
  registerPseudoLabels(program);
  registerProbeLabels(program);
  registerRaterModels(program);
  registerLabelIssues(program);
  registerIssues(program);
  registerApp(program);
  registerDoctor(program);
  registerServe(program);
  return program;
}

/** Runs the CLI and returns the exit code: 0 success, 1 failure, 2 usage error. */
export async function runCli(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version exit through here with code 0; usage errors were already printed by commander.
      return error.exitCode === 0 ? 0 : 2;
    }
    console.error(`miru: ${(error as Error).message}`);
    if (process.env.MIRU_DEBUG) console.error((error as Error).stack);
    return 1;
  }
}

import type { Command } from 'commander';
import { promises as fs } from 'node:fs';
import { inspectModel, type ModelInfo } from '../../models/onnx/inspectModel.js';
import { loadOnnxModel } from '../../models/onnx/onnxModel.js';
import { missingGradientRules } from '../../explain/gradientGraph.js';
import { addModel, listModels } from '../../models/modelRegistry.js';
import type { PresetName } from '../../models/presets.js';
import { openDb, printJson } from '../options.js';

export function registerModels(program: Command): void {
  const models = program.command('models').description('ONNX models and their cards');
  models
    .command('inspect')
    .description('Inputs, outputs, opset, operators and the candidate layers (valid split points) of an ONNX model.')
    .argument('<model>', 'an .onnx file')
    .option('--output <name>', 'the output whose split points to list (default: the first)')
    .option('--json', 'print JSON')
    .action(async (file: string, opts: { output?: string; json?: boolean }) => {
      let bytes: Uint8Array;
      try {
        bytes = new Uint8Array(await fs.readFile(file));
      } catch (error) {
        throw new Error(`Cannot read model ${file}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}`);
      }
      const info = await inspectModel(bytes, { output: opts.output, sourceName: file });
      const gradientRules = gradientCoverage(bytes, info, opts.output);
      if (opts.json) {
        printJson({ ...info, gradientRules });
        return;
      }
      const shape = (s: (number | string)[]) => `[${s.join(', ')}]`;
      console.log(`IR ${info.irVersion}, opsets ${Object.entries(info.opsets).map(([d, v]) => `${d || 'ai.onnx'} ${v}`).join(', ')}, producer ${info.producer || '-'}`);
      for (const t of info.inputs) console.log(`input   ${t.name} ${shape(t.shape)} ${t.type}`);
      for (const t of info.outputs) console.log(`output  ${t.name} ${shape(t.shape)} ${t.type}`);
      console.log(`operators ${Object.entries(info.operators).sort((a, b) => b[1] - a[1]).map(([op, n]) => `${op}×${n}`).join(' ')}`);
      console.log(`layers (valid split points, input to output):`);
      for (const l of info.layers) console.log(`  ${l.kind.padEnd(7)} ${shape(l.shape).padEnd(22)} ${l.name}  (${l.op})`);
      if (gradientRules.missing.length === 0) console.log('gradient rules: every operator from the input to the output has one (all explain methods run on backward graphs)');
      else {
        console.log(`gradient rules: none for ${gradientRules.missing.join(', ')}: input-gradient methods are unavailable;`);
        console.log(`  gradcam/xgradcam at a layer before such an operator use central differences; ${gradientRules.layersWithRules.length} of ${info.layers.length} layers have rules all the way to the output`);
      }
    });
  models
    .command('add')
    .description('Add a model to the library with a card; the card is checked against the model first.')
    .argument('<model>', 'an .onnx file (a <model>.card.json beside it is used when no --card or --preset is given)')
    .requiredOption('--db <path>', 'library database file')
    .option('--name <name>', 'name to use in other commands (default: the card name or the file name)')
    .option('--preset <preset>', 'imagenet | clip | wd-tagger | deepghs-aesthetic')
    .option('--card <file>', 'a card JSON file; any field overrides the preset')
    .option('--json', 'print JSON')
    .action(async (file: string, opts: { db: string; name?: string; preset?: PresetName; card?: string; json?: boolean }) => {
      const db = openDb(opts.db, 'existing');
      try {
        const { model, replaced } = await addModel(db, file, { name: opts.name, preset: opts.preset, cardFile: opts.card });
        if (opts.json) printJson({ ...model, replaced });
        else {
          console.log(`Added "${model.name}" (${model.card.input.layout} ${model.card.input.size.join('x')}, ${model.card.input.channels}, score: ${model.card.outputs.score?.name ?? '-'} ${model.card.outputs.score?.kind ?? ''}, embedding: ${model.card.outputs.embedding?.name ?? '-'}).`);
          if (replaced) console.log(`It replaces an earlier "${model.name}" (another file or card): its ${replaced.runs} run(s) and ${replaced.saliencyMaps} saliency map(s) are kept under "${replaced.keptAs}"; score "${model.name}" again for the new version.`);
        }
      } finally {
        db.close();
      }
    });
  models
    .command('list')
    .description('Models in the library with their cards.')
    .requiredOption('--db <path>', 'library database file')
    .option('--json', 'print JSON')
    .action((opts: { db: string; json?: boolean }) => {
      const db = openDb(opts.db, 'existing');
      try {
        const list = listModels(db);
        if (opts.json) printJson(list);
        else if (list.length === 0) console.log('No models yet. Add one with `miru models add <model.onnx> --db D`.');
        else for (const m of list) console.log(`${m.name.padEnd(24)} ${m.card.input.layout} ${m.card.input.size.join('x')} ${m.card.input.channels}  ${m.path}`);
      } finally {
        db.close();
      }
    });
}

/**
 * Which operators lack a backward rule (issue 4): on the path from the input to the output (input-gradient
 * methods need all of them), and which layers have rules for everything after them (gradient CAMs there run on a
 * backward graph; elsewhere Grad-CAM falls back to central differences).
 */
function gradientCoverage(bytes: Uint8Array, info: ModelInfo, output: string | undefined): { missing: string[]; layersWithRules: string[] } {
  const model = loadOnnxModel(bytes);
  const out = output ?? info.outputs[0]?.name;
  if (!out || !info.inputs[0]) return { missing: [], layersWithRules: [] };
  return {
    missing: missingGradientRules(model, [info.inputs[0].name], out),
    layersWithRules: info.layers.filter((l) => missingGradientRules(model, [l.name], out).length === 0).map((l) => l.name),
  };
}

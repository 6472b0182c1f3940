import { InvalidArgumentError, type Command } from 'commander';
import { clearRaterGroups, listRaterGroups, readRaterGroupFile, setRaterGroups, type RaterGroupListing } from '../../library/raterGroups.js';
import { analyzeRaters, CONSENSUS_METHODS, type ConsensusMethod, type RaterAnalysisResult } from '../../analysis/raterAnalysis.js';
import { oneOf, openDb, positiveInt, printJson } from '../options.js';

function printListing(listing: RaterGroupListing): void {
  if (listing.groups.length === 0) console.log('No rater groups. Define them with `miru raters groups --db D --set groups.csv` (columns rater,group).');
  for (const g of listing.groups) console.log(`${g.group} (${g.raters.length}): ${g.raters.join(', ')}`);
  if (listing.ungrouped.length) console.log(`ungrouped (${listing.ungrouped.length}): ${listing.ungrouped.join(', ')}`);
}

function clustersOption(value: string): number | 'auto' {
  if (value === 'auto') return 'auto';
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`--clusters must be a positive whole number or "auto" (got ${JSON.stringify(value)}).`);
  return n;
}

const fixed = (x: number | null, digits = 3): string => (x === null ? '–' : (x >= 0 ? ' ' : '') + x.toFixed(digits));

function printAnalysis(r: RaterAnalysisResult): void {
  console.log(`${r.ratings} ratings by ${r.raterCount} raters on ${r.images} images (${r.alphaDetail.pairableUnits} images with two or more ratings).`);
  const alpha = (['nominal', 'ordinal', 'interval', 'ratio'] as const).map((m) => `${m} ${r.alpha[m] === null ? '–' : r.alpha[m]!.toFixed(3)}`).join(', ');
  console.log(`Krippendorff's alpha: ${alpha}`);
  for (const [metric, why] of Object.entries(r.alphaDetail.notes)) console.log(`  ${metric}: no value, ${why}`);
  console.log('');
  const width = Math.max(5, ...r.raters.map((x) => x.rater.length));
  console.log(`${'rater'.padEnd(width)}  count  spearman    bias  quality  cluster  spammer`);
  const order = [...r.raters].sort((a, b) => (a.cluster ?? Infinity) - (b.cluster ?? Infinity) || Number(a.spammer) - Number(b.spammer) || a.rater.localeCompare(b.rater));
  for (const x of order) {
    console.log(
      `${x.rater.padEnd(width)}  ${String(x.count).padStart(5)}  ${fixed(x.spearman).padStart(8)}  ${fixed(x.bias, 2).padStart(6)}  ${fixed(x.quality).padStart(7)}  ${String(x.cluster ?? '–').padStart(7)}  ${x.spammer ? 'yes' : ''}`,
    );
  }
  console.log('');
  const silhouette = r.clustering.silhouette === null ? '' : `, mean silhouette ${r.clustering.silhouette.toFixed(3)}`;
  console.log(`Clusters (k = ${r.clustering.k}${r.clustering.requested === 'auto' ? ', chosen by silhouette' : ''}${silhouette}):`);
  for (const c of r.clusters) console.log(`  ${c.id} (${c.size} raters, ${c.images} images, mean consensus ${c.meanConsensus ?? '–'}): ${c.raters.join(', ')}`);
  if (r.spammers.raters.length) console.log(`Spammers (kept out of the clusters): ${r.spammers.raters.join(', ')}`);
  const others = r.clustering.excluded.filter((e) => !r.spammers.raters.includes(e.rater));
  for (const e of others) console.log(`Not clustered: ${e.rater}: ${e.reason}`);
  const model = r.consensus.model ? ` with model ${r.consensus.model.name} (run ${r.consensus.model.runId}, weight ${r.consensus.model.weight ?? '–'})` : '';
  console.log(`Consensus: ${r.consensus.method}${model} for ${r.consensus.images} images (analysis ${r.consensus.analysisId}).`);
  if (r.stratified) console.log(`Stratified consensus: ${r.stratified.images} images, Spearman ${r.stratified.spearmanWithMean ?? '–'} with the plain mean (analysis ${r.stratified.analysisId}).`);
  if (r.truth) {
    const s = r.truth.spammers;
    console.log(`Against the truth: adjusted Rand index ${r.truth.ari ?? '–'} over ${r.truth.compared} raters; spammers found ${s.found} of ${s.truth.length}${s.missed.length ? ` (missed ${s.missed.join(', ')})` : ''}${s.falseAlarms.length ? `, false alarms ${s.falseAlarms.join(', ')}` : ''}.`);
  }
  if (r.savedGroups) console.log(`Saved the clusters as rater groups cluster-1..cluster-${r.clustering.k} (${r.savedGroups.set} set, ${r.savedGroups.cleared} removed, ${r.savedGroups.unchanged} unchanged); use them with \`miru attribute --rater-group cluster-1\`.`);
  for (const note of r.notes) console.log(`Note: ${note}`);
}

export function registerRaters(program: Command): void {
  const raters = program
    .command('raters')
    .description('Human raters: agreement (Krippendorff\'s alpha, kappa), per-rater quality, consensus, rater clusters; `raters groups` manages rater groups.')
    .option('--db <path>', 'library database file')
    .option('--clusters <k>', 'number of rater clusters, or "auto" to choose by silhouette', clustersOption, 'auto' as number | 'auto')
    .option('--consensus <method>', `consensus per image: ${CONSENSUS_METHODS.join(', ')} (default mean; crowdlab with --model)`, oneOf('--consensus', CONSENSUS_METHODS))
    .option('--model <name>', 'weigh this model\'s class probabilities (its latest score run) into the CROWDLAB consensus')
    .option('--truth <truth.json>', 'a synth dataset\'s truth.json (or its folder): report the adjusted Rand index and the spammers found')
    .option('--min-common <n>', 'images two raters must share before their kappa and correlation count', positiveInt('--min-common'), 10)
    .option('--save-groups', 'store the clusters as rater groups cluster-1, cluster-2, ... (for `miru attribute --rater-group`)')
    .option('--json', 'print JSON')
    .action(async (opts: { db?: string; clusters: number | 'auto'; consensus?: ConsensusMethod; model?: string; truth?: string; minCommon: number; saveGroups?: boolean; json?: boolean }) => {
      const db = openDb(opts.db, 'existing');
      try {
        const result = await analyzeRaters(db, {
          clusters: opts.clusters,
          consensus: opts.consensus,
          model: opts.model,
          truth: opts.truth,
          minCommon: opts.minCommon,
          saveGroups: opts.saveGroups,
        });
        if (opts.json) printJson(result);
        else printAnalysis(result);
      } finally {
        db.close();
      }
    });
  raters
    .command('groups')
    .description('Define or list rater groups (e.g. preference groups), used by `miru attribute --rater-group G`.')
    // Not required here: `raters` itself has --db and --json, and commander hands them to the parent whichever
    // side of `groups` they are written, so the action reads them with optsWithGlobals().
    .option('--db <path>', 'library database file')
    .option('--set <file>', 'assign groups: a CSV with rater,group columns, a JSON {"rater": "group"} object or [{"rater","group"}] array, or a synth truth.json')
    .option('--clear', 'remove every rater group (before --set, when both are given)')
    .option('--list', 'list the groups and their raters (the default)')
    .option('--json', 'print JSON')
    .action(async (_local: unknown, command: Command) => {
      const opts = command.optsWithGlobals<{ db?: string; set?: string; clear?: boolean; list?: boolean; json?: boolean }>();
      // The file is read and checked before the library is touched, so a bad file changes nothing.
      const entries = opts.set ? await readRaterGroupFile(opts.set) : null;
      const db = openDb(opts.db, 'existing');
      try {
        const out: Record<string, unknown> = {};
        if (opts.clear) {
          if (entries) {
            // One transaction for clear + set, so an unknown rater in the file leaves the old groups in place.
            db.transaction(() => {
              out.cleared = clearRaterGroups(db);
              out.set = setRaterGroups(db, entries);
            })();
          } else out.cleared = clearRaterGroups(db);
        } else if (entries) out.set = setRaterGroups(db, entries);
        const listing = listRaterGroups(db);
        if (opts.json) {
          printJson({ ...out, ...listing });
          return;
        }
        if (out.cleared !== undefined) console.log(`Removed the groups of ${out.cleared as number} raters.`);
        if (out.set) {
          const s = out.set as ReturnType<typeof setRaterGroups>;
          console.log(`Set the group of ${s.set} raters, removed ${s.cleared}, ${s.unchanged} unchanged.`);
        }
        if (!out.set && out.cleared === undefined) printListing(listing);
        else if (opts.list) printListing(listing);
        else for (const g of listing.groups) console.log(`  ${g.group}: ${g.raters.length} raters`);
      } finally {
        db.close();
      }
    });
}

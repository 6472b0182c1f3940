import type { Command } from 'commander';
import { clearRaterGroups, listRaterGroups, readRaterGroupFile, setRaterGroups, type RaterGroupListing } from '../../library/raterGroups.js';
import { openDb, printJson } from '../options.js';

function printListing(listing: RaterGroupListing): void {
  if (listing.groups.length === 0) console.log('No rater groups. Define them with `miru raters groups --db D --set groups.csv` (columns rater,group).');
  for (const g of listing.groups) console.log(`${g.group} (${g.raters.length}): ${g.raters.join(', ')}`);
  if (listing.ungrouped.length) console.log(`ungrouped (${listing.ungrouped.length}): ${listing.ungrouped.join(', ')}`);
}

export function registerRaters(program: Command): void {
  const raters = program.command('raters').description('Human raters');
  raters
    .command('groups')
    .description('Define or list rater groups (e.g. preference groups), used by `miru attribute --rater-group G`.')
    .requiredOption('--db <path>', 'library database file')
    .option('--set <file>', 'assign groups: a CSV with rater,group columns, a JSON {"rater": "group"} object or [{"rater","group"}] array, or a synth truth.json')
    .option('--clear', 'remove every rater group (before --set, when both are given)')
    .option('--list', 'list the groups and their raters (the default)')
    .option('--json', 'print JSON')
    .action(async (opts: { db: string; set?: string; clear?: boolean; list?: boolean; json?: boolean }) => {
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

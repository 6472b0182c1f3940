import type { Command } from 'commander';
import { changeTag, listTags } from '../../library/tags.js';
import { openDb, printJson } from '../options.js';

export function registerTag(program: Command): void {
  const tag = program.command('tag').description('Hand tags on images (images named by relative path, content hash or id)');
  for (const action of ['add', 'remove'] as const) {
    tag
      .command(action)
      .description(action === 'add' ? 'Tag images' : 'Remove a tag from images')
      .argument('<tag>', 'tag name, e.g. outlier')
      .argument('<images...>', 'relative paths, content hashes or ids')
      .requiredOption('--db <path>', 'library database file')
      .option('--json', 'print JSON')
      .action((name: string, images: string[], opts: { db: string; json?: boolean }) => {
        const db = openDb(opts.db, 'existing');
        try {
          const result = changeTag(db, action, name, images);
          if (opts.json) printJson(result);
          if (result.unknown.length) {
            const list = result.unknown.map((u) => `  ${u.error}`).join('\n');
            throw new Error(`nothing was ${action === 'add' ? 'tagged' : 'untagged'}: ${result.unknown.length} image name(s) not found\n${list}`);
          }
          if (!opts.json) console.log(`${action === 'add' ? 'Tagged' : 'Untagged'} ${result.changed} images with "${name}" (${result.unchanged} already ${action === 'add' ? 'had it' : 'lacked it'}).`);
        } finally {
          db.close();
        }
      });
  }
  tag
    .command('list')
    .description('List tags with image counts')
    .requiredOption('--db <path>', 'library database file')
    .option('--json', 'print JSON')
    .action((opts: { db: string; json?: boolean }) => {
      const db = openDb(opts.db, 'existing');
      try {
        const tags = listTags(db);
        if (opts.json) printJson(tags);
        else if (tags.length === 0) console.log('No tags yet. Add one with `miru tag add TAG IMAGE... --db D`.');
        else for (const t of tags) console.log(`${String(t.images).padStart(8)}  ${t.tag}`);
      } finally {
        db.close();
      }
    });
}

#!/usr/bin/env node
// Entry point for `npx miru`: runs the compiled CLI from dist/ (built by `npm install` via the prepare script).
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const main = fileURLToPath(new URL('../dist/core/cli/main.js', import.meta.url));
if (!existsSync(main)) {
  console.error('miru: the CLI is not built yet. Run `npm install` (or `npm run build`) in the project root.');
  process.exit(1);
}
// `miru export ... | head` closes the pipe early: that is the reader being done, not an error.
process.stdout.on('error', (error) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});
const { runCli } = await import(pathToFileURL(main).href);
process.exitCode = await runCli(process.argv.slice(2));

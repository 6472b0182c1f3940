// `npm test` runs this after the build: every compiled *.test.js under dist/test, in node's test runner.
// (Passing the folder itself would also run helper modules as if they were test files.)
import { readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const files = (readdirSync(path.join(root, 'dist/test'), { recursive: true }) as string[])
  .filter((file) => file.endsWith('.test.js'))
  .sort()
  .map((file) => path.join('dist/test', file));
const result = spawnSync(process.execPath, ['--test', '--test-concurrency=2', ...process.argv.slice(2), ...files], { cwd: root, stdio: 'inherit' });
process.exit(result.status ?? 1);

// `npm run gpu:cuda`: the explicit opt-in to GPU inference with CUDA on Linux/Windows x64. onnxruntime-node
// ships its CUDA provider outside the npm registry, so `.npmrc` skips that download on a normal install; this
// runs onnxruntime-node's own installer with the CUDA 12 flag. Needs internet access and an NVIDIA driver.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { providerStatuses } from '../core/models/executionProviders.js';

const require = createRequire(import.meta.url);
const installer = path.join(path.dirname(require.resolve('onnxruntime-node/package.json')), 'script', 'install.js');
// The environment variable wins over the `skip` that npm passes down from .npmrc; `true` installs what the
// platform requires (CUDA 12 on Linux/Windows x64). The installer exits early when it thinks it runs inside
// `npm install` of its own package, which npm's local-prefix variables would suggest here, so drop them.
const env: NodeJS.ProcessEnv = { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'true' };
delete env.npm_config_local_prefix;
delete env.npm_package_json;
const result = spawnSync(process.execPath, [installer], { stdio: 'inherit', env });
const cuda = providerStatuses().find((p) => p.name === 'cuda')!;
if (result.status !== 0 || !cuda.usable) {
  console.error('\nInstalling the CUDA provider failed (see above). It downloads from outside the npm registry, so it needs internet access.');
  process.exit(result.status ?? 1);
}
console.log('CUDA provider installed. Check with `npx miru doctor`; `--ep auto` now tries CUDA first.');

// What `import('electron')` gives dist/electron/main.js in mainEntry.test.ts: the fakes, also left on globalThis so
// the test can fire `ready` and inspect what the entry point did.
import { tempDir } from '../../helpers/paths.js';
import { fakeElectron } from '../fakes.js';

const fake = fakeElectron(tempDir('miru-userdata-'));
(globalThis as { __miruFakeElectron?: typeof fake }).__miruFakeElectron = fake;
export default fake.electron;

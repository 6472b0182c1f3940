// Module-resolution hook for mainEntry.test.ts: `import('electron')` in dist/electron/main.js resolves to the fake
// main-process module beside this file, so the real entry point runs under plain Node.
const fakeModule = new URL('./fakeElectronModule.js', import.meta.url).href;

type Next = (specifier: string, context: unknown) => Promise<{ url: string }>;

export async function resolve(specifier: string, context: unknown, next: Next): Promise<{ url: string; shortCircuit?: boolean }> {
  if (specifier === 'electron') return { url: fakeModule, shortCircuit: true };
  return next(specifier, context);
}

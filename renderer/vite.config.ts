// Builds renderer/ into dist/renderer/, served by both hosts: `miru serve` over http://127.0.0.1 and the Electron
// host at miru://app/index.html. Relative asset URLs (base './') work under both origins.
import { defineConfig } from 'vite';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root: here,
  base: './',
  // No React plugin: TSX compiles with the automatic runtime from tsconfig's "jsx"; hot reload is not needed.
  build: {
    outDir: fileURLToPath(new URL('../dist/renderer', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
    // One small app: no module preload polyfill (it would be an inline script, which the Electron CSP forbids).
    modulePreload: { polyfill: false },
    chunkSizeWarningLimit: 1024,
  },
  server: { port: 5173, strictPort: false },
});

import type { Command } from 'commander';
import { spawn } from 'node:child_process';
import { createMiruService } from '../../api/miruService.js';
import { startHttpHost } from '../../api/httpHost.js';
import type { ProviderChoice } from '../../models/executionProviders.js';
import { wholeNumber } from '../options.js';

/** Opens a URL in the default browser; failing softly (a headless machine has none) with a note. */
export function openInBrowser(url: string, platform: NodeJS.Platform = process.platform): void {
  const [command, args] =
    platform === 'darwin' ? ['open', [url]] : platform === 'win32' ? ['cmd', ['/c', 'start', '""', url]] : ['xdg-open', [url]];
  try {
    const child = spawn(command, args as string[], { detached: true, stdio: 'ignore', windowsHide: true });
    child.on('error', (error) => console.error(`miru: could not open a browser (${error.message}); open the URL above yourself.`));
    child.unref();
  } catch (error) {
    console.error(`miru: could not open a browser (${(error as Error).message}); open the URL above yourself.`);
  }
}

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('Serve the workbench UI and API to a browser on 127.0.0.1, with a per-launch access token.')
    .requiredOption('--db <path>', 'library database file (created empty if missing)')
    .option('--port <n>', 'port on 127.0.0.1 (default: a free one)', wholeNumber('--port'))
    .option('--open', 'open the URL in the default browser')
    .option('--ep <provider>', 'execution provider for saliency and jobs: auto | cuda | webgpu | dml | coreml | cpu', 'auto')
    .option('--json', 'print {"url", "port", "token"} as one JSON line once listening')
    .action(async (opts: { db: string; port?: number; open?: boolean; ep: ProviderChoice; json?: boolean }) => {
      const port = opts.port ?? 0;
      if (port < 0 || port > 65535) throw new Error(`--port must be from 0 to 65535 (got ${port}).`);
      const service = createMiruService(opts.db, { ep: opts.ep });
      let host;
      try {
        host = await startHttpHost(service, { port, log: (message) => process.stderr.write(`miru serve: ${message}\n`) });
      } catch (error) {
        await service.close();
        throw error;
      }
      if (opts.json) process.stdout.write(`${JSON.stringify({ url: host.url, port: host.port, token: host.token })}\n`);
      else {
        console.log(`Miru is serving ${service.dbPath}`);
        console.log(`Open ${host.url}`);
        console.log('Only this machine can connect (127.0.0.1); the token in the URL is new each launch. Press Ctrl-C to stop.');
        console.log(`Over SSH, forward the same port: ssh -L ${host.port}:127.0.0.1:${host.port} <workstation>`);
      }
      if (opts.open) openInBrowser(host.url);
      await new Promise<void>((resolve) => {
        const stop = () => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          resolve();
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
      await host.close();
      await service.close();
    });
}

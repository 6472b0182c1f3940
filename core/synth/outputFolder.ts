// The synth output folder: never clobber a folder that isn't ours, and never leave a truth.json or
// ratings.csv that describes images which aren't there.
//
// Ownership is marked by a small file written before anything else. A folder is ours to overwrite when it has
// the marker and nothing but the entries synth writes (plus OS litter such as .DS_Store).
import { mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { imagesFolderName, ratingsFileName, truthFileName } from './truthFile.js';

export const synthMarkerFileName = '.miru-synth.json';

const ownEntries = new Set([
  synthMarkerFileName,
  imagesFolderName,
  ratingsFileName,
  truthFileName,
  `${ratingsFileName}.tmp`,
  `${truthFileName}.tmp`,
]);
const osLitter = new Set(['.DS_Store', 'Thumbs.db', 'desktop.ini']);

async function isSynthMarker(file: string): Promise<boolean> {
  try {
    const parsed: unknown = JSON.parse(await readFile(file, 'utf8'));
    return typeof parsed === 'object' && parsed !== null && (parsed as { generator?: unknown }).generator === 'miru synth';
  } catch {
    return false;
  }
}

/**
 * Makes outDir ready for a fresh dataset: creates it, or empties a previous synth output. Throws, changing
 * nothing, when outDir is a file or a non-empty folder that isn't a synth output.
 */
export async function prepareOutputFolder(outDir: string): Promise<void> {
  const info = await stat(outDir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return null;
    throw error;
  });
  if (info && !info.isDirectory()) {
    throw new Error(`synth: ${outDir} exists and is not a folder; choose another output folder.`);
  }
  if (info) {
    const entries = (await readdir(outDir)).filter((name) => !osLitter.has(name));
    if (entries.length > 0) {
      const foreign = entries.filter((name) => !ownEntries.has(name));
      const marked = await isSynthMarker(path.join(outDir, synthMarkerFileName));
      if (!marked || foreign.length > 0) {
        const shown = (foreign.length > 0 ? foreign : entries).slice(0, 5).join(', ');
        throw new Error(
          `synth: ${outDir} is not empty and does not look like a previous synth output (found: ${shown}); ` +
            'choose an empty or new folder so nothing of yours is overwritten.',
        );
      }
      // Truth and ratings go first: if we crash below, no file claims images that are gone.
      for (const name of [truthFileName, ratingsFileName, `${truthFileName}.tmp`, `${ratingsFileName}.tmp`]) {
        await rm(path.join(outDir, name), { force: true });
      }
      await rm(path.join(outDir, imagesFolderName), { recursive: true, force: true });
    }
  }
  await mkdir(path.join(outDir, imagesFolderName), { recursive: true });
  await writeFile(
    path.join(outDir, synthMarkerFileName),
    JSON.stringify({ generator: 'miru synth', note: 'This folder is written by `miru synth` and may be overwritten by it.' }, null, 2) + '\n',
  );
}

/** Writes via a temporary file and a rename, so a reader never sees half a file. */
export async function writeFileAtomic(file: string, contents: string | Iterable<string>): Promise<void> {
  const temp = `${file}.tmp`;
  if (typeof contents === 'string') {
    await writeFile(temp, contents);
  } else {
    const handle = await open(temp, 'w');
    try {
      for (const chunk of contents) await handle.write(chunk);
    } finally {
      await handle.close();
    }
  }
  await rename(temp, file);
}

import xxhash from 'xxhash-wasm';

type Hasher = Awaited<ReturnType<typeof xxhash>>;
let hasher: Promise<Hasher> | undefined;

/**
 * Content hash of a file's bytes: xxHash64 as 16 hex digits. Not cryptographic; it identifies files for
 * move detection and the thumbnail cache, where speed matters (several GB/s in WASM) and collisions among a
 * million files are vanishingly rare.
 */
export async function contentHash(bytes: Uint8Array): Promise<string> {
  hasher ??= xxhash();
  const { h64Raw } = await hasher;
  return h64Raw(bytes).toString(16).padStart(16, '0');
}

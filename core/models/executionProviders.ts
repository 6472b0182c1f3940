import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import os from 'node:os';

/**
 * Execution providers: which accelerators onnxruntime-node can use here, best first, and why the others can't.
 * `auto` tries them in order and falls back to the CPU, and every result says which provider actually ran.
 */
export const PROVIDER_NAMES = ['cuda', 'dml', 'webgpu', 'coreml', 'cpu'] as const;
export type ProviderName = (typeof PROVIDER_NAMES)[number];
export type ProviderChoice = ProviderName | 'auto';

export interface ProviderStatus {
  name: ProviderName;
  /** Whether it is worth trying on this machine (binaries present, platform matches). */
  usable: boolean;
  /** Why not, or a note on how it is provided. */
  reason: string;
  /** False for providers that never exist on this platform (DirectML off Windows): not worth a fallback note. */
  onThisPlatform: boolean;
}

const require = createRequire(import.meta.url);

/** The folder holding onnxruntime-node's native binaries for this platform (where CUDA libraries get installed). */
export function onnxRuntimeBinFolder(): string {
  const packageJson = require.resolve('onnxruntime-node/package.json');
  return path.join(path.dirname(packageJson), 'bin', 'napi-v6', process.platform, process.arch);
}

export const CUDA_INSTALL_HINT = 'run `npm run gpu:cuda` once on a machine with internet access (needs an NVIDIA driver with CUDA 12)';

function bundledBackends(): Set<string> {
  // listSupportedBackends() reports what this onnxruntime-node build knows, bundled or installable.
  const ort = require('onnxruntime-node') as { listSupportedBackends?: () => { name: string; bundled: boolean }[] };
  return new Set((ort.listSupportedBackends?.() ?? [{ name: 'cpu', bundled: true }]).map((b) => b.name));
}

const VULKAN_LIBRARIES = ['/usr/lib/x86_64-linux-gnu/libvulkan.so.1', '/usr/lib/aarch64-linux-gnu/libvulkan.so.1', '/usr/lib64/libvulkan.so.1', '/usr/lib/libvulkan.so.1'];

/** Status of every provider on this machine, in the order `auto` tries them. */
export function providerStatuses(): ProviderStatus[] {
  const known = bundledBackends();
  const platform = process.platform;
  const statuses: ProviderStatus[] = [];
  const cudaLibrary = path.join(onnxRuntimeBinFolder(), platform === 'win32' ? 'onnxruntime_providers_cuda.dll' : 'libonnxruntime_providers_cuda.so');
  if (!known.has('cuda') || (platform !== 'linux' && platform !== 'win32')) {
    statuses.push({ name: 'cuda', usable: false, reason: `onnxruntime-node has no CUDA provider for ${platform}/${process.arch}`, onThisPlatform: false });
  } else if (!existsSync(cudaLibrary)) {
    statuses.push({ name: 'cuda', usable: false, reason: `the CUDA provider libraries are not installed: ${CUDA_INSTALL_HINT}`, onThisPlatform: true });
  } else statuses.push({ name: 'cuda', usable: true, reason: `CUDA provider libraries in ${path.dirname(cudaLibrary)}`, onThisPlatform: true });

  statuses.push(
    platform === 'win32' && known.has('dml')
      ? { name: 'dml', usable: true, reason: 'DirectML is bundled on Windows', onThisPlatform: true }
      : { name: 'dml', usable: false, reason: 'DirectML exists only on Windows', onThisPlatform: false },
  );

  if (!known.has('webgpu')) statuses.push({ name: 'webgpu', usable: false, reason: 'this onnxruntime-node build has no WebGPU provider', onThisPlatform: false });
  else if (platform === 'linux' && !VULKAN_LIBRARIES.some((lib) => existsSync(lib))) {
    statuses.push({ name: 'webgpu', usable: false, reason: 'WebGPU on Linux needs Vulkan (libvulkan.so.1 not found; install your GPU driver\'s Vulkan support)', onThisPlatform: true });
  } else statuses.push({ name: 'webgpu', usable: true, reason: 'bundled; needs a GPU adapter at run time', onThisPlatform: true });

  statuses.push(
    platform === 'darwin' && known.has('coreml')
      ? { name: 'coreml', usable: true, reason: 'CoreML is bundled on macOS', onThisPlatform: true }
      : { name: 'coreml', usable: false, reason: 'CoreML exists only on macOS', onThisPlatform: false },
  );
  statuses.push({ name: 'cpu', usable: true, reason: `bundled; ${os.availableParallelism()} threads`, onThisPlatform: true });
  return statuses;
}

/**
 * The providers to try for a choice, in order. An explicit choice is tried alone (failing clearly if it cannot
 * run); `auto` tries every usable provider best first, ending with the CPU.
 */
export function providerPlan(choice: ProviderChoice): { tryOrder: ProviderName[]; skipped: ProviderStatus[] } {
  if (choice !== 'auto' && !(PROVIDER_NAMES as readonly string[]).includes(choice)) {
    throw new Error(`Unknown execution provider ${JSON.stringify(choice)}; use one of auto, ${PROVIDER_NAMES.join(', ')}.`);
  }
  const statuses = providerStatuses();
  if (choice !== 'auto') {
    const status = statuses.find((s) => s.name === choice)!;
    if (!status.usable) throw new Error(`The ${choice} execution provider cannot run here: ${status.reason}. Use --ep auto or --ep cpu.`);
    return { tryOrder: [choice], skipped: [] };
  }
  return { tryOrder: statuses.filter((s) => s.usable).map((s) => s.name), skipped: statuses.filter((s) => !s.usable) };
}

import { InvalidArgumentError } from 'commander';
import { openLibrary, type LibraryDb } from '../library/openLibrary.js';

/** Commander parser for options that must be positive whole numbers; names the option in its error. */
export function positiveInt(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a positive whole number (got ${JSON.stringify(value)}).`);
    return n;
  };
}

/** Commander parser for whole-number options whose range the core function checks (and names in its error). */
export function wholeNumber(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isInteger(n)) throw new InvalidArgumentError(`${name} must be a whole number (got ${JSON.stringify(value)}).`);
    return n;
  };
}

/** Commander parser for numeric options whose range the core function checks (and names in its error). */
export function finiteNumber(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`${name} must be a number (got ${JSON.stringify(value)}).`);
    return n;
  };
}

/** Commander parser for a number above zero (a penalty, a temperature). */
export function positiveNumber(name: string) {
  return (value: string): number => {
    const x = Number(value);
    if (value.trim() === '' || !(x > 0) || !Number.isFinite(x)) throw new InvalidArgumentError(`${name} must be a positive number (got ${JSON.stringify(value)}).`);
    return x;
  };
}

/** Commander parser for a positive number or "auto" (a penalty chosen by cross-validation). */
export function positiveOrAuto(name: string) {
  const number = positiveNumber(name);
  return (value: string): number | 'auto' => {
    if (value === 'auto') return 'auto';
    try {
      return number(value);
    } catch {
      throw new InvalidArgumentError(`${name} must be a positive number or auto (got ${JSON.stringify(value)}).`);
    }
  };
}

/** Commander parser for a fraction in (0, 1] (a share of something to keep or report). */
export function unitFraction(name: string) {
  return (value: string): number => {
    const x = Number(value);
    if (value.trim() === '' || !(x > 0 && x <= 1)) throw new InvalidArgumentError(`${name} must be a number in (0, 1] (got ${JSON.stringify(value)}).`);
    return x;
  };
}

/** A choice among fixed names, refused with the list when it is none of them. */
export function oneOf<T extends string>(name: string, choices: readonly T[]) {
  return (value: string): T => {
    if (!(choices as readonly string[]).includes(value)) throw new InvalidArgumentError(`${name} must be one of ${choices.join(', ')} (got ${JSON.stringify(value)}).`);
    return value as T;
  };
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** Opens the library named by --db; read-style commands refuse to create a new empty one by mistake. */
export function openDb(dbPath: string | undefined, mode: 'create' | 'existing'): LibraryDb {
  if (!dbPath) throw new Error('Name the library with --db PATH (a .db file; `miru index` creates it).');
  return openLibrary(dbPath, { mustExist: mode === 'existing' });
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Ctrl-C aborts the returned signal (jobs stop after the work in flight and keep what they wrote); dispose unhooks it. */
export function interruptible(reason?: Error): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const onSigint = () => controller.abort(reason);
  process.once('SIGINT', onSigint);
  return { signal: controller.signal, dispose: () => process.off('SIGINT', onSigint) };
}

/**
 * After a job that stopped early on Ctrl-C and kept what it finished: says how to go on, and exits 130 (the
 * shell's code for SIGINT) so scripts can tell an interrupted run from a finished one.
 */
export function reportInterrupted(signal: AbortSignal): void {
  if (!signal.aborted) return;
  console.error('Interrupted: what finished is saved; run the same command again to resume.');
  process.exitCode = 130;
}

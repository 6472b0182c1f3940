/** Number and time formatting shared by the UI, so the same value reads the same everywhere. */

const INTEGER_FIELDS = new Set(['id', 'bytes', 'width', 'height', 'ratingCount', 'mtime', 'isGrayscale']);

export function isIntegerField(field: string): boolean {
  return INTEGER_FIELDS.has(field);
}

export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

export function formatValue(field: string, v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  if (field === 'bytes') return formatBytes(v);
  if (field === 'mtime') return new Date(v).toISOString().slice(0, 10);
  if (isIntegerField(field) || Math.abs(v) >= 1000) return Math.round(v).toLocaleString('en-US');
  if (v === 0) return '0';
  const abs = Math.abs(v);
  return abs >= 100 ? v.toFixed(0) : abs >= 10 ? v.toFixed(1) : abs >= 0.01 ? v.toFixed(abs >= 1 ? 2 : 3) : v.toPrecision(2);
}

export function formatBytes(bytes: number): string {
  if (bytes >= 1 << 30) return `${(bytes / (1 << 30)).toFixed(1)} GiB`;
  if (bytes >= 1 << 20) return `${(bytes / (1 << 20)).toFixed(1)} MiB`;
  if (bytes >= 1 << 10) return `${(bytes / (1 << 10)).toFixed(0)} KiB`;
  return `${bytes} B`;
}

export function formatDuration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return '';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, '0')}m`;
}

export function formatElapsed(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

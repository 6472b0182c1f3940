// Reading given labels and out-of-sample predicted probabilities made outside Miru (researchers' own
// cross-validation runs), for `miru label-issues`. Both come as JSON or CSV; every problem is reported with the
// file, the line or element, and what to change. Probabilities are used exactly as written: a row may miss 1 by
// rounding (SUM_TOLERANCE) but is never silently renormalised, since a row that is far off usually means logits,
// multi-label sigmoid outputs or a shifted column.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import type { LabelInputs } from './confidentLearning.js';

/** How far a row of probabilities may miss a total of 1 (rounding in a CSV written with 3 decimals stays inside). */
export const SUM_TOLERANCE = 0.01;

/** Header names that mark the label column in a CSV with several columns. */
const LABEL_COLUMNS = ['label', 'labels', 'given_label'];

type Format = 'json' | 'csv';

function formatOf(file: string, text: string): Format {
  const ext = path.extname(file).toLowerCase();
  if (ext === '.json') return 'json';
  if (ext === '.csv' || ext === '.tsv' || ext === '.txt') return 'csv';
  return text.trimStart().startsWith('[') ? 'json' : 'csv';
}

async function readText(file: string, what: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new Error(`Cannot read the ${what} file ${file}: ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a folder' : (error as Error).message}.`);
  }
}

interface CsvRecord {
  line: number;
  cells: string[];
}

function readCsv(file: string, text: string): CsvRecord[] {
  const delimiter = file.toLowerCase().endsWith('.tsv') || (!text.slice(0, text.indexOf('\n') >>> 0).includes(',') && text.includes('\t')) ? '\t' : ',';
  // Without quotes a CSV is lines of delimited cells; splitting them directly reads a 1M-row file ten times faster
  // than csv-parse, with the same result (trimmed cells, blank lines skipped, line numbers kept).
  if (!text.includes('"')) {
    const out: CsvRecord[] = [];
    const lines = (text.charCodeAt(0) === 0xfeff ? text.slice(1) : text).split('\n');
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!.trim();
      if (line !== '') out.push({ line: i + 1, cells: line.split(delimiter).map((c) => c.trim()) });
    }
    return out;
  }
  let records: { record: string[]; info: { lines: number } }[];
  try {
    records = parse(text, { bom: true, trim: true, skip_empty_lines: true, relax_column_count: true, info: true, delimiter }) as unknown as typeof records;
  } catch (error) {
    throw new Error(`${file} is not a readable CSV: ${(error as Error).message}`);
  }
  return records.map((r) => ({ line: r.info.lines, cells: r.record }));
}

/** A CSV cell as a number, or null when it is not one (so a first row of names reads as a header). */
function numeric(cell: string): number | null {
  if (cell.trim() === '') return null;
  const v = Number(cell);
  return Number.isNaN(v) && !/^nan$/i.test(cell.trim()) ? null : v;
}

function isHeader(cells: string[]): boolean {
  return cells.some((c) => numeric(c) === null);
}

function checkLabel(value: unknown, where: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new Error(`${where}: ${JSON.stringify(value)} is not a class index (a whole number 0, 1, 2, ...). Labels must be 0-based class indices matching the pred-probs columns.`);
  }
  return value;
}

/** Given labels: a JSON array of class indices, or a CSV of one column (or a column named label, labels or given_label). */
export function parseLabels(text: string, file: string): Int32Array {
  const name = path.basename(file);
  if (formatOf(file, text) === 'json') {
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (error) {
      throw new Error(`${name} is not valid JSON: ${(error as Error).message}`);
    }
    if (!Array.isArray(data)) throw new Error(`${name} must hold a JSON array of class indices, e.g. [0, 2, 1].`);
    if (data.length === 0) throw new Error(`${name} holds no labels.`);
    return Int32Array.from(data, (v, i) => checkLabel(v, `${name} element [${i}]`));
  }
  const records = readCsv(file, text);
  if (records.length === 0) throw new Error(`${name} holds no labels.`);
  let column = 0;
  let start = 0;
  const first = records[0]!;
  if (isHeader(first.cells)) {
    start = 1;
    const names = first.cells.map((c) => c.toLowerCase());
    const named = names.findIndex((c) => LABEL_COLUMNS.includes(c));
    if (named >= 0) column = named;
    else if (first.cells.length !== 1) {
      throw new Error(`${name} has columns ${first.cells.join(', ')}; name the column of given labels ${LABEL_COLUMNS.join(', ')} (or give a single column).`);
    }
  } else if (first.cells.length !== 1) {
    throw new Error(`${name} line ${first.line} has ${first.cells.length} columns; give one column of labels, or a header row naming the label column (${LABEL_COLUMNS.join(', ')}).`);
  }
  const width = first.cells.length;
  const out = new Int32Array(records.length - start);
  for (let r = start; r < records.length; r++) {
    const { line, cells } = records[r]!;
    if (cells.length !== width) throw new Error(`${name} line ${line} has ${cells.length} columns, the first line ${width}.`);
    const where = `${name} line ${line} (example ${r - start})`;
    const value = numeric(cells[column]!);
    out[r - start] = checkLabel(value === null ? cells[column] : value, where);
  }
  if (out.length === 0) throw new Error(`${name} has a header but no labels.`);
  return out;
}

export interface PredProbsTable {
  probs: Float64Array;
  rows: number;
  classes: number;
}

function checkProbabilityRow(values: ArrayLike<unknown>, where: string, classes: number, out: Float64Array, offset: number): void {
  let sum = 0;
  for (let c = 0; c < classes; c++) {
    const v = values[c];
    if (typeof v !== 'number' || Number.isNaN(v)) throw new Error(`${where}, class ${c}: ${JSON.stringify(v === undefined ? null : v)} is not a number.`);
    if (!(v >= 0 && v <= 1 + 1e-6)) throw new Error(`${where}, class ${c}: ${v} is not a probability in [0, 1].`);
    out[offset + c] = v;
    sum += v;
  }
  if (Math.abs(sum - 1) > SUM_TOLERANCE) {
    throw new Error(
      `${where}: the probabilities add up to ${+sum.toFixed(6)}, ${+Math.abs(sum - 1).toFixed(6)} ${sum > 1 ? 'over' : 'under'} 1 ` +
        `(allowed: ${SUM_TOLERANCE}). Give softmax probabilities (not logits or per-class sigmoids), one column per class.`,
    );
  }
}

/** Predicted probabilities: a JSON array of rows (arrays), or a CSV with one row per example (header optional). */
export function parsePredProbs(text: string, file: string): PredProbsTable {
  const name = path.basename(file);
  if (formatOf(file, text) === 'json') {
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (error) {
      throw new Error(`${name} is not valid JSON: ${(error as Error).message}`);
    }
    if (!Array.isArray(data) || data.length === 0) throw new Error(`${name} must hold a JSON array of rows, one array of class probabilities per example.`);
    const first = data[0] as unknown;
    if (!Array.isArray(first)) throw new Error(`${name} element [0] is ${JSON.stringify(first)}, not an array of class probabilities.`);
    const classes = first.length;
    if (classes < 2) throw new Error(`${name} element [0] has ${classes} values; give one probability per class (at least 2).`);
    const probs = new Float64Array(data.length * classes);
    data.forEach((row: unknown, i) => {
      if (!Array.isArray(row)) throw new Error(`${name} element [${i}] is not an array of class probabilities.`);
      if (row.length !== classes) throw new Error(`${name} element [${i}] has ${row.length} values, element [0] has ${classes}: every row needs one value per class.`);
      checkProbabilityRow(row, `${name} element [${i}]`, classes, probs, i * classes);
    });
    return { probs, rows: data.length, classes };
  }
  const records = readCsv(file, text);
  const start = records.length > 0 && isHeader(records[0]!.cells) ? 1 : 0;
  if (records.length - start === 0) throw new Error(`${name} holds no rows of probabilities.`);
  const classes = records[start]!.cells.length;
  if (classes < 2) throw new Error(`${name} line ${records[start]!.line} has ${classes} column; give one probability per class (at least 2 columns).`);
  const rows = records.length - start;
  const probs = new Float64Array(rows * classes);
  const values = new Array<number | string>(classes);
  for (let r = start; r < records.length; r++) {
    const { line, cells } = records[r]!;
    const where = `${name} line ${line} (example ${r - start})`;
    if (cells.length !== classes) throw new Error(`${where} has ${cells.length} columns, line ${records[start]!.line} has ${classes}: every row needs one value per class.`);
    for (let c = 0; c < classes; c++) values[c] = numeric(cells[c]!) ?? cells[c]!;
    checkProbabilityRow(values, where, classes, probs, (r - start) * classes);
  }
  return { probs, rows, classes };
}

/**
 * Checks that labels and probabilities describe the same examples: equal lengths, labels within the columns, and
 * every class given to at least one example (a class nobody has usually means 1-based labels or an extra column).
 */
export function combineLabelFiles(labels: Int32Array, table: PredProbsTable, labelsFile: string, predProbsFile: string): LabelInputs {
  const ln = path.basename(labelsFile);
  const pn = path.basename(predProbsFile);
  if (labels.length !== table.rows) {
    throw new Error(`${ln} has ${labels.length} labels but ${pn} has ${table.rows} rows of probabilities; they must describe the same examples in the same order.`);
  }
  const counts = new Int32Array(table.classes);
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i]!;
    if (y >= table.classes) {
      throw new Error(`${ln} example ${i}: label ${y}, but ${pn} has ${table.classes} columns (classes 0-${table.classes - 1}). Labels are 0-based: subtract 1 from 1-based labels.`);
    }
    counts[y]++;
  }
  const missing = [...counts.keys()].filter((c) => counts[c] === 0);
  if (missing.length > 0) {
    throw new Error(
      `No example in ${ln} has label ${missing.join(', ')}, but ${pn} has a column for ${missing.length > 1 ? 'them' : 'it'} (classes 0-${table.classes - 1}). ` +
        'Check that labels are 0-based and the columns are exactly the classes, in order.',
    );
  }
  return { labels, probs: table.probs, classes: table.classes };
}

/** Reads and checks both files (labels first, so a bad labels file is reported before a long probability file is parsed). */
export async function readLabelFiles(labelsFile: string, predProbsFile: string): Promise<LabelInputs> {
  const labels = parseLabels(await readText(labelsFile, 'labels'), labelsFile);
  const table = parsePredProbs(await readText(predProbsFile, 'pred-probs'), predProbsFile);
  return combineLabelFiles(labels, table, labelsFile, predProbsFile);
}

/**
 * The API's analysis methods (issue 6): stored analyses, a projection's points and per-point colour values as
 * typed arrays, and selections (a lasso, a grid selection) that the `selection=ID` filter lists. Kept apart from
 * miruService.ts, which binds these into the one MiruApi object.
 */
import { createHash } from 'node:crypto';
import type { LibraryDb } from '../library/openLibrary.js';
import { NUMERIC_FIELDS, parseFieldName, scoreRunOf } from '../library/queryImages.js';
import { currentBasis, findAnalysis, getAnalysisWithModel, listAnalysesWithModel, saveAnalysis, staleReasons, type AnalysisKind, type AnalysisWithModel } from '../analysis/analysisStore.js';
import type { AnalysisDetail, AnalysisInfo, FieldValues, FieldValuesInput, MiruApi, ProjectionPoints, SaveSelectionInput } from './apiTypes.js';
import { ApiInputError, ApiNotFoundError } from './apiSchemas.js';
import { pointsInPolygon } from './polygonSelect.js';

type AnalysisMethods = Pick<MiruApi, 'listAnalyses' | 'analysisDetail' | 'projectionPoints' | 'fieldValues' | 'saveSelection'>;

export function analysisMethods(db: LibraryDb): AnalysisMethods {
  function info(record: AnalysisWithModel, now = currentBasis(db)): AnalysisInfo {
    return {
      id: record.id,
      kind: record.kind,
      sourceRunId: record.sourceRunId,
      model: record.model,
      params: record.params,
      createdAt: record.createdAt,
      count: record.count,
      stale: staleReasons(db, record, now),
    };
  }

  function requireAnalysis(method: string, field: string, id: number, kind?: AnalysisKind): AnalysisWithModel {
    const record = getAnalysisWithModel(db, id);
    if (!record) throw new ApiNotFoundError(`No stored analysis with id ${id}. List them with listAnalyses (or \`miru project\` to make a map).`);
    if (kind && record.kind !== kind) throw new ApiInputError(method, field, `analysis ${id} is a ${record.kind}, not a ${kind}`);
    return record;
  }

  /** A projection's ids and coordinates in image-id order: the order fieldValues answers in. */
  function points(analysisId: number): ProjectionPoints {
    const rows = db
      .prepare<[number], { image_id: number; extra: Buffer | null }>('SELECT image_id, extra FROM analysis_values WHERE analysis_id = ? ORDER BY image_id')
      .all(analysisId);
    const ids = new Int32Array(rows.length);
    const xy = new Float32Array(rows.length * 2);
    rows.forEach((row, i) => {
      ids[i] = row.image_id;
      if (row.extra && row.extra.byteLength >= 8) {
        xy[2 * i] = row.extra.readFloatLE(0);
        xy[2 * i + 1] = row.extra.readFloatLE(4);
      } else {
        xy[2 * i] = Number.NaN;
        xy[2 * i + 1] = Number.NaN;
      }
    });
    return { analysisId, ids, xy };
  }

  /** SQL for one image's value of a colour field, with `v.image_id` in scope, and its parameters. */
  function valueSql(field: string): { sql: string; params: unknown[]; scale: FieldValues['scale'] } {
    const fail = (why: string): never => {
      throw new ApiInputError('fieldValues', 'field', why);
    };
    const prefixed = /^(tag|analysis|raterGroup)\s*:\s*(.+)$/i.exec(field.trim());
    if (prefixed) {
      const [, prefix, rest] = prefixed as unknown as [string, string, string];
      switch (prefix.toLowerCase()) {
        case 'tag':
          return { sql: 'EXISTS (SELECT 1 FROM tags t WHERE t.image_id = v.image_id AND t.tag = ?)', params: [rest.trim()], scale: 'binary' };
        case 'analysis': {
          const id = Number(rest);
          if (!Number.isInteger(id) || id <= 0) fail(`"${rest}" is not an analysis id`);
          requireAnalysis('fieldValues', 'field', id);
          return { sql: '(SELECT a.value FROM analysis_values a WHERE a.analysis_id = ? AND a.image_id = v.image_id)', params: [id], scale: 'numeric' };
        }
        default: {
          const group = rest.trim();
          if (db.prepare('SELECT 1 FROM rater_groups WHERE group_name = ?').get(group) === undefined) fail(`no rater group named ${JSON.stringify(group)}`);
          return {
            sql: '(SELECT avg(r.value) FROM ratings r JOIN rater_groups g ON g.rater_id = r.rater_id WHERE r.image_id = v.image_id AND g.group_name = ?)',
            params: [group],
            scale: 'numeric',
          };
        }
      }
    }
    let ref;
    try {
      ref = parseFieldName(field);
    } catch (error) {
      return fail((error as Error).message);
    }
    if (ref.kind === 'score') {
      const run = scoreRunOf(db, ref.model);
      if (run === null) fail(`model ${JSON.stringify(ref.model)} has no scores yet`);
      return { sql: '(SELECT s.score FROM scores s WHERE s.run_id = ? AND s.image_id = v.image_id)', params: [run], scale: 'numeric' };
    }
    return { sql: `(SELECT i.${NUMERIC_FIELDS[ref.field]} FROM images i WHERE i.id = v.image_id)`, params: [], scale: ref.field === 'isGrayscale' ? 'binary' : 'numeric' };
  }

  return {
    async listAnalyses({ kind }) {
      const now = currentBasis(db); // one pass over images and ratings for the whole list
      return listAnalysesWithModel(db, kind ? { kind: kind as AnalysisKind } : {}).map((record) => info(record, now));
    },

    async analysisDetail({ id }): Promise<AnalysisDetail> {
      const record = requireAnalysis('analysisDetail', 'id', id);
      return { ...info(record), summary: record.summary };
    },

    async projectionPoints({ analysisId }) {
      requireAnalysis('projectionPoints', 'analysisId', analysisId, 'projection');
      return points(analysisId);
    },

    async fieldValues({ field, analysisId }: FieldValuesInput): Promise<FieldValues> {
      requireAnalysis('fieldValues', 'analysisId', analysisId);
      const { sql, params, scale } = valueSql(field);
      const rows = db
        .prepare<unknown[], number | null>(`SELECT ${sql} FROM analysis_values v WHERE v.analysis_id = ? ORDER BY v.image_id`)
        .pluck()
        .all(...params, analysisId);
      const values = new Float32Array(rows.length);
      rows.forEach((value, i) => (values[i] = value === null ? Number.NaN : Number(value)));
      return { field, values, scale };
    },

    async saveSelection(input: SaveSelectionInput) {
      let ids: number[];
      let params: Record<string, unknown>;
      if ('ids' in input) {
        ids = [...new Set(input.ids)];
        const known = db.prepare<[string], number>('SELECT count(*) FROM images WHERE id IN (SELECT value FROM json_each(?))').pluck().get(JSON.stringify(ids))!;
        if (known !== ids.length) throw new ApiInputError('saveSelection', 'ids', `${ids.length - known} of the ids name no image in this library`);
        params = { from: 'ids' };
      } else {
        requireAnalysis('saveSelection', 'analysisId', input.analysisId, 'projection');
        const projection = points(input.analysisId);
        ids = Array.from(pointsInPolygon(projection.xy, input.polygon), (i) => projection.ids[i]!);
        params = { from: 'lasso', projection: input.analysisId };
      }
      if (ids.length === 0) throw new ApiInputError('saveSelection', 'analysisId' in input ? 'polygon' : 'ids', 'the selection is empty: it holds no image');
      ids.sort((a, b) => a - b);
      // The same set saved twice is the same selection (its id, and so any URL filter naming it, stays valid).
      const recipe = { ...params, digest: createHash('sha256').update(Int32Array.from(ids)).digest('hex') };
      const existing = findAnalysis(db, 'selection', null, recipe);
      if (existing) return { id: existing.id, count: existing.count };
      const id = saveAnalysis(db, { kind: 'selection', sourceRunId: null, params: recipe, summary: { count: ids.length }, values: ids.map((imageId) => ({ imageId, value: 1 })) });
      return { id, count: ids.length };
    },
  };
}

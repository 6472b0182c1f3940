import type Database from 'better-sqlite3';

/**
 * Forward-only schema migrations. The database's `PRAGMA user_version` is the number of migrations applied.
 * Never edit a migration that has shipped: append a new one, so every older library file can be upgraded.
 */
export interface Migration {
  version: number;
  description: string;
  up: (db: Database.Database) => void;
}

/** Image statistics columns, in the order they are stored (the query model filters and sorts on them). */
export const STAT_COLUMNS = [
  'brightness',
  'contrast',
  'saturation',
  'colorfulness',
  'sharpness',
  'entropy',
  'edge_density',
  'aspect_ratio',
  'megapixels',
  'alpha_fraction',
  'is_grayscale',
] as const;

export const migrations: Migration[] = [
  {
    version: 1,
    description: 'roots, images with statistics, raters, ratings, tags, jobs',
    up: (db) => {
      db.exec(`
        CREATE TABLE roots (
          id INTEGER PRIMARY KEY,
          path TEXT NOT NULL UNIQUE,
          added_at TEXT NOT NULL
        );
        CREATE TABLE images (
          id INTEGER PRIMARY KEY,
          root_id INTEGER NOT NULL REFERENCES roots(id),
          rel_path TEXT NOT NULL,
          content_hash TEXT,
          bytes INTEGER NOT NULL,
          mtime_ms INTEGER NOT NULL,
          width INTEGER,
          height INTEGER,
          format TEXT,
          channels INTEGER,
          has_alpha INTEGER,
          bit_depth TEXT,
          pages INTEGER,
          status TEXT NOT NULL CHECK (status IN ('ok', 'error', 'missing')),
          error TEXT,
          indexed_at TEXT NOT NULL,
          ${STAT_COLUMNS.map((c) => `${c} REAL`).join(',\n          ')},
          UNIQUE (root_id, rel_path)
        );
        CREATE INDEX images_hash ON images(content_hash);
        CREATE INDEX images_status ON images(status);
        CREATE TABLE raters (
          id INTEGER PRIMARY KEY,
          name TEXT NOT NULL UNIQUE
        );
        CREATE TABLE ratings (
          image_id INTEGER NOT NULL REFERENCES images(id),
          rater_id INTEGER NOT NULL REFERENCES raters(id),
          value REAL NOT NULL,
          rated_at TEXT,
          imported_from TEXT,
          PRIMARY KEY (image_id, rater_id)
        ) WITHOUT ROWID;
        CREATE INDEX ratings_rater ON ratings(rater_id, image_id);
        CREATE TABLE tags (
          image_id INTEGER NOT NULL REFERENCES images(id),
          tag TEXT NOT NULL,
          created_at TEXT NOT NULL,
          PRIMARY KEY (image_id, tag)
        ) WITHOUT ROWID;
        CREATE INDEX tags_tag ON tags(tag, image_id);
        CREATE TABLE jobs (
          id INTEGER PRIMARY KEY,
          kind TEXT NOT NULL,
          params TEXT NOT NULL,
          status TEXT NOT NULL,
          progress REAL NOT NULL DEFAULT 0,
          error TEXT,
          created_at TEXT NOT NULL,
          updated_at TEXT NOT NULL
        );
      `);
    },
  },
  {
    version: 2,
    description: 'per-image rating aggregates, sort indexes for the query model, library settings',
    up: (db) => {
      // Mean rating and rating count are read by every grid page; keeping them on the image row (updated by
      // ratings import) lets filters and keyset sorts on them use an index instead of aggregating per page.
      db.exec(`
        ALTER TABLE images ADD COLUMN rating_mean REAL;
        ALTER TABLE images ADD COLUMN rating_count INTEGER NOT NULL DEFAULT 0;
        UPDATE images SET
          rating_mean = (SELECT avg(value) FROM ratings WHERE ratings.image_id = images.id),
          rating_count = (SELECT count(*) FROM ratings WHERE ratings.image_id = images.id);
        -- Ratings and tags name images by relative path without a root.
        CREATE INDEX images_rel_path ON images(rel_path);
        CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
      `);
      for (const column of [...STAT_COLUMNS, 'rating_mean', 'rating_count', 'bytes', 'width', 'height', 'mtime_ms']) {
        db.exec(`CREATE INDEX images_by_${column} ON images(${column})`);
      }
    },
  },
  {
    version: 3,
    description: 'models with cards, runs, scores, embeddings and per-image run failures',
    up: (db) => {
      db.exec(`
        CREATE TABLE models (
          id INTEGER PRIMARY KEY,
          name TEXT NOT NULL UNIQUE,
          path TEXT NOT NULL,
          sha256 TEXT NOT NULL,
          card TEXT NOT NULL,
          added_at TEXT NOT NULL
        );
        -- One run per (model, kind, parameters); a rerun with the same parameters resumes it.
        CREATE TABLE runs (
          id INTEGER PRIMARY KEY,
          model_id INTEGER NOT NULL REFERENCES models(id),
          kind TEXT NOT NULL CHECK (kind IN ('score', 'embed')),
          params TEXT NOT NULL,
          status TEXT NOT NULL CHECK (status IN ('running', 'partial', 'complete')),
          provider TEXT,
          created_at TEXT NOT NULL,
          updated_at TEXT NOT NULL,
          UNIQUE (model_id, kind, params)
        );
        CREATE TABLE scores (
          run_id INTEGER NOT NULL REFERENCES runs(id),
          image_id INTEGER NOT NULL REFERENCES images(id),
          score REAL NOT NULL,
          probs BLOB,
          top_labels TEXT,
          PRIMARY KEY (run_id, image_id)
        ) WITHOUT ROWID;
        CREATE INDEX scores_by_value ON scores(run_id, score);
        CREATE TABLE embeddings (
          run_id INTEGER NOT NULL REFERENCES runs(id),
          image_id INTEGER NOT NULL REFERENCES images(id),
          vector BLOB NOT NULL,
          PRIMARY KEY (run_id, image_id)
        ) WITHOUT ROWID;
        CREATE TABLE run_failures (
          run_id INTEGER NOT NULL REFERENCES runs(id),
          image_id INTEGER NOT NULL REFERENCES images(id),
          error TEXT NOT NULL,
          PRIMARY KEY (run_id, image_id)
        ) WITHOUT ROWID;
      `);
    },
  },
  {
    version: 4,
    description: 'trigram full-text index on relative paths for path~ filters',
    up: (db) => {
      // `path~text` is a substring search: LIKE '%text%' scans in id order until a page fills, which is slow when
      // the matches sit late in a million rows. A trigram index finds them directly. It is an external-content
      // table over images(rel_path), kept current by triggers.
      db.exec(`
        CREATE VIRTUAL TABLE images_path_fts USING fts5(rel_path, content='images', content_rowid='id', tokenize='trigram');
        CREATE TRIGGER images_path_fts_insert AFTER INSERT ON images BEGIN
          INSERT INTO images_path_fts (rowid, rel_path) VALUES (new.id, new.rel_path);
        END;
        CREATE TRIGGER images_path_fts_delete AFTER DELETE ON images BEGIN
          INSERT INTO images_path_fts (images_path_fts, rowid, rel_path) VALUES ('delete', old.id, old.rel_path);
        END;
        CREATE TRIGGER images_path_fts_update AFTER UPDATE OF rel_path ON images BEGIN
          INSERT INTO images_path_fts (images_path_fts, rowid, rel_path) VALUES ('delete', old.id, old.rel_path);
          INSERT INTO images_path_fts (rowid, rel_path) VALUES (new.id, new.rel_path);
        END;
        INSERT INTO images_path_fts (images_path_fts) VALUES ('rebuild');
      `);
    },
  },
  {
    version: 5,
    description: 'saliency maps per (model, image, method, layer, target, options); rater groups',
    up: (db) => {
      db.exec(`
        -- One map per image and explanation recipe; params is the canonical JSON of the method's options, so a
        -- rerun of the same recipe finds what is stored (resume) and another recipe is stored beside it.
        CREATE TABLE saliency (
          model_id INTEGER NOT NULL REFERENCES models(id),
          image_id INTEGER NOT NULL REFERENCES images(id),
          method TEXT NOT NULL,
          layer TEXT NOT NULL,
          target TEXT NOT NULL,
          params TEXT NOT NULL,
          score REAL,
          grid_h INTEGER NOT NULL,
          grid_w INTEGER NOT NULL,
          raw BLOB NOT NULL,
          map BLOB NOT NULL,
          provider TEXT,
          elapsed_ms REAL,
          created_at TEXT NOT NULL,
          PRIMARY KEY (model_id, method, layer, target, params, image_id)
        ) WITHOUT ROWID;
        -- A rater's preference group, named by the user (or by an import); rater analysis filters on it.
        CREATE TABLE rater_groups (
          rater_id INTEGER PRIMARY KEY REFERENCES raters(id),
          group_name TEXT NOT NULL
        );
        CREATE INDEX rater_groups_by_name ON rater_groups(group_name);
      `);
    },
  },
  {
    version: 6,
    description: 'analyses (projections, outlier scores, label issues, consensus, pseudo-labels...) with per-image values',
    up: (db) => {
      db.exec(`
        -- One stored result per (kind, source embedding run, parameters); recomputing the same recipe replaces it.
        -- summary holds what is not per image (rater clusters, fold metrics, the parameters actually used).
        CREATE TABLE analyses (
          id INTEGER PRIMARY KEY,
          kind TEXT NOT NULL,
          source_run_id INTEGER REFERENCES runs(id),
          params TEXT NOT NULL,
          summary TEXT NOT NULL,
          created_at TEXT NOT NULL
        );
        -- source_run_id may be NULL (rater analyses), and UNIQUE treats NULLs as distinct, so key on IFNULL.
        CREATE UNIQUE INDEX analyses_recipe ON analyses(kind, IFNULL(source_run_id, 0), params);
        -- value: the per-image scalar (an outlier score, a label quality, a consensus); extra: a small vector
        -- (projection coordinates, a soft-label distribution) as little-endian float32.
        CREATE TABLE analysis_values (
          analysis_id INTEGER NOT NULL REFERENCES analyses(id) ON DELETE CASCADE,
          image_id INTEGER NOT NULL REFERENCES images(id),
          value REAL,
          extra BLOB,
          PRIMARY KEY (analysis_id, image_id)
        ) WITHOUT ROWID;
      `);
    },
  },
  {
    version: 7,
    description: 'analyses.value_count: the number of per-image values, stored so listing analyses need not count them',
    up(db) {
      // Counting each analysis' values on every listing scanned millions of rows on a big library; saveAnalysis
      // now stores the count with the values, and older results get theirs counted once here.
      db.exec(`
        ALTER TABLE analyses ADD COLUMN value_count INTEGER;
        UPDATE analyses SET value_count = (SELECT count(*) FROM analysis_values v WHERE v.analysis_id = analyses.id);
      `);
    },
  },
];

export const SCHEMA_VERSION = migrations[migrations.length - 1]!.version;

export function checkSchemaVersion(version: number): void {
  if (version > SCHEMA_VERSION) {
    throw new Error(
      `This library was written by a newer Miru (schema version ${version}; this Miru knows up to ${SCHEMA_VERSION}). ` +
        'Upgrade Miru to open it; nothing was changed.',
    );
  }
}

/** Applies every migration newer than the file's version, each in its own transaction. */
export function migrate(db: Database.Database, target = SCHEMA_VERSION): { from: number; to: number } {
  const from = db.pragma('user_version', { simple: true }) as number;
  checkSchemaVersion(from);
  for (const migration of migrations) {
    if (migration.version <= from || migration.version > target) continue;
    db.transaction(() => {
      migration.up(db);
      db.pragma(`user_version = ${migration.version}`);
    })();
  }
  return { from, to: Math.max(from, Math.min(target, SCHEMA_VERSION)) };
}

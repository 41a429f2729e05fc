-- 0001: runs, their tags, metric series, chunked points, and what ingest has read.
--
-- Points are stored as chunks: each chunk row holds up to a few hundred thousand points of one
-- series as three little-endian float64 arrays (steps, values, wall times) in BLOBs. This is
-- ~10x faster to load and read than one row per point; decode a chunk in Python with
-- numpy.frombuffer(steps, '<f8'). Chunks of a series are read in `seq` order.

CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    uid TEXT NOT NULL UNIQUE,            -- short stable id users type (hash of source + external_id)
    project TEXT NOT NULL DEFAULT 'local',
    name TEXT,
    experiment TEXT,                     -- algorithm / exp_name
    env TEXT,                            -- environment id
    seed INTEGER,
    state TEXT,                          -- running | finished | crashed | killed | ...
    user TEXT,
    url TEXT,
    source TEXT NOT NULL,                -- tensorboard, sb3, csv, mlflow-files, wandb, mlflow, track, ...
    external_id TEXT NOT NULL,           -- the source's own id (path, W&B run id, ...): idempotency key
    config TEXT NOT NULL DEFAULT '{}',   -- JSON object
    summary TEXT NOT NULL DEFAULT '{}',  -- JSON object
    created_at REAL,                     -- unix seconds
    updated_at REAL,
    ingested_at REAL,
    UNIQUE (source, external_id)
);
CREATE INDEX runs_selection ON runs (project, experiment, env);
CREATE INDEX runs_env ON runs (env);

CREATE TABLE run_tags (
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    tag TEXT NOT NULL,
    PRIMARY KEY (run_id, tag)
) WITHOUT ROWID;
CREATE INDEX run_tags_tag ON run_tags (tag);

CREATE TABLE series (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    key TEXT NOT NULL,                   -- metric name, e.g. charts/episodic_return
    n_points INTEGER NOT NULL DEFAULT 0,
    n_chunks INTEGER NOT NULL DEFAULT 0,
    step_min REAL,
    step_max REAL,
    last_value REAL,                     -- value of the last point appended
    last_wall_time REAL,
    UNIQUE (run_id, key)
);
CREATE INDEX series_key ON series (key);

-- A rowid table (not WITHOUT ROWID): the (series_id, seq) index then finds chunks without
-- reading the BLOBs stored beside the key, ~7x faster for selective reads.
CREATE TABLE chunks (
    id INTEGER PRIMARY KEY,
    series_id INTEGER NOT NULL REFERENCES series (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,                -- 0, 1, 2, ... in append order
    n INTEGER NOT NULL,                  -- points in this chunk
    step_min REAL,
    step_max REAL,
    steps BLOB NOT NULL,                 -- n little-endian float64
    vals BLOB NOT NULL,                  -- n little-endian float64 (NaN/inf kept)
    walls BLOB,                          -- n little-endian float64 unix seconds, NULL when unknown
    UNIQUE (series_id, seq)
);

-- What ingest has read of each file, so re-ingesting reads only what was appended.
CREATE TABLE ingest_files (
    path TEXT PRIMARY KEY,               -- absolute path
    run_id INTEGER REFERENCES runs (id) ON DELETE CASCADE,
    format TEXT NOT NULL,
    size INTEGER NOT NULL,               -- bytes consumed at the last ingest
    mtime REAL NOT NULL,
    offset INTEGER NOT NULL DEFAULT 0,   -- byte offset where the next read starts
    state TEXT NOT NULL DEFAULT '{}',    -- reader-specific JSON (e.g. CSV header, cumulative steps)
    ingested_at REAL
);

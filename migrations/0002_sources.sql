-- 0002: saved fetch sources (what `openrlb sync` re-runs) and per-run fetch bookkeeping.
--
-- A run's remote state is recorded only once every point up to it has been committed, so a fetch
-- killed half-way is never mistaken for an up-to-date one. `progress` is what has been committed
-- so far and is updated in the same transaction as the points it describes, which is what makes
-- fetches resumable without duplicates. Credentials are never stored here.

CREATE TABLE fetch_sources (
    name TEXT PRIMARY KEY,               -- e.g. wandb:openrlbenchmark/cleanrl
    kind TEXT NOT NULL,                  -- wandb | mlflow
    spec TEXT NOT NULL,                  -- JSON: everything needed to re-run the fetch
    created_at REAL NOT NULL,
    last_sync_at REAL,
    last_status TEXT,                    -- ok | partial | failed
    last_summary TEXT                    -- JSON summary of the last fetch of this source
);

CREATE TABLE fetch_runs (
    run_id INTEGER PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
    remote_digest TEXT,                  -- hash of the remote state last fetched completely (NULL: never)
    remote_updated TEXT,                 -- W&B heartbeatAt / MLflow end or last metric time, as sent
    remote_lines INTEGER,                -- W&B historyLineCount / MLflow number of metric keys
    remote_last_step REAL,               -- W&B historyKeys.lastStep / MLflow largest latest step
    remote_state TEXT,                   -- running | finished | ...
    progress TEXT NOT NULL DEFAULT '{}', -- JSON: W&B {"*" or key: exclusive step bound committed};
                                         --       MLflow {key: {"n": points committed, "seen": latest}}
    fetched_at REAL
);

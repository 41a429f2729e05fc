-- 0007: runs deleted on their server, and which runs each saved fetch source selects.
--
-- A fetch or sync lists a source's runs; a run it selected before that is no longer listed is
-- looked up on the server by id: if the server no longer has it (W&B), or has it only as deleted
-- (MLflow's lifecycle stage), `fetch_runs.deleted_at` records when that was seen. Such runs are kept
-- (with their points) but left out of `runs`, `plot`, `table` and the API unless asked for; a later
-- listing that shows the run again clears the mark. A run the server still has but that no longer
-- matches the source's filters simply stops being a member of the source.

ALTER TABLE fetch_runs ADD COLUMN deleted_at REAL;  -- unix s when its server was seen without it

CREATE TABLE fetch_source_runs (
    source TEXT NOT NULL REFERENCES fetch_sources (name) ON DELETE CASCADE,
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    PRIMARY KEY (source, run_id)
) WITHOUT ROWID;

CREATE INDEX fetch_source_runs_run ON fetch_source_runs (run_id);

-- 0006: a log's identity comes from its content, not its path (moves, renames, symlinks, copies),
-- and what ingest read of it is fingerprinted so a rewritten file is read again from its start.
--
-- `ingest_files.path` stays the key: the place a unit (file, monitor group, run folder) was last
-- read from. A unit found at a path the store does not know is looked up by its fingerprint
-- (`head_hash`: its name and first bytes, or for run folders the ids their tool wrote); a match whose
-- path is gone (moved, renamed) or is the same file (symlink) is re-pathed here and resumes where it
-- was. `ident` is what the external_id of the unit's runs is built from (the run folder's run, or
-- `ident` / `ident#inner` for a file's runs): written once, never re-derived from a path. Rows written
-- before this migration keep the path they had as their ident (their runs' external_ids are paths)
-- and get a fingerprint the next time their file is seen.

ALTER TABLE ingest_files ADD COLUMN ident TEXT;      -- external_id (prefix) of the runs this unit feeds
ALTER TABLE ingest_files ADD COLUMN run_dir TEXT;    -- per-folder formats: the run folder last read from
ALTER TABLE ingest_files ADD COLUMN name TEXT;       -- file (or folder) name, for fingerprint look-ups
ALTER TABLE ingest_files ADD COLUMN head_len INTEGER; -- bytes the fingerprint covers (-1: tool ids)
ALTER TABLE ingest_files ADD COLUMN head_hash TEXT;  -- fingerprint: hash of the name and first bytes
ALTER TABLE ingest_files ADD COLUMN checks TEXT;     -- JSON: hashes of the bytes read before each offset
ALTER TABLE ingest_files ADD COLUMN copy_of TEXT;    -- a second copy of a unit already stored from here

UPDATE ingest_files SET
    ident = CASE
        WHEN format IN ('tensorboard', 'sb3-monitor', 'sb3-progress-csv', 'sb3-progress-json',
                        'sb3-evaluations', 'mlflow-files', 'sacred', 'wandb-files')
        THEN (SELECT external_id FROM runs WHERE runs.id = ingest_files.run_id)
        ELSE path END,
    run_dir = CASE
        WHEN format IN ('tensorboard', 'sb3-monitor', 'sb3-progress-csv', 'sb3-progress-json',
                        'sb3-evaluations', 'mlflow-files', 'sacred', 'wandb-files')
        THEN (SELECT external_id FROM runs WHERE runs.id = ingest_files.run_id) END,
    name = replace(path, rtrim(path, replace(path, '/', '')), '');

CREATE INDEX ingest_files_head ON ingest_files (head_hash);
CREATE INDEX ingest_files_run_dir ON ingest_files (run_dir);
CREATE INDEX ingest_files_name ON ingest_files (name);

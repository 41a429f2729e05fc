-- 0009: a log file renamed (not only moved) is still the same run.
--
-- 0006's fingerprint (`head_hash`) hashes a file's name with its first bytes, so a file renamed in place
-- (`progress.csv` -> `progress_old.csv`) was not found again and became a second run holding the same
-- points. `body_hash` hashes the first bytes alone (the same `head_len` bytes): a unit found at an unknown
-- path whose name and bytes match nothing is looked up by it, and a match whose file is gone is the file
-- renamed: its row takes the new path and name and the read carries on from its offset. Rows written
-- before this migration get a `body_hash` the next time ingest sees their file.

ALTER TABLE ingest_files ADD COLUMN body_hash TEXT;  -- hash of the first head_len bytes, without the name

CREATE INDEX ingest_files_body ON ingest_files (body_hash);

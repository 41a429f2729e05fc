-- 0005: the x axis fetched W&B runs are stored against.
--
-- Open RL Benchmark compares runs on environment steps (`global_step`), not on W&B's row counter
-- `_step`. From this version a fetched W&B run's points are keyed on its x axis (the filter's
-- `xaxis=`, `--x-axis`, else `global_step` when the run logs it, else `_step`), recorded here.
-- NULL: written before this migration, so keyed on `_step`; the next fetch or sync re-keys such a
-- run in place from its stored x-axis series (one transaction), or, when the store lacks that
-- series, clears its points and progress so they are fetched again. `progress` stays in `_step`
-- (what W&B's history windows are bounded by). MLflow runs keep NULL (their own steps).

ALTER TABLE fetch_runs ADD COLUMN x_axis TEXT;

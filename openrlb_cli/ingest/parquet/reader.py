"""Reading back a Parquet dataset that `openrlb export --format parquet` wrote (layout in
`openrlb_cli.dataset`), or one shaped like it by DuckDB, Polars or Spark.

The unit is the dataset directory. Runs keep the identity they had (source + external_id, hence
the same uid), metadata, tags, config and summary come from `runs/`; points come from `points/`
one partition directory at a time (one ReadResult each, bounded by a partition's size), grouped
by run and metric with one stable sort, keeping each series' order. Series are replaced, not
appended, so ingesting the same dataset again changes nothing. Points of a run that `runs/` does
not list (a dataset made elsewhere) become a run of source `parquet` named by its `run` value.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from openrlb_cli import dataset as ds
from openrlb_cli.errors import InputError
from openrlb_cli.ingest.base import ReadOptions, ReadResult
from openrlb_cli.model import RunRecord, Series

_REQUIRED = ("run", "metric", "step", "value")


def is_dataset(path: Path) -> bool:
    """A directory with the manifest, or with `runs/` and `points/` holding Parquet files."""
    if (path / ds.MANIFEST).is_file():
        return True
    return (path / ds.RUNS_DIR).is_dir() and (path / ds.POINTS_DIR).is_dir() and any(
        (path / ds.RUNS_DIR).glob("*.parquet"))


class ParquetDatasetReader:
    name = "parquet"

    def detect(self, path: Path) -> bool:
        return path.is_dir() and is_dataset(path)

    def read(self, path: Path, offset: int, state: dict[str, Any], options: ReadOptions) -> ReadResult:
        results = list(self.iter_read(path, offset, state, options))
        return ReadResult([r for res in results for r in res.runs], replace=True)

    def iter_read(self, path: Path, offset: int, state: dict[str, Any],
                  options: ReadOptions) -> Iterator[ReadResult]:
        pa, pq = ds.pyarrow_modules()
        _check_manifest(path)
        runs = _read_runs(pq, path / ds.RUNS_DIR)
        seen: set[str] = set()
        for folder, files in _partitions(path / ds.POINTS_DIR):
            project, env = _partition_values(path / ds.POINTS_DIR, folder)
            table = _read_points(pa, pq, files)
            records = _records(table, runs, project, env, path, seen)
            yield ReadResult(records, replace=True)
        yield ReadResult(list(runs.values()), replace=True)  # the runs without points


PARQUET = ParquetDatasetReader()


def _check_manifest(path: Path) -> None:
    manifest = path / ds.MANIFEST
    if not manifest.is_file():
        return
    try:
        meta = json.loads(manifest.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise InputError(f"{manifest}: not valid JSON ({exc})") from None
    if meta.get("format") != ds.FORMAT or not isinstance(meta.get("version"), int):
        raise InputError(f"{manifest}: not an openrlb dataset manifest")
    if meta["version"] > ds.VERSION:
        raise InputError(f"{path} was written by a newer openrlb (dataset version {meta['version']}); upgrade")


def _read_table(pq: Any, path: Path, columns: list[str] | None = None) -> Any:
    try:
        return pq.read_table(path, columns=columns)
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise InputError(f"{path}: cannot read as Parquet ({exc})") from None


def _read_runs(pq: Any, folder: Path) -> dict[str, RunRecord]:
    """uid -> the run's record without points (each handed to the pipeline once, then dropped)."""
    out: dict[str, RunRecord] = {}
    for file in sorted(folder.glob("*.parquet")):
        table = _read_table(pq, file)
        if "run" not in table.column_names:
            raise InputError(f"{file}: the runs table has no 'run' column")
        names = table.column_names
        columns = table.to_pydict()
        for i in range(table.num_rows):
            row = {name: columns[name][i] for name in names}
            uid = row["run"]
            rec = RunRecord(source=row.get("source") or "parquet", external_id=row.get("external_id") or uid)
            for f in ("project", "name", "experiment", "env", "seed", "state", "user", "url", "created_at",
                      "updated_at"):
                setattr(rec, f, row.get(f))
            rec.tags = list(row.get("tags") or [])
            rec.config = _json_field(row.get("config"), file, "config")
            rec.summary = _json_field(row.get("summary"), file, "summary")
            out[uid] = rec
    return out


def _json_field(text: Any, file: Path, what: str) -> dict[str, Any]:
    if text is None:
        return {}
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        raise InputError(f"{file}: a run's {what} is not JSON") from None
    if not isinstance(value, dict):
        raise InputError(f"{file}: a run's {what} is not a JSON object")
    return value


def _partitions(root: Path) -> list[tuple[Path, list[Path]]]:
    by_folder: dict[Path, list[Path]] = {}
    for file in root.rglob("*.parquet"):
        if not any(part.startswith((".", "_")) for part in file.relative_to(root).parts):
            by_folder.setdefault(file.parent, []).append(file)
    return sorted((folder, sorted(files)) for folder, files in by_folder.items())


def _partition_values(root: Path, folder: Path) -> tuple[str | None, str | None]:
    values: dict[str, str | None] = {}
    for segment in folder.relative_to(root).parts:
        if "=" in segment:
            key = segment.split("=", 1)[0]
            values[key] = ds.partition_value(segment, key)
    return values.get("project"), values.get("env")


def _read_points(pa: Any, pq: Any, files: list[Path]) -> Any:
    tables = [_read_table(pq, f) for f in files]
    for f, t in zip(files, tables, strict=True):
        missing = [c for c in _REQUIRED if c not in t.column_names]
        if missing:
            raise InputError(f"{f}: no {', '.join(missing)} column (a points file needs run, metric, step, value)")
    if len(tables) == 1:
        return tables[0]
    # Several files of one partition (Spark writes one per task): bring them to one schema first.
    import pyarrow.compute as pc

    types = {"experiment": pa.string(), "run": pa.string(), "metric": pa.string(), "seed": pa.int64(),
             "step": pa.float64(), "value": pa.float64(), "wall_time": pa.float64()}
    unified = []
    for f, t in zip(files, tables, strict=True):
        names = [c for c in types if c in t.column_names]
        try:
            unified.append(pa.table({c: pc.cast(t.column(c), types[c]) for c in names}))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise InputError(f"{f}: unexpected column types ({exc})") from None
    return pa.concat_tables(unified, promote_options="default")


def _codes(column: Any) -> tuple[Any, list[Any]]:
    """(int codes per row, the values they index) of a string column, dictionary-encoded or not."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    col = column.combine_chunks() if hasattr(column, "combine_chunks") else column
    if not pa.types.is_dictionary(col.type):
        col = pc.dictionary_encode(col)
    if col.null_count:
        raise InputError("a points file has rows without a run or metric")
    return np.asarray(col.indices.to_numpy(zero_copy_only=False), dtype=np.int64), col.dictionary.to_pylist()


def _floats(table: Any, name: str) -> Any:
    """A numeric column as float64, nulls as NaN (an unknown wall time; Spark may write int steps)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    col = table.column(name)
    try:
        col = pc.cast(col, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise InputError(f"column {name!r} is not numeric ({exc})") from None
    if col.null_count:
        col = pc.fill_null(col, float("nan"))
    return np.asarray(col.to_numpy(), dtype=np.float64)


def _records(table: Any, runs: dict[str, RunRecord], project: str | None, env: str | None, path: Path,
             seen: set[str]) -> list[RunRecord]:
    import numpy as np

    if table.num_rows == 0:
        return []
    run_codes, run_values = _codes(table.column("run"))
    metric_codes, metric_values = _codes(table.column("metric"))
    steps = _floats(table, "step")
    values = _floats(table, "value")
    walls = _floats(table, "wall_time") if "wall_time" in table.column_names else np.full(len(steps), np.nan)
    order = np.lexsort((metric_codes, run_codes))  # stable: each series keeps its file order
    run_sorted, metric_sorted = run_codes[order], metric_codes[order]
    cuts = np.flatnonzero((np.diff(run_sorted) != 0) | (np.diff(metric_sorted) != 0)) + 1
    starts = np.concatenate([[0], cuts])
    ends = np.concatenate([cuts, [len(order)]])
    out: dict[str, RunRecord] = {}
    for lo, hi in zip(starts.tolist(), ends.tolist(), strict=True):
        idx = order[lo:hi]
        uid = str(run_values[run_sorted[lo]])
        rec = out.get(uid)
        if rec is None:
            if uid in seen:
                raise InputError(f"{path}: run {uid} has points in two partitions (a run has one project and env)")
            rec = out[uid] = runs.pop(uid) if uid in runs else _unlisted(table, uid, idx[0], project, env, path)
        rec.series[str(metric_values[metric_sorted[lo]])] = Series(steps[idx], values[idx], walls[idx])
    seen.update(out)
    return list(out.values())


def _unlisted(table: Any, uid: str, row: int, project: str | None, env: str | None, path: Path) -> RunRecord:
    def cell(name: str) -> Any:
        return table.column(name)[row].as_py() if name in table.column_names else None

    seed = cell("seed")
    return RunRecord(source="parquet", external_id=f"{path}#{uid}", name=uid, project=project or cell("project"),
                     env=env or cell("env"), experiment=cell("experiment"),
                     seed=None if seed is None else int(seed))

"""Writing the store (or a selection of it) as the Parquet dataset described in `openrlb_cli.dataset`.

Points stream partition by partition, in batches of at most BATCH_POINTS points (one row group
each), decoded from the chunk BLOBs straight into numpy and handed to pyarrow column by column, so
memory stays bounded by a batch and there is no per-point Python. The dataset is written into a
hidden sibling directory and renamed into place at the end: a killed or failed export leaves no
half-written dataset under the name asked for.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openrlb_cli import dataset as ds
from openrlb_cli.errors import InputError
from openrlb_cli.model import RunInfo
from openrlb_cli.store import Store

BATCH_POINTS = 4_000_000  # points per row group (and at most what one batch holds in memory)


@dataclass
class ExportSummary:
    path: str
    runs: int = 0
    points: int = 0
    partitions: int = 0
    metrics: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _target(output: Path) -> Path:
    output = Path(output).expanduser()
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise InputError(f"{output} already exists and is not an empty directory; give a new directory")
    return output


def write_dataset(store: Store, runs: list[RunInfo], output: Path, *, metric: str | None = None,
                  on_points: Callable[[int], None] | None = None) -> ExportSummary:
    """Write `runs` (all their metrics, or only `metric`) to the dataset directory `output`."""
    pa, pq = ds.pyarrow_modules()
    output = _target(output)
    t0 = time.perf_counter()
    series = store.series_info([r.id for r in runs], key=metric)
    keys_of: dict[int, dict[str, int]] = {}
    for s in series:
        keys_of.setdefault(s.run_id, {})[s.key] = s.n_points
    _remove_stale(output)
    partial = output.parent / f".{output.name}.partial-{os.getpid()}"
    summary = ExportSummary(str(output), runs=len(runs), metrics=sorted({s.key for s in series}))
    try:
        if partial.exists():
            shutil.rmtree(partial)
        (partial / ds.RUNS_DIR).mkdir(parents=True)
        _write_runs(pa, pq, runs, keys_of, partial / ds.RUNS_DIR / "part-0.parquet")
        by_partition: dict[tuple[str, str | None], list[RunInfo]] = {}
        for r in runs:
            if keys_of.get(r.id):
                by_partition.setdefault((r.project, r.env), []).append(r)
        for (project, env), members in sorted(by_partition.items(), key=lambda kv: (kv[0][0], kv[0][1] is None,
                                                                                      kv[0][1] or "")):
            folder = partial / ds.POINTS_DIR / ds.partition_name("project", project) / ds.partition_name("env", env)
            folder.mkdir(parents=True)
            n = _write_partition(pa, pq, store, members, keys_of, folder / "part-0.parquet", on_points)
            summary.points += n
            summary.partitions += 1
        summary.seconds = round(time.perf_counter() - t0, 3)
        manifest = {"format": ds.FORMAT, "version": ds.VERSION, "runs": summary.runs, "points": summary.points,
                    "partitions": summary.partitions, "metrics": summary.metrics, "exported_at": time.time()}
        (partial / ds.MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        if output.exists():
            output.rmdir()  # empty, checked above
        os.replace(partial, output)
    except OSError as exc:
        shutil.rmtree(partial, ignore_errors=True)
        raise InputError(f"cannot write the Parquet dataset {output}: {exc.strerror or exc}") from exc
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return summary


def _remove_stale(output: Path) -> None:
    """Delete what killed exports to `output` left (their process is gone); live ones are left alone."""
    if not output.parent.is_dir():
        return
    for stale in output.parent.glob(f".{output.name}.partial-*"):
        try:
            pid = int(stale.name.rsplit("-", 1)[1])
            os.kill(pid, 0)
        except ValueError:
            continue  # not one of ours
        except ProcessLookupError:
            shutil.rmtree(stale, ignore_errors=True)
        except PermissionError:
            continue  # alive, another user's


def _write_runs(pa: Any, pq: Any, runs: list[RunInfo], keys_of: dict[int, dict[str, int]], path: Path) -> None:
    counts = [keys_of.get(r.id, {}) for r in runs]
    columns = {
        "run": pa.array([r.uid for r in runs], pa.string()),
        "project": pa.array([r.project for r in runs], pa.string()),
        "name": pa.array([r.name for r in runs], pa.string()),
        "experiment": pa.array([r.experiment for r in runs], pa.string()),
        "env": pa.array([r.env for r in runs], pa.string()),
        "seed": pa.array([r.seed for r in runs], pa.int64()),
        "state": pa.array([r.state for r in runs], pa.string()),
        "user": pa.array([r.user for r in runs], pa.string()),
        "url": pa.array([r.url for r in runs], pa.string()),
        "source": pa.array([r.source for r in runs], pa.string()),
        "external_id": pa.array([r.external_id for r in runs], pa.string()),
        "created_at": pa.array([r.created_at for r in runs], pa.float64()),
        "updated_at": pa.array([r.updated_at for r in runs], pa.float64()),
        "tags": pa.array([r.tags for r in runs], pa.list_(pa.string())),
        "config": pa.array([_json(r.config) for r in runs], pa.string()),
        "summary": pa.array([_json(r.summary) for r in runs], pa.string()),
        "n_series": pa.array([len(c) for c in counts], pa.int64()),
        "n_points": pa.array([sum(c.values()) for c in counts], pa.int64()),
    }
    assert tuple(columns) == ds.RUN_COLUMNS
    pq.write_table(pa.table(columns), path)


def _json(value: Any) -> str:
    from openrlb_cli.store.store import dumps

    return dumps(value)


def _batches(members: list[RunInfo], keys_of: dict[int, dict[str, int]]) -> list[list[RunInfo]]:
    out: list[list[RunInfo]] = [[]]
    size = 0
    for r in members:
        n = sum(keys_of[r.id].values())
        if out[-1] and size + n > BATCH_POINTS:
            out.append([])
            size = 0
        out[-1].append(r)
        size += n
    return out


def _write_partition(pa: Any, pq: Any, store: Store, members: list[RunInfo], keys_of: dict[int, dict[str, int]],
                     path: Path, on_points: Callable[[int], None] | None) -> int:
    """The points of one (project, env): rows grouped by run, then metric, in stored order."""
    import numpy as np

    # One dictionary per column for the whole file, so every row group shares it.
    run_index = {r.id: i for i, r in enumerate(members)}
    experiments = sorted({r.experiment for r in members if r.experiment is not None})
    exp_index = {e: i for i, e in enumerate(experiments)}
    metrics = sorted({k for r in members for k in keys_of[r.id]})
    metric_index = {k: i for i, k in enumerate(metrics)}
    dictionaries = {"run": pa.array([r.uid for r in members], pa.string()),
                    "experiment": pa.array(experiments, pa.string()), "metric": pa.array(metrics, pa.string())}
    dict_type = pa.dictionary(pa.int32(), pa.string())
    schema = pa.schema([("experiment", dict_type), ("seed", pa.int64()), ("run", dict_type), ("metric", dict_type),
                        ("step", pa.float64()), ("value", pa.float64()), ("wall_time", pa.float64())])
    total = 0
    with pq.ParquetWriter(path, schema) as writer:
        for batch in _batches(members, keys_of):
            loaded: dict[str, dict[int, Any]] = {}
            for key in sorted({k for r in batch for k in keys_of[r.id]}):
                loaded[key] = store.load_many([r.id for r in batch if key in keys_of[r.id]], key)
            pieces, lengths, runs_i, metrics_i, exps_i, seeds = [], [], [], [], [], []
            for r in batch:
                for key in sorted(keys_of[r.id]):
                    s = loaded[key].get(r.id)
                    if s is None or len(s) == 0:
                        continue
                    pieces.append(s)
                    lengths.append(len(s))
                    runs_i.append(run_index[r.id])
                    metrics_i.append(metric_index[key])
                    exps_i.append(-1 if r.experiment is None else exp_index[r.experiment])
                    seeds.append(r.seed)
            if not pieces:
                continue
            lengths_a = np.asarray(lengths, dtype=np.int64)

            def repeat(values: list[Any], dtype: Any, lengths_a: np.ndarray = lengths_a) -> np.ndarray:
                return np.repeat(np.asarray(values, dtype=dtype), lengths_a)

            exp_rows = repeat(exps_i, np.int32)
            seed_known = repeat([s is not None for s in seeds], bool)
            seed_rows = repeat([0 if s is None else s for s in seeds], np.int64)
            walls = np.concatenate([p.wall_times for p in pieces])
            columns = [
                pa.DictionaryArray.from_arrays(pa.array(exp_rows, mask=exp_rows < 0), dictionaries["experiment"]),
                pa.array(seed_rows, mask=~seed_known),
                pa.DictionaryArray.from_arrays(pa.array(repeat(runs_i, np.int32)), dictionaries["run"]),
                pa.DictionaryArray.from_arrays(pa.array(repeat(metrics_i, np.int32)), dictionaries["metric"]),
                pa.array(np.concatenate([p.steps for p in pieces])),
                pa.array(np.concatenate([p.values for p in pieces])),
                pa.array(walls, mask=np.isnan(walls)),  # NaN in the store = unknown
            ]
            writer.write_table(pa.Table.from_arrays(columns, schema=schema))
            n = int(lengths_a.sum())
            total += n
            if on_points is not None:
                on_points(n)
    return total

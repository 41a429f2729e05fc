"""Points/s of the readers of logs written by other tools, each against a baseline measured in the same run.

    python benchmarks/bench_readers.py [--points 400000] [--repeat 3] [--only mlflow,sacred,wandb,history]

Logs are written by the real tools (test extra: mlflow, sacred, wandb) in a temporary directory,
wandb offline. For each format: the openrlb reader alone (decode to series, no store), the whole
`openrlb ingest` into a fresh store, and the baseline, best of `--repeat`:

* mlflow-sqlite: `MlflowClient.get_metric_history` of every metric of every run (MLflow's own reader
  of its SQLite store, through SQLAlchemy);
* sacred: `json.load` of every run's `metrics.json` (Sacred has no reader of its files: loading the
  JSON is the least any reader does);
* wandb-offline (.wandb): wandb's `DataStore` scan + `Record.ParseFromString` + `json.loads` of each
  history item (wandb's own reader of the log, what `wandb sync` did in Python);
* wandb-files (wandb-history.jsonl): openrlb's generic JSON-lines reader (`--format jsonl`) on the
  same file, and a plain `json.loads` per line.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from openrlb_cli.ingest import registry
from openrlb_cli.ingest.base import ReadOptions
from openrlb_cli.ingest.pipeline import ingest
from openrlb_cli.store import Store

KEYS = 10


def best(fn: Callable[[], int], repeat: int) -> tuple[float, int]:
    times, n = [], 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        n = fn()
        times.append(time.perf_counter() - t0)
    return min(times), n


# ---------------------------------------------------------------------------- writers
def write_mlflow(root: Path, points: int) -> Path:
    import mlflow
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    db = root / "mlflow.db"
    mlflow.set_tracking_uri(f"sqlite:///{db}")
    client = MlflowClient()
    exp = client.create_experiment("bench", artifact_location=(root / "artifacts").as_uri())
    per_run = points // 4
    for seed in range(4):
        run = client.create_run(exp, tags={"seed": str(seed)})
        batch = []
        for i in range(per_run):
            step, key = divmod(i, KEYS)
            batch.append(Metric(f"m{key}", math.sin(i / 100), 1_700_000_000_000 + step, step))
            if len(batch) == 1000:
                client.log_batch(run.info.run_id, metrics=batch)
                batch = []
        if batch:
            client.log_batch(run.info.run_id, metrics=batch)
        client.set_terminated(run.info.run_id)
    return db


def mlflow_baseline(db: Path) -> int:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{db}")
    n = 0
    for exp in client.search_experiments():
        for run in client.search_runs([exp.experiment_id]):
            for key in run.data.metrics:
                n += len(client.get_metric_history(run.info.run_id, key))
    return n


SACRED = """
import math, os
from sacred import Experiment
from sacred.observers import FileStorageObserver
ex = Experiment("bench")
ex.observers.append(FileStorageObserver(os.environ["BENCH_SACRED_DIR"]))
@ex.config
def cfg():
    seed = 0
    steps = 1
@ex.automain
def main(_run, steps):
    for i in range(steps):
        for k in range(KEYS):
            _run.log_scalar(f"m{k}", math.sin(i / 100 + k), i)
""".replace("KEYS", str(KEYS))


def write_sacred(root: Path, points: int) -> Path:
    base = root / "sacred"
    script = root / "exp.py"
    script.write_text(SACRED)
    for seed in range(4):
        subprocess.run([sys.executable, str(script), "with", f"seed={seed}", f"steps={points // 4 // KEYS}"],
                       check=True, capture_output=True, cwd=root, env={**os.environ, "BENCH_SACRED_DIR": str(base)})
    return base


def sacred_baseline(base: Path) -> int:
    n = 0
    for metrics in base.glob("*/metrics.json"):
        with metrics.open() as fh:
            n += sum(len(m["values"]) for m in json.load(fh).values())
    return n


WANDB = """
import math
import wandb
run = wandb.init(project="bench", name="r")
for i in range(%d):
    row = {f"m{k}": math.sin(i / 100 + k) for k in range(%d)}
    row["global_step"] = 128 * i
    run.log(row)
run.finish()
"""


def write_wandb(root: Path, points: int) -> Path:
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_DIR": str(root), "WANDB_SILENT": "true",
           "WANDB_CONFIG_DIR": str(root / "cfg"), "WANDB_CACHE_DIR": str(root / "cache"),
           "WANDB_DATA_DIR": str(root / "data"), "WANDB_CONSOLE": "off", "HOME": str(root / "home")}
    env.pop("WANDB_API_KEY", None)
    rows = points // (KEYS + 2)  # each row: KEYS metrics, global_step, _runtime
    subprocess.run([sys.executable, "-c", WANDB % (rows, KEYS)], env=env, check=True, capture_output=True, cwd=root)
    (log,) = (root / "wandb").glob("offline-run-*/run-*.wandb")
    return log


def wandb_baseline(log: Path) -> int:
    from wandb.proto import wandb_internal_pb2 as pb
    from wandb.sdk.internal import datastore

    ds = datastore.DataStore()
    ds.open_for_scan(str(log))
    n = 0
    try:
        while (data := ds.scan_data()) is not None:
            rec = pb.Record()
            rec.ParseFromString(data)
            if rec.WhichOneof("record_type") == "history":
                row = {".".join(i.nested_key) or i.key: json.loads(i.value_json) for i in rec.history.item}
                n += sum(1 for k, v in row.items() if k not in ("_step", "_timestamp") and isinstance(v, (int, float)))
    finally:
        ds._fp.close()
    return n


def write_history(root: Path, log: Path) -> Path:
    """wandb-history.jsonl lines as wandb's sender makes them of the log's history records."""
    from wandb.proto import wandb_internal_pb2 as pb
    from wandb.sdk.internal import datastore
    from wandb.sdk.lib import proto_util

    folder = root / "old" / "wandb" / "run-20240101_000000-bench"
    folder.mkdir(parents=True)
    ds = datastore.DataStore()
    ds.open_for_scan(str(log))
    with (folder / "wandb-history.jsonl").open("w") as out:
        while (data := ds.scan_data()) is not None:
            rec = pb.Record()
            rec.ParseFromString(data)
            if rec.WhichOneof("record_type") == "history":
                out.write(json.dumps(proto_util.dict_from_proto_list(rec.history.item)) + "\n")
    ds._fp.close()
    (folder / "wandb-summary.json").write_text("{}")
    return folder


def json_lines_baseline(path: Path) -> int:
    n = 0
    with path.open("rb") as fh:
        for line in fh:
            row = json.loads(line)
            n += sum(1 for k, v in row.items() if k not in ("_step", "_timestamp") and isinstance(v, (int, float)))
    return n


# ---------------------------------------------------------------------------- measuring
def reader_only(fmt: str, path: Path) -> Callable[[], int]:
    def run() -> int:
        reader = registry.reader(fmt)
        results = reader.iter_read(path, 0, {}, ReadOptions()) if hasattr(reader, "iter_read") else \
            [reader.read(path, 0, {}, ReadOptions())]
        return sum(len(s) for res in results for rec in res.runs for s in rec.series.values())
    return run


def whole_ingest(root: Path, target: Path, fmt: str | None = None) -> Callable[[], int]:
    def run() -> int:
        db = root / "bench-store.db"
        for p in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
            p.unlink(missing_ok=True)
        with Store(db) as store:
            summary = ingest(store, [target], fmt=fmt)
        assert not summary.skipped, summary.skipped
        return summary.points
    return run


def report(label: str, base_label: str, base: tuple[float, int], rows: list[tuple[str, tuple[float, int]]]) -> None:
    bt, bn = base
    print(f"{label}: baseline {base_label}: {bn / bt / 1e6:6.2f} M pts/s ({bn:,} points)")
    for name, (t, n) in rows:
        ratio = (n / t) / (bn / bt)
        print(f"{'':{len(label)}}  {name:34s} {n / t / 1e6:6.2f} M pts/s ({n:,} points, {ratio:5.2f}x baseline)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--points", type=int, default=400_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", default="mlflow,sacred,wandb,history")
    args = ap.parse_args()
    only = set(args.only.split(","))
    root = Path(tempfile.mkdtemp(prefix="bench_readers_"))
    try:
        if "mlflow" in only:
            t0 = time.perf_counter()
            db = write_mlflow(root, args.points)
            print(f"wrote mlflow.db ({db.stat().st_size / 2**20:.0f} MiB) in {time.perf_counter() - t0:.0f}s")
            report("mlflow-sqlite", "MlflowClient.get_metric_history", best(lambda: mlflow_baseline(db), args.repeat),
                   [("openrlb reader", best(reader_only("mlflow-sqlite", db), args.repeat)),
                    ("openrlb ingest (fresh store)", best(whole_ingest(root, db), args.repeat))])
        if "sacred" in only:
            t0 = time.perf_counter()
            base = write_sacred(root, args.points)
            print(f"wrote 4 sacred runs in {time.perf_counter() - t0:.0f}s")
            runs = sorted(p.parent for p in base.glob("*/run.json"))
            report("sacred", "json.load of metrics.json", best(lambda: sacred_baseline(base), args.repeat),
                   [("openrlb reader", best(lambda: sum(reader_only("sacred", r)() for r in runs), args.repeat)),
                    ("openrlb ingest (fresh store)", best(whole_ingest(root, base), args.repeat))])
        if only & {"wandb", "history"}:
            t0 = time.perf_counter()
            log = write_wandb(root, args.points)
            print(f"wrote {log.stat().st_size / 2**20:.0f} MiB .wandb log in {time.perf_counter() - t0:.0f}s")
            for d in ("cfg", "cache", "data", "home"):
                shutil.rmtree(root / d, ignore_errors=True)
            if "wandb" in only:
                report("wandb-offline", "wandb DataStore + protobuf + json", best(lambda: wandb_baseline(log),
                                                                                    args.repeat),
                       [("openrlb reader", best(reader_only("wandb-offline", log), args.repeat)),
                        ("openrlb ingest (fresh store)", best(whole_ingest(root, log), args.repeat))])
            if "history" in only:
                folder = write_history(root, log)
                history = folder / "wandb-history.jsonl"
                generic = best(whole_ingest(root, history, "jsonl"), args.repeat)
                report("wandb-files", "json.loads per line", best(lambda: json_lines_baseline(history), args.repeat),
                       [("openrlb reader", best(reader_only("wandb-files", folder), args.repeat)),
                        ("openrlb ingest (fresh store)", best(whole_ingest(root, folder.parent), args.repeat)),
                        ("openrlb generic jsonl ingest", generic)])
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()

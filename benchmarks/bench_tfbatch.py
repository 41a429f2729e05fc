"""Many small event files decoded together: milliseconds per file for each stage of `tfbatch.read_many`.

    python benchmarks/bench_tfbatch.py [--files 1000] [--points 5000] [--repeat 3]
    OLD_SRC=$(mktemp -d) && git archive main | tar -x -C "$OLD_SRC" && \
        python benchmarks/bench_tfbatch.py --compare-with "$OLD_SRC"   # the same stages of that code, same files

Writes `--files` CleanRL-layout event files (`bench_scale.make_event_runs`: irregular CleanRL-PPO
shape, a few distinct files copied), then reads them as `openrlb ingest` does (groups of up to
`pipeline.GROUP_BYTES`), in-process and on one thread, and prints the best of `--repeat` runs split
into framing (where the records are), the template fast pass (checked and decoded column by
column), the general path (records no template takes), the split back per file and tag, and the
rest (reading the files, torn tails, the per-file results).  Stages are timed by wrapping the
functions that do them, so a stage a code version does not have shows as absent.  With
`--compare-with SRC` the same is run, in a subprocess, with the openrlb_cli package under SRC.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

STAGES = {  # label -> (module, attribute): the functions timed, in this code or an older one
    "framing": [("tfrecord", "frame"), ("tfrecord", "frame_many")],
    "templates": [("tftemplates", "decode_templates")],
    "general path": [("tfevents", "_decode_rest"), ("tfbatch", "_few")],
    "split": [("tfbatch", "_split"), ("tfdecode", "Collector.finish")],
}


# modules moved into ingest/tensorboard/ (this code), or flat under ingest/ (an older tree)
_MOVED = {"tfrecord": "tensorboard.tfrecord", "tftemplates": "tensorboard.templates", "tfevents": "tensorboard.events",
          "tfbatch": "tensorboard.batch", "tfdecode": "tensorboard.decode"}


def _module(importlib, name: str) -> object:  # type: ignore[no-untyped-def]
    try:
        return importlib.import_module(f"openrlb_cli.ingest.{_MOVED[name]}")
    except ModuleNotFoundError:
        return importlib.import_module(f"openrlb_cli.ingest.{name}")


def measure(corpus: Path, repeat: int) -> None:
    """Time the stages of `read_many` on the event files under `corpus` (with whatever openrlb_cli
    is importable) and print them per file."""
    import importlib

    from openrlb_cli.ingest import pipeline
    from openrlb_cli.ingest.tensorboard import batch as tfbatch

    acc: dict[str, float] = defaultdict(float)

    def wrap(owner: object, name: str, label: str) -> None:
        fn = getattr(owner, name)

        def timed(*a, **k):  # type: ignore[no-untyped-def]
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                acc[label] += time.perf_counter() - t0

        setattr(owner, name, timed)

    for label, targets in STAGES.items():
        for module, attr in targets:
            owner: object = _module(importlib, module)
            *path, name = attr.split(".")
            for part in path:
                owner = getattr(owner, part)
            if hasattr(owner, name):
                wrap(owner, name, label)
    files = sorted(corpus.rglob("events.out.tfevents.*"))
    groups: list[list[tuple[Path, int]]] = [[]]
    total = 0
    for f in files:
        if total >= pipeline.GROUP_BYTES:
            groups.append([])
            total = 0
        groups[-1].append((f, 0))
        total += f.stat().st_size
    best: tuple[float, dict[str, float]] | None = None
    for _ in range(repeat):
        acc.clear()
        t0 = time.perf_counter()
        for group in groups:
            for got in tfbatch.read_many(group):
                if not isinstance(got, tfbatch.tfevents.ScalarBatch):
                    raise SystemExit(f"read_many failed: {got}")
        took = time.perf_counter() - t0
        if best is None or took < best[0]:
            best = (took, dict(acc))
    assert best is not None
    took, parts = best
    n = len(files)
    print(f"  read_many {took / n * 1e3:6.2f} ms/file ({n:,} files in {len(groups)} groups, best of {repeat}; "
          f"{Path(tfbatch.__file__).parent.parent.parent})")
    for label in STAGES:
        print(f"    {label:<14} {parts[label] / n * 1e3:6.2f} ms/file" if label in parts else
              f"    {label:<14}      - (no such stage)")
    print(f"    {'rest':<14} {(took - sum(parts.values())) / n * 1e3:6.2f} ms/file")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--points", type=int, default=5000, help="scalars per file")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--compare-with", type=Path, metavar="SRC")
    ap.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # internal: time the files under this
    a = ap.parse_args()
    if a.measure:
        measure(a.measure, a.repeat)
        return
    sys.path.insert(0, str(ROOT / "benchmarks"))
    sys.path.insert(0, str(ROOT))
    from bench_scale import atari_envs, make_event_runs

    with tempfile.TemporaryDirectory() as tmp:
        logs = Path(tmp) / "runs"
        logs.mkdir()
        n = make_event_runs(logs, atari_envs(57), a.files, a.points)
        print(f"{a.files:,} CleanRL event files x {a.points} scalars = {n:,} points")
        for label, src in (("this code", ROOT), ("--compare-with code", a.compare_with)):
            if src is None:
                continue
            print(f"{label} ({src}):")
            env = {**os.environ, "PYTHONPATH": str(src)}
            subprocess.run([sys.executable, __file__, "--measure", str(logs), "--repeat", str(a.repeat)],
                           check=True, env=env, cwd=src)


if __name__ == "__main__":
    main()

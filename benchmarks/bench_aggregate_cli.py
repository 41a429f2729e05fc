"""End-to-end timing of `openrlb aggregate` on real data, against rliable measured in the same run.

Data (``--data``): Tianshou MuJoCo (9 tasks × 8 algorithms × 10 seeds) or Dopamine Atari (55 games with a
human reference score × DQN, C51, Rainbow, IQN × 5 seeds, human-normalized; the store is built with
``openrlb ingest`` as the README shows).

What is timed:

1. the CLI as a user runs it (a fresh ``python -m openrlb_cli`` process: imports, store query,
   statistics, 4 figures in every requested format, data files), at the default 50,000
   replicates for the aggregate intervals and 2,000 for profiles, P(X > Y) and curves;
2. the same work in-process, split into load (store -> curves), compute (every estimate) and
   write (data files and figures), to show where the time goes.

3. with ``--rliable PYTHON`` (a separate virtualenv with rliable 1.2.0, see rliable_reference/), the
   baseline: rliable's ``get_interval_estimates`` with IQM, median, mean and optimality gap at the same
   replicates on the very scores the CLI wrote (``PREFIX_scores.csv``), timed in that process; the ratio
   printed is rliable's compute time over our end-to-end wall time (best run). rliable's point estimates
   are compared with ours.

The store is built in a temporary directory (skipped when ``../shared`` is absent). ``--formats`` may be
given several times to time each set of figure formats.

Usage::

    .venv/bin/python benchmarks/bench_aggregate_cli.py --data dopamine [--reps 50000] [--repeat 3]
        [--formats png,pdf,svg --formats png] [--extra "--whole-curve-auc"] [--keep DIR]
        [--rliable ../venv-rliable/bin/python]
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import tianshou_helper as th  # noqa: E402

from openrlb_cli.store import Store  # noqa: E402

DOPAMINE = ROOT.parent / "shared" / "data" / "dopamine-atari"
NO_HUMAN_SCORE = {"airraid", "carnival", "elevatoraction", "journeyescape", "pooyan"}  # not in the 57-game table
DOPAMINE_AGENTS = ("DQN", "C51", "Rainbow", "IQN")


def selection(data: str) -> list[str]:
    if data == "tianshou":
        return ["?project=tianshou", "--normalize", "maxmin"]
    envs = sorted(p.stem for p in DOPAMINE.glob("*.json") if p.stem not in NO_HUMAN_SCORE)
    return [*(f"{a}?project=dopamine" for a in DOPAMINE_AGENTS), "--metric", "Value", "--normalize", "atari",
            "--env-ids", ",".join(envs)]


def build_store(data: str, db: Path) -> str:
    if data == "tianshou":
        with Store(db) as store:
            n_runs = th.load_into(store)
        return f"Tianshou MuJoCo: {n_runs} runs (9 tasks x 8 algorithms x 10 seeds)"
    subprocess.run([sys.executable, "-m", "openrlb_cli", "--db", str(db), "--quiet", "ingest", str(DOPAMINE),
                    "--project", "dopamine", "--env", "{stem}"], check=True)
    n_envs = len(selection(data)[-1].split(","))
    return f"Dopamine Atari: {n_envs} games x {len(DOPAMINE_AGENTS)} agents x 5 seeds, human-normalized"


def cli_command(db: Path, prefix: Path, data: str, reps: int, formats: str, extra: str) -> list[str]:
    return [sys.executable, "-m", "openrlb_cli", "--db", str(db), "aggregate", *selection(data),
            "--reps", str(reps), "--formats", formats, "-o", str(prefix), "--quiet", *shlex.split(extra)]


def in_process(db: Path, prefix: Path, data: str, reps: int, formats: str) -> dict[str, float]:
    from openrlb_cli import aggregate as ag

    sel = selection(data)
    specs = [a for a in sel if "?" in a]
    envs = sel[sel.index("--env-ids") + 1].split(",") if "--env-ids" in sel else None
    metric = sel[sel.index("--metric") + 1] if "--metric" in sel else None
    t0 = time.perf_counter()
    with Store(db, create=False) as store:
        curves = ag.load(store, specs, envs, metric)
    t1 = time.perf_counter()
    result = ag.compute(curves, ag.AggregateOptions(reps=reps, normalize=sel[sel.index("--normalize") + 1]))
    t2 = time.perf_counter()
    ag.write_outputs(result, prefix, formats.split(","))
    t3 = time.perf_counter()
    return {"load": t1 - t0, "compute": t2 - t1, "write (in-process, serial)": t3 - t2}


def rliable_baseline(python: str, scores_csv: Path, reps: int, aggregates_json: Path) -> float:
    script = Path(__file__).resolve().parent / "rliable_reference" / "time_rliable_scores.py"
    done = subprocess.run([python, str(script), str(scores_csv), str(reps)], capture_output=True, text=True,
                          check=True)
    ref = json.loads(done.stdout)
    ours = {(r["experiment"], r["metric"]): r["point"] for r in json.loads(aggregates_json.read_text())["records"]}
    diffs = [abs(ours[k, m] - v) / max(abs(v), 1e-300) for k, by in ref["points"].items() for m, v in by.items()]
    print(f"rliable 1.2.0, four aggregate intervals at {reps:,} replicates on the same scores: "
          f"{ref['seconds']:.2f} s (point estimates: largest relative difference to ours {max(diffs):.1e})")
    return float(ref["seconds"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=("tianshou", "dopamine"), default="tianshou")
    parser.add_argument("--reps", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--formats", action="append", help="figure formats of one set of runs (repeatable)")
    parser.add_argument("--extra", default="", help="more aggregate options, e.g. '--whole-curve-auc'")
    parser.add_argument("--keep", type=Path, help="write the outputs here instead of a temporary directory")
    parser.add_argument("--rliable", metavar="PYTHON", help="python of a venv with rliable 1.2.0 (the baseline)")
    parser.add_argument("--no-in-process", action="store_true", help="skip the in-process breakdown")
    parser.add_argument("--dopamine-dir", type=Path, default=DOPAMINE, help=f"default {DOPAMINE}")
    args = parser.parse_args()
    globals()["DOPAMINE"] = args.dopamine_dir
    source = th.TIANSHOU if args.data == "tianshou" else DOPAMINE
    if not source.is_dir():
        print(f"skipped: {source} is absent")
        return 0
    format_sets = args.formats or ["png,pdf,svg"]
    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        db = Path(tmp) / f"{args.data}.db"
        print(f"{build_store(args.data, db)}; reps={args.reps:,}")
        best: dict[str, float] = {}
        for formats in format_sets:
            walls = []
            for _ in range(args.repeat):
                cmd = cli_command(db, work / args.data, args.data, args.reps, formats, args.extra)
                t0 = time.perf_counter()
                done = subprocess.run(cmd, capture_output=True, text=True)
                walls.append(time.perf_counter() - t0)
                if done.returncode != 0:
                    print(done.stderr)
                    return 1
            best[formats] = min(walls)
            print(f"end-to-end CLI, --formats {formats}: " + ", ".join(f"{w:.2f}" for w in walls)
                  + f" s (median {statistics.median(walls):.2f}, best {min(walls):.2f})")
        if args.rliable:
            base = rliable_baseline(args.rliable, Path(f"{work / args.data}_scores.csv"), args.reps,
                                    Path(f"{work / args.data}_aggregates.json"))
            for formats, wall in best.items():
                print(f"  ratio rliable compute / openrlb end to end (--formats {formats}): {base / wall:.1f}x")
        if not args.no_in_process:
            parts = in_process(db, work / "inproc", args.data, args.reps, format_sets[0])
            print("in-process: " + ", ".join(f"{k} {v:.2f} s" for k, v in parts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Paper-scale corpus: ingest and read back a 25,000-run store through the CLI, against targets.

    python benchmarks/bench_scale.py                 # the full size (issue 13): a few minutes
    python benchmarks/bench_scale.py --fraction 0.1  # 2,500 runs and 100 event files: quick
    python benchmarks/bench_scale.py --scaling       # also at 1/4 of the runs: time ratios (~4 = linear)
    OLD_SRC=$(mktemp -d) && git archive main | tar -x -C "$OLD_SRC" && \
        python benchmarks/bench_scale.py --compare-with "$OLD_SRC"   # ingest with that code too, same data
    python benchmarks/bench_scale.py --skip-events --ingest-repeat 3  # CSV ingest best of 3 (alternating
                                                     # with --compare-with code), also without pyarrow

What it builds (in a temporary directory, or `--keep DIR`):

* a long-format CSV like Open RL Benchmark's: 25,000 runs = 57 Atari envs x 15 algorithms x ~29
  seeds (the first pairs get a 30th seed), 200 evenly spaced points each, columns
  run,algo,env,seed,step,value, ingested with `openrlb ingest --run-column run --experiment-column
  algo --env-column env --seed-column seed --step-column step --value-column value`;
* 1,000 CleanRL-layout runs, `runs/{env}__{algo}__{seed}__{time}/events.out.tfevents.*`, each an
  irregular CleanRL-PPO-shaped event file of 5,000 scalars (`bench_ingest.make_cleanrl`; a handful
  of distinct files copied round-robin, so generation stays fast).

What it times, each a fresh `python -m openrlb_cli` process as a user runs it (wall clock, start-up
included), printed against the issue's target with MISS where it is not met:

* ingest of each corpus (points/s) and its peak RSS; the CSV also in a process where pyarrow cannot be
  imported (a plain install: pandas' parser); against two baselines measured in the same run on the same
  data: the points inserted row per point with `executemany` (as `bench_ingest.py`), and for the
  event files the pipeline committing one file per transaction (`pipeline.BATCH_POINTS = 0`,
  in-process, so it is *faster* than a CLI run by the start-up time); with `--compare-with SRC`,
  also the CLI of another source tree (the code before this work) on the same files;
* on the 25,000-run store: `runs` with a filter, `runs --json` of every run, `info`, a
  57-env x 3-algorithm `plot --formats png`, the 57-env x 3-algorithm `table`, and `aggregate` of
  57 tasks x 3 algorithms x 10 seeds at 50,000 replicates (`--normalize atari --formats png`).

Nothing here should be quadratic in runs: `--scaling` repeats the CSV ingest and the queries at a
quarter of the runs and prints full/quarter time ratios.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_ingest import make_cleanrl  # noqa: E402

from openrlb_cli.ingest import pipeline  # noqa: E402
from openrlb_cli.store import Store  # noqa: E402

N_ALGOS = 15
METRIC = "value"
CSV_OPTIONS = ["--run-column", "run", "--experiment-column", "algo", "--env-column", "env",
               "--seed-column", "seed", "--step-column", "step", "--value-column", "value"]
TARGETS = {  # figure -> (target, unit, higher is better)
    "ingest long CSV": (2.0, "M pts/s", True),
    "ingest event files": (2.0, "M pts/s", True),
    "runs with a filter": (0.5, "s", False),
    "runs --json (all)": (2.0, "s", False),
    "info": (0.5, "s", False),
    "plot 57 env x 3 algo png": (10.0, "s", False),
    "table 57 env x 3 algo": (3.0, "s", False),
    "aggregate 57x3x10 50k reps": (5.0, "s", False),
}


def atari_envs(n: int) -> list[str]:
    """The first `n` of the 57 Atari games of the shipped reference table, as `GameNoFrameskip-v4`."""
    table = ROOT / "openrlb_cli" / "data" / "atari_scores.csv"
    lines = [ln for ln in table.read_text().splitlines() if ln and not ln.startswith("#")]
    games = [row[0] for row in csv.reader(lines[1:])]
    if n > len(games):
        raise SystemExit(f"at most {len(games)} envs")
    return [f"{g[:1].upper()}{g[1:]}NoFrameskip-v4" for g in games[:n]]


# ---------------------------------------------------------------------------- corpora
def seeds_per_pair(n_runs: int, n_pairs: int) -> list[int]:
    """Seeds of each (env, algo) pair so that the pairs add up to exactly `n_runs`."""
    base, extra = divmod(n_runs, n_pairs)
    return [base + (i < extra) for i in range(n_pairs)]


def make_long_csv(path: Path, envs: list[str], n_runs: int, n_points: int) -> int:
    """One row per point: run,algo,env,seed,step,value. Learning-curve-like values, 4 decimals."""
    rng = np.random.default_rng(0)
    pairs = [(e, a) for e in envs for a in range(N_ALGOS)]
    steps = np.arange(n_points) * 5000
    step_txt = np.char.mod("%d", steps)
    total = 0
    with path.open("w", newline="") as fh:
        fh.write("run,algo,env,seed,step,value\n")
        for (env, algo), n_seeds in zip(pairs, seeds_per_pair(n_runs, len(pairs)), strict=True):
            curve = (algo + 1) * 50 * (1 - np.exp(-steps / 3e5))
            vals = np.round(curve + rng.normal(0, 10, size=(n_seeds, n_points)), 4)
            block = []
            for seed in range(n_seeds):
                prefix = f"{env}__algo{algo:02d}__{seed},algo{algo:02d},{env},{seed},"
                block.extend(f"{prefix}{s},{v!r}\n" for s, v in zip(step_txt, vals[seed].tolist(), strict=True))
            fh.writelines(block)
            total += n_seeds * n_points
    return total


def make_event_runs(root: Path, envs: list[str], n_files: int, n_points: int, distinct: int = 8) -> int:
    """`n_files` CleanRL run directories of one event file each (`distinct` different files, copied)."""
    templates = []
    for k in range(min(distinct, n_files)):
        tpl = root.parent / f"template{k}.tfevents"
        make_cleanrl(tpl, n_points)
        templates.append(tpl)
    for i in range(n_files):
        env, algo, seed = envs[i % len(envs)], f"ppo{(i // len(envs)) % 3}", i // (3 * len(envs))
        t = 1_700_000_000 + i
        d = root / f"{env}__{algo}__{seed}__{t}"
        d.mkdir(parents=True)
        shutil.copyfile(templates[i % len(templates)], d / f"events.out.tfevents.{t}.bench.{i}.0")
    for tpl in templates:
        tpl.unlink()
    return n_files * n_points


# ---------------------------------------------------------------------------- baselines
def row_per_point(db: Path, n_points: int, n_series: int) -> float:
    """Seconds to insert `n_points` points one row each with executemany, in one transaction."""
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("CREATE TABLE points (series_id INTEGER, step REAL, value REAL, wall REAL)")
    per = max(1, n_points // n_series)
    s = np.arange(per, dtype=float)
    t0 = time.perf_counter()
    with conn:
        for k in range(n_series):
            conn.executemany("INSERT INTO points VALUES (?, ?, ?, ?)",
                             zip([k] * per, s.tolist(), np.sin(s).tolist(), (s + 1.7e9).tolist(), strict=True))
    conn.close()
    return (time.perf_counter() - t0) * n_points / (per * n_series)


def per_file_commit(db: Path, logs: Path) -> tuple[float, int]:
    """The pipeline with one transaction per file (batching off), in-process."""
    saved = getattr(pipeline, "BATCH_POINTS", None)
    pipeline.BATCH_POINTS = 0
    try:
        t0 = time.perf_counter()
        with Store(db) as store:
            summary = pipeline.ingest(store, [logs])
        return time.perf_counter() - t0, summary.points
    finally:
        pipeline.BATCH_POINTS = saved


# ---------------------------------------------------------------------------- the CLI
PEAK_RSS = {"last": 0.0}  # MiB, peak resident memory of the last CLI process `cli` ran
# `python -c` prologue that hides pyarrow, as on a plain install without the `parquet` extra
NO_PYARROW = "import sys; sys.modules['pyarrow'] = None; from openrlb_cli.cli import main; sys.exit(main())"


def cli(db: Path, *args: str, repeat: int = 1, src: Path | None = None, fresh: bool = False,
        prologue: str | None = None) -> float:
    """Best wall time of `repeat` fresh CLI processes (of the code in `src` if given, else this
    checkout); a failure stops the benchmark. `fresh`: delete the store before each (repeated
    ingests); `prologue`: run the CLI through `python -c prologue` instead of `-m openrlb_cli`."""
    best = float("inf")
    env = {**os.environ, "PYTHONPATH": str(src or ROOT)}
    launch = ["-c", prologue] if prologue else ["-m", "openrlb_cli"]
    for _ in range(repeat):
        if fresh:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{db}{suffix}").unlink(missing_ok=True)
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, *launch, "--db", str(db), "--quiet", *args],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=src or ROOT, env=env)
        err = proc.stderr.read() if proc.stderr else b""
        _, status, usage = os.wait4(proc.pid, 0)
        best = min(best, time.perf_counter() - t0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        PEAK_RSS["last"] = usage.ru_maxrss / 1024
        if proc.returncode != 0:
            raise SystemExit(f"`openrlb {' '.join(args)}` failed ({proc.returncode}): {err.decode()[-2000:]}")
    return best


def queries(db: Path, envs: list[str], out: Path, repeat: int, reps: int) -> dict[str, float]:
    algos = ["algo00", "algo01", "algo02"]
    env_ids = ",".join(envs)
    ten = "&".join(f"seed={s}" for s in range(10))
    return {
        "runs with a filter": cli(db, "runs", f"env={envs[len(envs) // 2]}", "experiment=algo07", repeat=repeat),
        "runs --json (all)": cli(db, "runs", "--json", repeat=repeat),
        "info": cli(db, "info", repeat=repeat),
        "plot 57 env x 3 algo png": cli(db, "plot", *algos, "--env-ids", env_ids, "--metric", METRIC,
                                        "--formats", "png", "-o", str(out / "plot"), repeat=repeat),
        "table 57 env x 3 algo": cli(db, "table", *algos, "--env-ids", env_ids, "--metric", METRIC,
                                     "--format", "md", "-o", str(out / "table.md"), repeat=repeat),
        "aggregate 57x3x10 50k reps": cli(db, "aggregate", *(f"{a}?{ten}" for a in algos), "--env-ids", env_ids,
                                          "--metric", METRIC, "--normalize", "atari", "--reps", str(reps),
                                          "--formats", "png", "-o", str(out / "agg"), repeat=repeat),
    }


def build_csv_store(work: Path, tag: str, envs: list[str], n_runs: int, n_points: int, compare: Path | None = None,
                    repeat: int = 1, plain: bool = False) -> tuple[Path, int, float, float, dict[str, float]]:
    """Write the long CSV, ingest it through the CLI (best of `repeat`, each into a new store);
    (store, points, CLI seconds, generation seconds, other figures: the `compare` code's seconds,
    peak RSS of both, with `plain` the seconds without pyarrow)."""
    src = work / f"long-{tag}.csv"
    t0 = time.perf_counter()
    n = make_long_csv(src, envs, n_runs, n_points)
    gen = time.perf_counter() - t0
    db = work / f"csv-{tag}.db"
    more: dict[str, float] = {}
    dt, rss = float("inf"), 0.0
    for _ in range(repeat):  # alternate with the compared code, so both see the same machine load
        dt, rss = min(dt, cli(db, "ingest", str(src), *CSV_OPTIONS, fresh=True)), max(rss, PEAK_RSS["last"])
        if compare:
            old = cli(work / f"csv-{tag}-old.db", "ingest", str(src), *CSV_OPTIONS, src=compare, fresh=True)
            more["old"] = min(more.get("old", old), old)
            more["old rss"] = max(more.get("old rss", 0.0), PEAK_RSS["last"])
    more["rss"] = rss
    with Store(db, create=False) as store:
        got = store.info()
    if got["runs"] != n_runs or got["points"] != n:
        raise SystemExit(f"CSV ingest stored {got['runs']} runs / {got['points']} points, expected {n_runs} / {n}")
    if plain:
        more["plain"] = cli(work / f"csv-{tag}-plain.db", "ingest", str(src), *CSV_OPTIONS, repeat=repeat,
                            fresh=True, prologue=NO_PYARROW)
        more["plain rss"] = PEAK_RSS["last"]
    src.unlink()
    return db, n, dt, gen, more


# ---------------------------------------------------------------------------- report
def verdict(name: str, value: float) -> str:
    target, unit, higher = TARGETS[name]
    ok = value >= target if higher else value <= target
    sign = ">=" if higher else "<="
    return f"{name:<28} {value:8.2f} {unit:<8} target {sign} {target:g} {unit:<8} {'ok' if ok else 'MISS'}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fraction", type=float, default=1.0, help="scale runs and event files (0.1: quick)")
    ap.add_argument("--runs", type=int, help="runs in the long CSV (default 25,000 x fraction)")
    ap.add_argument("--points", type=int, default=200, help="points per CSV run")
    ap.add_argument("--files", type=int, help="CleanRL event files (default 1,000 x fraction)")
    ap.add_argument("--file-points", type=int, default=5000, help="scalars per event file")
    ap.add_argument("--envs", type=int, default=57)
    ap.add_argument("--reps", type=int, default=50_000, help="aggregate bootstrap replicates")
    ap.add_argument("--repeat", type=int, default=1, help="best of N for each query")
    ap.add_argument("--ingest-repeat", type=int, default=1,
                    help="best of N for the long-CSV ingest (and the --compare-with code, alternating)")
    ap.add_argument("--skip-events", action="store_true")
    ap.add_argument("--skip-queries", action="store_true")
    ap.add_argument("--scaling", action="store_true", help="also at a quarter of the runs; print time ratios")
    ap.add_argument("--compare-with", type=Path, metavar="SRC",
                    help="also ingest with the openrlb_cli package under SRC (e.g. `git archive main` unpacked)")
    ap.add_argument("--keep", type=Path, help="work here (kept) instead of a temporary directory")
    a = ap.parse_args()
    n_runs = a.runs or round(25_000 * a.fraction)
    n_files = a.files or max(1, round(1000 * a.fraction))
    envs = atari_envs(a.envs)
    if n_runs < len(envs) * N_ALGOS:
        raise SystemExit(f"--runs must be at least {len(envs) * N_ALGOS} (every env x algorithm)")
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = a.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        out = work / "out"
        out.mkdir(exist_ok=True)

        db, n, dt, gen, more = build_csv_store(work, "full", envs, n_runs, a.points, a.compare_with,
                                               a.ingest_repeat, plain=True)
        csv_dt = dt
        base = row_per_point(work / "baseline-csv.db", min(n, 2_000_000), n_runs)
        figures["ingest long CSV"] = n / dt / 1e6
        print(f"long CSV: {n_runs:,} runs x {a.points} points = {n:,} points (written in {gen:.1f} s)"
              + (f"; best of {a.ingest_repeat}" if a.ingest_repeat > 1 else ""))
        print(f"  openrlb ingest (CLI)          {dt:7.2f} s  {n / dt / 1e6:5.2f} M pts/s  "
              f"({base / dt:.1f}x row-per-point executemany: {n / base / 1e6:.2f} M pts/s)  "
              f"peak RSS {more['rss']:.0f} MiB")
        plain = more["plain"]
        print(f"  {'  without pyarrow (pandas)':<29} {plain:7.2f} s  {n / plain / 1e6:5.2f} M pts/s  "
              f"peak RSS {more['plain rss']:.0f} MiB")
        if "old" in more:
            old = more["old"]
            print(f"  {'--compare-with code (CLI)':<29} {old:7.2f} s  {n / old / 1e6:5.2f} M pts/s  "
                  f"(this code: {old / dt:.1f}x faster)  peak RSS {more['old rss']:.0f} MiB")

        if not a.skip_events:
            logs = work / "runs"
            t0 = time.perf_counter()
            n_ev = make_event_runs(logs, envs, n_files, a.file_points)
            gen = time.perf_counter() - t0
            ev_db = work / "events.db"
            dt = min(cli(ev_db, "ingest", str(logs), fresh=True) for _ in range(max(1, a.ingest_repeat)))
            with Store(ev_db, create=False) as store:
                got = store.info()
            if got["runs"] != n_files or got["points"] != n_ev:
                raise SystemExit(f"event ingest stored {got['runs']} runs / {got['points']} points, "
                                 f"expected {n_files} / {n_ev}")
            old = cli(work / "events-old.db", "ingest", str(logs), src=a.compare_with) if a.compare_with else None
            per_file, n_pf = per_file_commit(work / "events-per-file.db", logs)
            assert n_pf == n_ev, (n_pf, n_ev)
            base = row_per_point(work / "baseline-ev.db", min(n_ev, 2_000_000), n_files * 11)
            figures["ingest event files"] = n_ev / dt / 1e6
            print(f"event files: {n_files:,} CleanRL runs x {a.file_points} scalars = {n_ev:,} points "
                  f"({sum(f.stat().st_size for f in logs.rglob('*.0')) / 2**20:.0f} MiB, written in {gen:.1f} s)"
                  + (f"; best of {a.ingest_repeat}" if a.ingest_repeat > 1 else ""))
            print(f"  openrlb ingest (CLI)          {dt:7.2f} s  {n_ev / dt / 1e6:5.2f} M pts/s  "
                  f"({per_file / dt:.1f}x one commit per file in-process: {n_ev / per_file / 1e6:.2f} M pts/s; "
                  f"{base / dt:.1f}x row-per-point: {n_ev / base / 1e6:.2f} M pts/s)")
            if old:
                print(f"  {'--compare-with code (CLI)':<29} {old:7.2f} s  {n_ev / old / 1e6:5.2f} M pts/s  "
                      f"(this code: {old / dt:.1f}x faster)")
            shutil.rmtree(logs)

        if not a.skip_queries:
            figures.update(queries(db, envs, out, a.repeat, a.reps))

        if a.scaling:
            quarter = max(len(envs) * N_ALGOS, n_runs // 4)
            qdb, _, qdt, _, _ = build_csv_store(work, "quarter", envs, quarter, a.points, repeat=a.ingest_repeat)
            print(f"\nscaling: {n_runs:,} runs vs {quarter:,} (x{n_runs / quarter:.1f}); linear means a ratio "
                  f"near that, start-up-bound commands stay near 1")
            print(f"  {'ingest long CSV':<28} {csv_dt / qdt:5.2f}x  ({qdt:.2f} s -> {csv_dt:.2f} s)")
            if not a.skip_queries:
                small = queries(qdb, envs, out, a.repeat, a.reps)
                for k in ("runs with a filter", "runs --json (all)", "info", "table 57 env x 3 algo"):
                    print(f"  {k:<28} {figures[k] / small[k]:5.2f}x  ({small[k]:.2f} s -> {figures[k]:.2f} s)")

    print(f"\n== figures at {n_runs:,} runs, {n_files:,} event files (fresh CLI process each, wall clock)")
    for name, value in figures.items():
        print("  " + verdict(name, value))
    misses = [k for k, v in figures.items() if "MISS" in verdict(k, v)]
    missed = f"; missed: {', '.join(misses)}" if misses else ""
    print(f"{len(figures) - len(misses)}/{len(figures)} targets met{missed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

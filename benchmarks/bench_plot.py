"""How long `openrlb plot` takes end to end, and where the time goes (query, interpolation, matplotlib).

Two workloads:
  * tianshou: the published 9-env × 8-algorithm × 10-seed MuJoCo benchmark (../shared/data),
    written into a temporary store with the Store API;
  * synthetic: 57 envs × 3 experiments × 10 seeds × 10,000 points per run (17.1M points), seeds
    logged at different, jittered steps and of different lengths, like per-episode returns.

For each: the CLI run in-process (`openrlb plot ... --formats png pdf svg`), a fresh
`python -m openrlb_cli` subprocess (adds interpreter start-up and imports), and the same work split
into phases through the library: resolve (run query), load (points query + decode), analysis
(interpolation + statistics, `compute_panels`), draw (matplotlib artists), save per format.

    python benchmarks/bench_plot.py [--skip-synthetic] [--band std|ci]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from openrlb_cli.cli import run  # noqa: E402
from openrlb_cli.model import RunRecord, Series  # noqa: E402
from openrlb_cli.render import figures as fg  # noqa: E402
from openrlb_cli.selection import load_curves, resolve  # noqa: E402
from openrlb_cli.store import Store  # noqa: E402


def _timed(fn, *args, **kw):
    t = time.perf_counter()
    out = fn(*args, **kw)
    return out, time.perf_counter() - t


def build_tianshou(db: Path) -> tuple[str, float]:
    import tianshou_helper as th

    if not th.TIANSHOU.is_dir():
        raise SystemExit(f"{th.TIANSHOU} is missing")
    with Store(db) as s:
        (n, dt) = _timed(th.load_into, s)
    return f"{n} runs", dt


def build_synthetic(db: Path, n_env: int = 57, n_exp: int = 3, n_seed: int = 10, n_pts: int = 10_000
                    ) -> tuple[str, float]:
    rng = np.random.default_rng(0)
    t = time.perf_counter()
    with Store(db) as s:
        for e in range(n_env):
            env = f"Game{e:02d}NoFrameskip-v4"
            for x in range(n_exp):
                for seed in range(n_seed):
                    n = int(n_pts * rng.uniform(0.9, 1.0)) if seed % 3 == 0 else n_pts
                    steps = np.cumsum(rng.integers(800, 1200, size=n)).astype(float)
                    vals = (x + 1) * 100 * (1 - np.exp(-steps / 3e6)) + rng.normal(0, 20, n)
                    walls = 1.7e9 + steps / 2500.0
                    s.write_run(RunRecord("bench", f"{env}/{x}/{seed}", project="bench", experiment=f"algo{x}",
                                          env=env, seed=seed,
                                          series={"charts/episodic_return": Series(steps, vals, walls)}))
    return f"{n_env * n_exp * n_seed} runs, {n_env * n_exp * n_seed * n_pts / 1e6:.1f}M points", \
        time.perf_counter() - t


def phases(db: Path, specs: list[str], metric: str | None, out: Path, band: str) -> dict[str, float]:
    import matplotlib

    opts = fg.PlotOptions(band=band)
    times: dict[str, float] = {}
    with Store(db) as s:
        sel, times["resolve (run query)"] = _timed(resolve, s, specs, None, metric)
        curves, times["load (points query+decode)"] = _timed(load_curves, s, sel)
    data, times["analysis (interp+stats)"] = _timed(fg.compute_panels, curves, opts)
    with matplotlib.rc_context(fg.RC):
        fig, times["draw (matplotlib)"] = _timed(fg.draw_figure, data, opts, fg.experiment_colors(sel.labels))
        for fmt in fg.FORMATS:
            _, times[f"save {fmt}"] = _timed(fg.save_figure, fig, [Path(f"{out}.{fmt}")], opts.dpi)
    return times


def bench(name: str, db: Path, specs: list[str], metric: str | None, band: str, tmp: Path) -> None:
    args = ["--db", str(db), "plot", *specs, *(["--metric", metric] if metric else []), "--band", band]
    with contextlib.redirect_stdout(io.StringIO()):
        code, cli_s = _timed(run, [*args, "-o", str(tmp / f"{name}-cli")])
    assert code == 0, code
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "openrlb_cli", *args, "-o", str(tmp / f"{name}-sub")],
                          cwd=ROOT, capture_output=True, text=True)
    sub_s = time.perf_counter() - t
    assert proc.returncode == 0, proc.stderr
    times = phases(db, specs, metric, tmp / f"{name}-lib", band)
    total = sum(times.values())
    data = sum(v for k, v in times.items() if not k.startswith(("draw", "save")))
    print(f"\n== {name} (band={band})")
    print(f"   CLI in-process (png+pdf+svg): {cli_s:6.2f} s    fresh subprocess: {sub_s:6.2f} s")
    for k, v in times.items():
        print(f"   {k:<30} {v:6.3f} s  {100 * v / total:5.1f}%")
    print(f"   data path (query+analysis)     {data:6.3f} s  {100 * data / total:5.1f}% of {total:.2f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--skip-synthetic", action="store_true")
    ap.add_argument("--skip-tianshou", action="store_true")
    ap.add_argument("--band", default="std", choices=fg.BANDS)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if not a.skip_tianshou:
            what, dt = build_tianshou(tmp / "tianshou.db")
            print(f"tianshou store: {what} written in {dt:.2f} s")
            bench("tianshou 9x8x10", tmp / "tianshou.db", ["?project=tianshou"], "test/reward", a.band, tmp)
        if not a.skip_synthetic:
            what, dt = build_synthetic(tmp / "synthetic.db")
            print(f"\nsynthetic store: {what} written in {dt:.2f} s")
            bench("synthetic 57x3x10x10k", tmp / "synthetic.db", ["?project=bench"], None, a.band, tmp)


if __name__ == "__main__":
    main()

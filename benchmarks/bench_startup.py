"""How long `openrlb` takes to start, against the CLI framework alone, measured in the same run.

Baseline: `python -c "import typer, rich.console"` (what any typer + rich CLI pays before its own
code). Each command runs in a fresh interpreter (as the `openrlb` console script does); the cases
are interleaved round-robin so machine noise hits them alike, and the median and the minimum of
`--repeat` runs are reported with their ratio to the baseline. Then one `python -X importtime` run
per command lists what it imports beyond the baseline, biggest first, to explain the gap.

    python benchmarks/bench_startup.py [--repeat 15] [--top 8]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("numpy", "pandas", "scipy", "matplotlib", "sqlite_utils", "requests", "pyarrow", "pydantic")
CLI = "import sys; from openrlb_cli.cli import main; sys.argv[0] = 'openrlb'; main()"
# The smallest typer app that parses an option: what typer itself costs per command beyond its import
# (typer >= 0.2x coerces every parameter through pydantic, imported on the first one).
HELLO = ("import typer\napp = typer.Typer()\n@app.command()\ndef hello(name: str = 'x', n: int = 1) -> None:\n"
         "    pass\napp()")


def _cases(db: Path, uid: str) -> dict[str, list[str]]:
    py = [sys.executable]
    cli = [*py, "-c", CLI]
    return {
        "python -c pass": [*py, "-c", "pass"],
        "import typer, rich.console (baseline)": [*py, "-c", "import typer, rich.console"],
        "typer hello --name y (typer's own run)": [*py, "-c", HELLO, "--name", "y"],
        "import openrlb_cli.cli": [*py, "-c", "import openrlb_cli.cli"],
        "openrlb --help": [*cli, "--help"],
        "openrlb plot --help": [*cli, "plot", "--help"],
        "openrlb info": [*cli, "--db", str(db), "info"],
        "openrlb runs": [*cli, "--db", str(db), "runs"],
        "openrlb runs --json env=CartPole-v1": [*cli, "--db", str(db), "runs", "--json", "env=CartPole-v1"],
        "openrlb show RUN": [*cli, "--db", str(db), "show", uid],
    }


def _run(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=env)
    return time.perf_counter() - t0


def _importtime(cmd: list[str], env: dict[str, str], baseline: set[str]) -> list[tuple[int, str]]:
    """(cumulative µs, module) of the top-level imports that the baseline does not have (typer and
    rich.console are imported first, so what they pull in is not counted under our modules)."""
    code = cmd[cmd.index("-c") + 1]
    cmd = [*cmd[: cmd.index("-c") + 1], "import typer, rich.console\n" + code, *cmd[cmd.index("-c") + 2:]]
    proc = subprocess.run([cmd[0], "-X", "importtime", *cmd[1:]], capture_output=True, text=True, env=env)
    rows = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line.split("|", 2)
        if not cumulative.strip().isdigit():
            continue
        depth = (len(name) - len(name.lstrip())) // 2
        mod = name.strip()
        if depth == 0 and mod not in baseline:  # imported at the top level, not by something else
            rows.append((int(cumulative), mod))
    return sorted(rows, reverse=True)


def _modules(cmd: list[str], env: dict[str, str]) -> set[str]:
    proc = subprocess.run([cmd[0], "-X", "importtime", *cmd[1:]], capture_output=True, text=True, env=env)
    return {ln.split("|", 2)[2].strip() for ln in proc.stderr.splitlines() if ln.count("|") >= 2}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--top", type=int, default=8, help="imports to list per command")
    args = ap.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop("OPENRLB_DB", None)
    # An installed package is byte-compiled (pip writes the .pyc files); without this, a shell that sets
    # PYTHONDONTWRITEBYTECODE would time our modules' compilation against typer's cached bytecode.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "tiny.db"
        subprocess.run([sys.executable, "-c", CLI, "--db", str(db), "-q", "ingest", str(ROOT / "sample_runs")],
                       check=True, env=env, stdout=subprocess.DEVNULL)
        import sqlite3

        conn = sqlite3.connect(db)
        uid = conn.execute("SELECT uid FROM runs ORDER BY id LIMIT 1").fetchone()[0]
        n_runs = conn.execute("SELECT count(*) FROM runs").fetchone()[0]
        conn.close()
        cases = _cases(db, uid)
        for cmd in cases.values():  # warm the page cache and the .pyc files
            _run(cmd, env)
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.repeat):
            for name, cmd in cases.items():
                times[name].append(_run(cmd, env))
        base_name = "import typer, rich.console (baseline)"
        base_med = statistics.median(times[base_name])
        base_min = min(times[base_name])
        hello_min = min(times["typer hello --name y (typer's own run)"])
        print(f"start-up on a {n_runs}-run store, {args.repeat} runs each, interleaved "
              f"(python {sys.version.split()[0]}, {os.cpu_count()} CPUs)\n")
        print(f"{'command':40s} {'median s':>9s} {'min s':>7s} {'x baseline':>11s} {'x baseline':>11s} "
              f"{'x typer hello':>14s}")
        print(f"{'':40s} {'':9s} {'':7s} {'(median)':>11s} {'(min)':>11s} {'(min)':>14s}")
        for name, ts in times.items():
            med, lo = statistics.median(ts), min(ts)
            print(f"{name:40s} {med:9.3f} {lo:7.3f} {med / base_med:11.2f} {lo / base_min:11.2f} "
                  f"{lo / hello_min:14.2f}")
        baseline_mods = _modules(cases[base_name], env)
        print("\nwhat each command imports beyond the baseline (python -X importtime, top-level imports, ms):")
        for name, cmd in cases.items():
            if not name.startswith(("openrlb", "typer")):
                continue
            mods = _modules(cmd, env)
            heavy = [m for m in HEAVY if m in mods]
            rows = _importtime(cmd, env, baseline_mods)[: args.top]
            listed = ", ".join(f"{mod} {us / 1000:.0f}" for us, mod in rows)
            print(f"  {name}: {listed}")
            print(f"    heavy libraries loaded: {', '.join(heavy) or 'none'}")


if __name__ == "__main__":
    main()

"""Fetch speed: 8 workers vs 1 against a W&B-shaped server adding 50 ms per request, and a no-op sync.

Runs the fake W&B server of the test suite (tests/fake_wandb.py) in its own process, with every
history answer serialised before the clock starts (a real server works on its own machine; on
this 2-core box the fake's CPU would otherwise be charged to the client), then:

1. fetches every run (default 200 runs x 10,000 points, 1,000-row history windows) with 1 worker,
2. fetches the same into a fresh store with 8 workers,
3. re-syncs the 8-worker store with nothing changed (must cost zero history requests).

Both fetches are checked for completeness (every run, every point, values as the server computes
them). Times are printed as ratios against the 1-worker baseline measured in the same run. The
rate limit is off (--max-rps 0) because the point is the worker pool; W&B's default is 20/s.

    python benchmarks/bench_fetch.py [--runs 200] [--points 10000] [--latency 0.05] [--json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from fake_wandb import GeneratedRun  # noqa: E402

from openrlb_cli.fetch.http import RetryPolicy  # noqa: E402
from openrlb_cli.fetch.sync import FetchOptions, fetch_and_save, sync  # noqa: E402
from openrlb_cli.fetch.wandb import WandbQuery, WandbSpec  # noqa: E402
from openrlb_cli.store import Store  # noqa: E402

PAGE = 1000  # history rows per request, as the W&B SDK's scan_history


def start_server(runs: int, points: int, latency: float, workdir: Path) -> tuple[subprocess.Popen, str]:
    port_file = workdir / "port"
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "fake_wandb.py"), "--runs", str(runs),
                             "--points", str(points), "--latency", str(latency), "--port-file", str(port_file),
                             "--prewarm", str(PAGE)])
    deadline = time.monotonic() + 300
    while not port_file.exists() or not port_file.read_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the fake W&B server did not start")
        time.sleep(0.05)
    return proc, port_file.read_text().strip()


def check_complete(store: Store, runs: int, points: int) -> None:
    infos = store.runs()
    assert len(infos) == runs, f"{len(infos)} runs stored, expected {runs}"
    series = store.load_many([r.id for r in infos], "charts/episodic_return")
    for info in infos:
        name = info.external_id.rsplit("/", 1)[1]
        s = series[info.id]
        assert len(s) == points, f"{name}: {len(s)} points, expected {points}"
        reference = GeneratedRun(name, points)
        steps = np.arange(points)
        np.testing.assert_array_equal(s.steps, steps)
        np.testing.assert_array_equal(s.values, [reference.value(int(x)) for x in steps])


def timed_fetch(db: Path, url: str, workers: int) -> tuple[float, dict]:
    spec = WandbSpec(base_url=url, queries=[WandbQuery("bench", "proj")], page_size=PAGE, runs_per_page=50)
    opts = FetchOptions(workers=workers, max_rps=0, policy=RetryPolicy(backoff=0.1, jitter=0.1))
    with Store(db) as store:
        started = time.perf_counter()
        _, summary = fetch_and_save(store, "wandb", spec.to_json(), opts, name="bench")
        seconds = time.perf_counter() - started
    return seconds, summary.to_dict()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--json", action="store_true", help="Print the results as JSON.")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        proc, url = start_server(args.runs, args.points, args.latency, work)
        try:
            t1, s1 = timed_fetch(work / "one.db", url, 1)
            with Store(work / "one.db") as store:
                check_complete(store, args.runs, args.points)
            tn, sn = timed_fetch(work / "many.db", url, args.workers)
            with Store(work / "many.db") as store:
                check_complete(store, args.runs, args.points)
                requests.post(f"{url}/_reset", timeout=10)
                opts = FetchOptions(workers=args.workers, max_rps=0)
                started = time.perf_counter()
                result = sync(store, ["bench"], opts)
                t_sync = time.perf_counter() - started
            counts = requests.get(f"{url}/_stats", timeout=10).json()["counts"]
        finally:
            proc.terminate()
            proc.wait(timeout=10)

    (_, sync_summary), = result.results
    history_requests = counts.get("HistoryPage", 0) + counts.get("SampledHistoryPage", 0)
    results = {
        "runs": args.runs, "points_per_run": args.points, "latency_s": args.latency,
        "one_worker": {"seconds": round(t1, 2), "requests": s1["requests"], "points": s1["points_added"]},
        f"{args.workers}_workers": {"seconds": round(tn, 2), "requests": sn["requests"], "points": sn["points_added"],
                                    "speedup_vs_1_worker": round(t1 / tn, 2)},
        "noop_sync": {"seconds": round(t_sync, 3), "history_requests": history_requests,
                      "requests": counts.get("total", 0), "unchanged_runs": sync_summary.unchanged,
                      "fraction_of_1_worker_time": round(t_sync / t1, 4)},
    }
    ok = t1 / tn >= 5 and history_requests == 0 and t_sync < 2 and sync_summary.unchanged == args.runs
    results["pass"] = ok
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(f"fetch {args.runs} runs x {args.points:,} points, {args.latency * 1000:.0f} ms per request")
        print(f"  1 worker : {t1:7.2f} s  ({s1['requests']:,} requests)  = 1.00x (baseline)")
        print(f"  {args.workers} workers: {tn:7.2f} s  ({sn['requests']:,} requests)  = {t1 / tn:.2f}x faster "
              f"(target >= 5x)")
        print(f"  no-op sync: {t_sync:6.3f} s, {history_requests} history requests, {counts.get('total', 0)} "
              f"requests, {sync_summary.unchanged} runs unchanged = {t_sync / t1:.4f} of the 1-worker time "
              f"(target < 2 s, 0 history requests)")
        print("PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

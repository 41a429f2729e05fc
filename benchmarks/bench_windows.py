"""History windows under both `maxStep` conventions and a `samples` cap: completeness and requests.

For each server behaviour (maxStep exclusive / inclusive as W&B's backend serves
`sampledHistory`; samples uncapped / capped below the page size) one dense run is fetched through
the `--metric` path (rlops' keys) twice:

* baseline: SDK-style windows `[lo, lo + page)` asked with `maxStep = lo + page` and
  `samples = page`, rows kept as they come (what openrlb did before, and what the wandb SDK's
  `scan_history` does);
* openrlb: `fetch_wandb` as shipped.

Printed per case: points stored, distinct steps, duplicated and missing steps, history requests,
and the fetch's status (a run whose rows the server withheld must fail, never pass silently).

    python benchmarks/bench_windows.py [--steps 2500] [--page 1000] [--cap 300]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from fake_wandb import FakeRun, FakeWandb  # noqa: E402

from openrlb_cli.fetch.http import RetryPolicy  # noqa: E402
from openrlb_cli.fetch.wandb import WandbClient, WandbQuery, WandbSpec, fetch_wandb  # noqa: E402
from openrlb_cli.store import Store  # noqa: E402

KEYS = ["charts/episodic_return", "global_step", "_runtime"]


def rows(n: int) -> list[dict]:
    return [{"_step": s, "_timestamp": 1.7e9 + s, "_runtime": float(s), "global_step": s * 4,
             "charts/episodic_return": float(s)} for s in range(n)]


def baseline(fake: FakeWandb, n: int, page: int) -> tuple[np.ndarray, int]:
    """SDK-style windows: exclusive maxStep assumed, samples = page, no split, no count check."""
    client = WandbClient(fake.url, key="", policy=RetryPolicy(max_attempts=2))
    steps: list[float] = []
    requests = 0
    try:
        for lo in range(0, n, page):
            lists = client.sampled("ent", "proj", "r0", ["global_step"], {"global_step": lo}, lo + page, page)
            requests += 1
            steps += [float(r["_step"]) for r in lists[0]]
    finally:
        client.close()
    return np.array(steps), requests


def openrlb(fake: FakeWandb, page: int, tmp: Path) -> tuple[np.ndarray, int, str]:
    fake.reset_counts()
    with Store(tmp / f"s{id(fake)}.db") as store:
        spec = WandbSpec(base_url=fake.url, queries=[WandbQuery("ent", "proj", metrics=KEYS)], page_size=page)
        summary = fetch_wandb(store, spec, workers=4, max_rps=None, key="",
                              policy=RetryPolicy(max_attempts=2, backoff=0.01, jitter=0.0))
        run_id = store.run_id_for("wandb", "ent/proj/r0")
        series = store.load_series(run_id, "_runtime") if run_id is not None else None
    steps = series.values if series is not None else np.array([])  # _runtime == _step in these rows
    return steps, fake.history_requests, summary.status


def describe(steps: np.ndarray, n: int) -> dict:
    unique = np.unique(steps)
    return {"points": int(steps.size), "distinct": int(unique.size), "duplicated": int(steps.size - unique.size),
            "missing": int(n - np.isin(np.arange(n), unique).sum())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=2500)
    parser.add_argument("--page", type=int, default=1000)
    parser.add_argument("--cap", type=int, default=300)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for inclusive in (False, True):
            for cap in (None, args.cap):
                with FakeWandb(inclusive_max_step=inclusive, samples_cap=cap) as fake:
                    fake.add("ent", "proj", FakeRun("r0", rows=rows(args.steps)))
                    base, base_requests = baseline(fake, args.steps, args.page)
                    ours, our_requests, status = openrlb(fake, args.page, Path(tmp))
                case = {"maxStep": "inclusive" if inclusive else "exclusive", "cap": cap,
                        "baseline": {**describe(base, args.steps), "requests": base_requests, "status": "ok"},
                        "openrlb": {**describe(ours, args.steps), "requests": our_requests, "status": status}}
                results.append(case)
    if args.json:
        print(json.dumps(results, indent=1))
        return
    print(f"one run of {args.steps:,} dense steps, --metric path, page {args.page:,}")
    print(f"{'server':<22} {'who':<9} {'points':>7} {'distinct':>8} {'dup':>4} {'missing':>7} {'requests':>8}  status")
    for c in results:
        server = f"{c['maxStep']}, " + (f"cap {c['cap']}" if c["cap"] else "no cap")
        for who in ("baseline", "openrlb"):
            r = c[who]
            print(f"{server:<22} {who:<9} {r['points']:>7,} {r['distinct']:>8,} {r['duplicated']:>4} "
                  f"{r['missing']:>7} {r['requests']:>8}  {r['status']}")


if __name__ == "__main__":
    main()

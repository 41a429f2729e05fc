"""`openrlb rlops` against Open RL Benchmark 0.3.1 itself (recorded fixture, no openrlbenchmark needed).

`benchmarks/orlb_reference/make_fixture.py` ran openrlbenchmark's unmodified `rlops` on synthetic
runs and recorded its tables, curves and rliable numbers. Here the same runs are served by the
fake W&B server, fetched and computed by openrlb, and every number compared.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from fake_wandb import FakeRun, FakeWandb

from openrlb_cli.rlops import calc as rlops_calc
from openrlb_cli.rlops import command as rlops
from openrlb_cli.store import Store

FIXTURE = json.loads((Path(__file__).parent / "data" / "orlb_reference.json").read_text())
CASES = {c["name"]: c for c in FIXTURE["cases"]}
KEEP = np.array(FIXTURE["kept_grid_points"])
RLOPS_FILES = ["{}.png", "{}.pdf", "{}.svg", "{}-time.png", "{}-time.pdf", "{}-time.svg", "{}.md", "{}.csv",
               "{}_runtimes.md", "{}_runtimes.csv", "{}_aggregate.png", "{}_aggregate.pdf",
               "{}_performance_profile.png", "{}_performance_profile.pdf", "{}_sample_efficiency.png",
               "{}_sample_efficiency.pdf", "{}_sample_walltime_efficiency.png", "{}_sample_walltime_efficiency.pdf"]


def _arr(values) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


@pytest.fixture(scope="module", params=sorted(CASES))
def computed(request, tmp_path_factory):
    """One fixture case fetched from the fake W&B server and run through `openrlb rlops`."""
    from openrlb_cli.cli import run as cli_run

    case = CASES[request.param]
    tmp = tmp_path_factory.mktemp(case["name"])
    db, out = tmp / "store.db", tmp / "out" / "compare"
    with FakeWandb() as fake:
        entity, project = next((h.split("we=")[1].split("&")[0], h.split("wpn=")[1].split("&")[0])
                               for h in case["argv"] if h.startswith("?"))
        for r in case["runs"]:
            fake.add(entity, project, FakeRun(r["name"], config=r["config"], tags=r["tags"], state=r["state"],
                                              user=r["user"], created_at=r["created_at"], rows=r["rows"]))
        argv = [*case["argv"], "--scan-history", "--output-filename", str(out)]
        code = cli_run(["--db", str(db), "--quiet", "rlops", *argv, "--base-url", fake.url, "--max-rps", "0"])
    assert code == 0
    args = rlops.parse_args(argv)
    with Store(db) as store:
        curves = rlops.build_curves(store, args)
        rows = rlops.load_rows(store, curves, args)
    return case, out, curves, rows, args


def test_every_rlops_file_is_written(computed):
    case, out, *_ = computed
    names = {p.name for p in out.parent.iterdir()}
    assert set(case["files"]) == {f.format("compare") for f in RLOPS_FILES}  # the fixture's own list
    assert set(case["files"]) <= names


def test_score_table_is_rlops_text_for_text(computed):
    """Mean ± population std of each run's last-N mean: the markdown and CSV exactly as rlops wrote them."""
    case, out, *_ = computed
    assert Path(f"{out}.md").read_text() == case["tables"]["compare.md"]
    assert Path(f"{out}.csv").read_text() == case["tables"]["compare.csv"]


def test_runtime_table_matches_in_minutes_or_hours(computed):
    case, out, *_ = computed
    ours = list(csv.reader(io.StringIO(Path(f"{out}_runtimes.csv").read_text())))
    ref = list(csv.reader(io.StringIO(case["tables"]["compare_runtimes.csv"])))
    assert [r[0] for r in ours] == [r[0] for r in ref] and ours[0] == ref[0]
    np.testing.assert_allclose([[float(v) for v in r[1:]] for r in ours[1:]],
                               [[float(v) for v in r[1:]] for r in ref[1:]], rtol=1e-12)
    assert Path(f"{out}_runtimes.md").read_text() == case["tables"]["compare_runtimes.md"]


def test_curves_are_rolled_over_the_interpolated_grid(computed):
    """expt's line and band for every panel, experiment and x axis, at the recorded grid points."""
    case, _, curves, rows, args = computed
    labels, envs = curves.selection.labels, curves.selection.env_ids
    unit = args.pc.get("time-unit", "m")
    records = iter(case["curves"])
    compared = 0
    for env in envs:
        for kind in ("step", "time"):
            for label in labels:
                ref = next(records)
                assert ref["hypothesis"] == label
                runs = rows[(label, env)]
                xs = [r.x if kind == "step" else r.runtime / rlops_calc.TIME_DIVISORS.get(unit, 1.0) for r in runs]
                got = rlops_calc.rlops_curve(xs, [r.value for r in runs], args.pc.get("rolling", 100))
                assert ref["n_grid"] == got.grid.size == 10_000
                for name in ("grid", "mean", "lower", "upper"):
                    np.testing.assert_allclose(getattr(got, name)[KEEP], _arr(ref[name]), rtol=1e-9, atol=1e-9,
                                               err_msg=f"{env} {label} {kind} {name}")
                compared += 1
    assert compared == len(case["curves"]) == 2 * len(envs) * len(labels)


def test_rliable_scores_and_aggregates_match(computed):
    """score_dict (final interpolated values), maxmin/atari normalization, the four aggregates,
    profiles and every sample-efficiency point are rliable's numbers on rlops' inputs."""
    case, out, curves, _, _ = computed
    doc = json.loads(Path(f"{out}_rliable.json").read_text())
    calls = case["interval_estimates"]
    efficiency_calls, aggregate_call = calls[:4], calls[-1]  # (profiles call it too, in between)
    labels = curves.selection.labels
    for label in labels:
        np.testing.assert_allclose(_arr(np.ravel(doc["normalized"][label])),
                                   np.ravel(efficiency_calls[0]["scores"][label]), rtol=1e-12, atol=1e-12)
        assert list(np.shape(doc["final"][label])) == aggregate_call["shape"][label]  # seeds truncated as rlops
        np.testing.assert_allclose(np.ravel(doc["final"][label]), np.ravel(aggregate_call["scores"][label]),
                                   rtol=1e-12, atol=1e-12)
        ours = [doc["aggregates"][label][m]["point"] for m in ("median", "iqm", "mean", "optimality_gap")]
        np.testing.assert_allclose(ours, aggregate_call["points"][label], rtol=1e-12, atol=1e-12)
        for call, metric in zip(efficiency_calls, ("median", "iqm", "mean", "optimality_gap"), strict=True):
            np.testing.assert_allclose(_arr(doc["efficiency"][metric][label]["point"]), call["points"][label],
                                       rtol=1e-12, atol=1e-12, err_msg=f"{label} {metric}")
        for prof, kind in zip(case["profiles"], ("run", "average"), strict=True):
            assert prof["kind"] == kind
            np.testing.assert_allclose(doc["profiles"]["taus"], prof["taus"], rtol=1e-15)
            np.testing.assert_allclose(doc["profiles"][label][kind]["point"], prof["points"][label], atol=1e-12)
    # efficiency x axes: steps (expt's summary of global_step, mean over envs) and runtime in the time unit
    steps_axes = [a for a in case["efficiency_axes"] if a["xlabel"] == "Steps"]
    time_axes = [a for a in case["efficiency_axes"] if a["xlabel"].startswith("Time")]
    assert steps_axes and time_axes
    for axis in steps_axes:
        np.testing.assert_allclose(doc["efficiency"]["median"][axis["algorithm"]]["x"], axis["x"], rtol=1e-12)
    for axis in time_axes:
        np.testing.assert_allclose(doc["time_axis"][axis["algorithm"]], axis["x"], rtol=1e-12)
    assert doc["n_seeds"] == {k: v[0] for k, v in aggregate_call["shape"].items()}

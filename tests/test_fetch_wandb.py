"""W&B fetching against a real HTTP server on 127.0.0.1: mapping, paging, completeness, increments."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from fake_wandb import FakeRun, FakeWandb, expected_points

from openrlb_cli.fetch.http import RetryPolicy
from openrlb_cli.fetch.wandb import WandbQuery, WandbSpec, fetch_wandb, windows
from openrlb_cli.store import Store
from openrlb_cli.wandb_rows import rows_to_series

FAST = RetryPolicy(max_attempts=4, backoff=0.01, jitter=0.01, read_timeout=5)


def rows(n: int, start: int = 0, *, t0: float = 1.7e9, eval_every: int = 0) -> list[dict]:
    out = []
    for s in range(start, start + n):
        row = {"_step": s, "_timestamp": t0 + s * 0.25, "_runtime": s * 0.25, "charts/episodic_return": math.sin(s),
               "global_step": s * 128}
        if eval_every and s % eval_every == 0:
            row["eval/return"] = s / 7.0
        out.append(row)
    return out


@pytest.fixture
def fake():
    with FakeWandb() as server:
        yield server


@pytest.fixture
def store(tmp_path: Path):
    with Store(tmp_path / "s.db") as s:
        yield s


def spec_for(fake: FakeWandb, *queries: WandbQuery, page_size: int = 100, runs_per_page: int = 3) -> WandbSpec:
    return WandbSpec(base_url=fake.url, queries=list(queries), page_size=page_size, runs_per_page=runs_per_page)


def fetch(store: Store, spec: WandbSpec, **kw):
    kw.setdefault("policy", FAST)
    kw.setdefault("max_rps", None)
    kw.setdefault("key", "")
    kw.setdefault("workers", 4)
    return fetch_wandb(store, spec, **kw)


def assert_store_matches(store: Store, fake: FakeWandb, entity: str, project: str,
                         keys: list[str] | None = None) -> int:
    """Every point of every run of the project is in the store exactly once; returns points compared."""
    compared = 0
    for run in fake.projects[(entity, project)]:
        run_id = store.run_id_for("wandb", f"{entity}/{project}/{run.name}")
        assert run_id is not None, run.name
        expected = expected_points(run)
        stored_keys = {s.key for s in store.series_info([run_id])}
        wanted = set(expected) if keys is None else set(keys) & set(expected)
        assert stored_keys == wanted, run.name
        for key in wanted:
            steps, values, walls = expected[key]
            got = store.load_series(run_id, key)
            np.testing.assert_array_equal(got.steps, steps, err_msg=f"{run.name} {key}")
            np.testing.assert_array_equal(got.values, values, err_msg=f"{run.name} {key}")
            np.testing.assert_array_equal(got.wall_times, walls, err_msg=f"{run.name} {key}")
            compared += len(steps)
    return compared


def populate(fake: FakeWandb, n_runs: int = 7) -> list[FakeRun]:
    out = []
    for i in range(n_runs):
        run = FakeRun(f"r{i}", config={"env_id": "Hopper-v4" if i % 2 else "Walker2d-v4", "exp_name": "ppo",
                                       "seed": i, "lr": 3e-4}, tags=["v1"] + (["extra"] if i == 3 else []),
                      created_at=f"2024-01-0{1 + i % 9}T00:00:{i:02d}", rows=rows(230 + 17 * i, eval_every=10))
        out.append(fake.add("ent", "proj", run))
    return out


def test_every_point_arrives_exactly_once_with_run_and_history_paging(fake, store):
    runs = populate(fake)
    runs[2].rows[5]["charts/episodic_return"] = "NaN"  # as W&B writes non-finite numbers
    runs[2].rows[6]["media"] = {"_type": "image-file", "path": "x.png"}  # not a number: skipped
    runs[2].rows[7]["done"] = True
    summary = fetch(store, spec_for(fake, WandbQuery("ent", "proj")))
    assert summary.status == "ok"
    assert (summary.new, summary.updated, summary.unchanged, summary.failed) == (7, 0, 0, 0)
    compared = assert_store_matches(store, fake, "ent", "proj")
    assert summary.points_added == compared == store.info()["points"]
    assert fake.counts["Runs"] == 3  # 7 runs, 3 per page
    # windows of 100 steps: ceil(rows / 100) history requests per run, no more
    assert fake.counts["HistoryPage"] == sum(math.ceil(r.line_count() / 100) for r in runs)
    nan_run = store.run_id_for("wandb", "ent/proj/r2")
    assert math.isnan(store.load_series(nan_run, "charts/episodic_return").values[5])


def test_run_metadata_is_mapped(fake, store):
    populate(fake, 4)
    fetch(store, spec_for(fake, WandbQuery("ent", "proj", env_key="env_id", exp_key="exp_name")))
    info = next(r for r in store.runs() if r.external_id == "ent/proj/r3")
    assert info.source == "wandb" and info.external_id == "ent/proj/r3"
    assert info.project == "ent/proj" and info.name == "run-r3"
    assert (info.experiment, info.env, info.seed) == ("ppo", "Hopper-v4", 3)
    assert info.config == {"env_id": "Hopper-v4", "exp_name": "ppo", "seed": 3, "lr": 3e-4}  # unwrapped, no _wandb
    assert sorted(info.tags) == ["extra", "v1"]
    assert info.state == "finished" and info.user == "alice"
    assert info.url == f"{fake.url}/ent/proj/runs/r3"
    assert info.created_at == 1704067200.0 + 3 * 86400 + 3  # 2024-01-04T00:00:03Z
    assert info.summary["global_step"] == (230 + 17 * 3 - 1) * 128


def test_unchanged_runs_cost_no_history_request(fake, store):
    populate(fake)
    spec = spec_for(fake, WandbQuery("ent", "proj"))
    fetch(store, spec)
    fake.reset_counts()
    again = fetch(store, spec)
    assert fake.history_requests == 0
    assert (again.new, again.updated, again.unchanged, again.points_added) == (0, 0, 7, 0)
    assert fake.counts["Runs"] == 3


def test_running_run_gets_only_its_new_steps(fake, store):
    runs = populate(fake, 3)
    live = runs[1]
    live.state = "running"
    spec = spec_for(fake, WandbQuery("ent", "proj"))
    fetch(store, spec)
    before = len(live.rows)
    live.extend(rows(130, start=before))
    fake.reset_counts()
    again = fetch(store, spec)
    assert (again.updated, again.unchanged) == (1, 2)
    assert set(fake.history_by_run) == {"r1"}
    assert min(lo for _, lo, _ in fake.history_log) == before  # nothing already stored is asked again
    assert again.points_added == 130 * 3  # _runtime, charts/episodic_return, global_step
    assert_store_matches(store, fake, "ent", "proj")
    # finished now, and nothing new: no history request at all
    live.state = "finished"
    fake.reset_counts()
    third = fetch(store, spec)
    assert fake.history_requests == 0 and third.updated == 1 and third.points_added == 0


def test_sparse_steps_get_wide_windows_split_when_full(fake, store):
    dense = [{"_step": s, "_timestamp": 1.7e9 + s, "loss": s * 1.0} for s in range(200)]
    sparse = [{"_step": s, "_timestamp": 1.7e9 + s, "loss": -s * 1.0} for s in range(10_000, 100_001, 10_000)]
    fake.add("ent", "sparse", FakeRun("s0", rows=dense + sparse))
    summary = fetch(store, spec_for(fake, WandbQuery("ent", "sparse"), page_size=50))
    assert summary.status == "ok"
    assert assert_store_matches(store, fake, "ent", "sparse") == 210
    # 100,001 steps in windows of 50 would be 2,001 requests; wide windows + splitting need far fewer
    assert fake.counts["HistoryPage"] < 40
    widths = [hi - lo for _, lo, hi in fake.history_log if lo < 200]
    assert max(widths) > 50 and min(widths) <= 50  # a full wide window was split down to page size


def test_metric_keys_use_per_key_sampled_history_then_all_keys_without_duplicates(fake, store):
    populate(fake, 3)
    keys = ["eval/return", "charts/episodic_return"]  # logged at different steps: must not share a spec
    first = fetch(store, spec_for(fake, WandbQuery("ent", "proj", metrics=keys)))
    assert first.status == "ok"
    assert fake.counts["SampledHistoryPage"] > 0 and fake.counts["HistoryPage"] == 0
    assert_store_matches(store, fake, "ent", "proj", keys=keys)
    # the same keys again: nothing to do
    fake.reset_counts()
    fetch(store, spec_for(fake, WandbQuery("ent", "proj", metrics=keys)))
    assert fake.history_requests == 0
    # now every key: the two already stored are not appended twice
    everything = fetch(store, spec_for(fake, WandbQuery("ent", "proj")))
    assert everything.status == "ok"
    assert_store_matches(store, fake, "ent", "proj")


def test_words_select_runs_on_the_server(fake, store):
    populate(fake)
    from openrlb_cli.fetch.wandb_filters import words_to_filter

    flt = words_to_filter(["env=Hopper-v4", "seed=1", "seed=5", "tag=v1"])
    summary = fetch(store, spec_for(fake, WandbQuery("ent", "proj", filters=flt)))
    assert summary.new == 2
    assert sorted(r.external_id for r in store.runs()) == ["ent/proj/r1", "ent/proj/r5"]


def test_same_run_in_two_queries_is_fetched_once(fake, store):
    populate(fake, 4)
    a = WandbQuery("ent", "proj", filters={"config.seed.value": {"$in": [0, 1, 2]}})
    b = WandbQuery("ent", "proj", filters={"config.seed.value": {"$in": [2, 3]}})
    summary = fetch(store, spec_for(fake, a, b))
    assert summary.new == 4 and fake.counts["Runs"] == 2  # one listing ($or), 4 runs over 2 pages
    assert_store_matches(store, fake, "ent", "proj")


def test_rows_to_series_drops_points_below_floor_and_sorts():
    got, dropped = rows_to_series([{"_step": 5, "a": 1.0, "_timestamp": 10.0}, {"_step": 3, "a": 2.0, "b": "x"},
                                   {"_step": 7, "a": "Infinity", "b": 4}, {"a": 9.0}], {"a": 4}, 0)
    assert list(got) == ["a", "b"] and dropped == 0
    np.testing.assert_array_equal(got["a"].steps, [5, 7])
    np.testing.assert_array_equal(got["a"].values, [1.0, math.inf])
    np.testing.assert_array_equal(got["a"].wall_times, [10.0, math.nan])
    np.testing.assert_array_equal(got["b"].values, [4.0])


def test_windows_cover_the_range_exactly_once():
    assert windows(0, 250, 100, 250, 249) == [(0, 100), (100, 200), (200, 250)]
    assert windows(250, 250, 100, 250, 249) == []
    wide = windows(0, 100_001, 50, 210, 100_000)
    assert wide[0][0] == 0 and wide[-1][1] == 100_001
    assert all(a[1] == b[0] for a, b in zip(wide, wide[1:], strict=False))
    assert len(wide) < 10

"""Fetched W&B runs are stored against their x axis (global_step), not W&B's row counter `_step`.

The fake runs below log `global_step` = 5000 x `_step` (Tianshou's test/reward every 5,000 env
steps), some rows without `global_step` at all (logged between env steps), and one run that never
logs it. The expected points are computed row by row in `fake_wandb.expected_points`.
"""

from __future__ import annotations

import csv
import io
import json
import math

import numpy as np
import pytest
from fake_wandb import FakeRun, FakeWandb, expected_points
from test_fetch_wandb import assert_store_matches, fetch, spec_for

from openrlb_cli.fetch import state
from openrlb_cli.fetch.wandb import WandbQuery
from openrlb_cli.store import Store
from openrlb_cli.wandb_rows import choose_x_axis, rows_to_series

HEADER = "?we=ent&wpn=tianshou&ceik=env_id&cen=exp_name&metric=test/reward"


def tianshou_rows(n: int, seed: int, *, gap_every: int = 7) -> list[dict]:
    """Rows with `global_step` = 5000 * `_step`; every `gap_every`-th row has no global_step."""
    out = []
    for s in range(n):
        row = {"_step": s, "_timestamp": 1.7e9 + s, "_runtime": float(s), "test/reward": 100.0 * seed + s,
               "train/loss": 1.0 / (s + 1)}
        if s % gap_every != 3:
            row["global_step"] = 5000 * s
        out.append(row)
    return out


@pytest.fixture
def fake():
    with FakeWandb() as server:
        for i, (exp, env) in enumerate([("sac", "Hopper-v3"), ("sac", "Hopper-v3"), ("td3", "Hopper-v3")]):
            server.add("ent", "tianshou", FakeRun(f"r{i}", config={"exp_name": exp, "env_id": env, "seed": i},
                                                  created_at=f"2024-01-01T00:00:0{i}",
                                                  rows=tianshou_rows(40 + i, seed=i)))
        server.add("ent", "tianshou", FakeRun(  # never logs global_step: stored against _step
            "plain", config={"exp_name": "dqn", "env_id": "Hopper-v3", "seed": 0}, created_at="2024-01-02T00:00:00",
            rows=[{"_step": s, "_timestamp": 1.7e9 + s, "test/reward": float(s)} for s in range(25)]))
        yield server


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "s.db") as s:
        yield s


def stored_axes(store: Store) -> dict[str, str | None]:
    rows = store.conn.execute("SELECT r.external_id, f.x_axis FROM runs r JOIN fetch_runs f ON f.run_id = r.id")
    return dict(rows.fetchall())


def test_rows_to_series_keys_points_on_the_x_axis_and_drops_rows_without_it():
    rows = [{"_step": 0, "global_step": 0, "a": 1.0, "_timestamp": 5.0},
            {"_step": 1, "a": 2.0},  # no x value: dropped, as rlops' dropna drops it
            {"_step": 2, "global_step": 10_000, "a": 3.0, "b": 7},
            {"_step": 3, "global_step": "NaN", "a": 4.0},  # non-finite x: dropped too
            {"_step": 4, "global_step": 5_000, "a": 5.0}]  # x going back: sorted by x
    got, dropped = rows_to_series(rows, {}, 0, "global_step")
    np.testing.assert_array_equal(got["a"].steps, [0, 5_000, 10_000])
    np.testing.assert_array_equal(got["a"].values, [1.0, 5.0, 3.0])
    np.testing.assert_array_equal(got["a"].wall_times, [5.0, math.nan, math.nan])
    np.testing.assert_array_equal(got["b"].steps, [10_000])
    np.testing.assert_array_equal(got["global_step"].values, got["global_step"].steps)
    assert dropped == 3  # a at _step 1 and 3, and the "NaN" global_step point itself
    # floors stay in _step (what windows are bounded by), whatever the x axis
    floored, _ = rows_to_series(rows, {"a": 2}, 0, "global_step")
    np.testing.assert_array_equal(floored["a"].steps, [5_000, 10_000])


def test_x_axis_choice():
    node = {"name": "r", "historyKeys": {"keys": {"_step": {}, "global_step": {}, "loss": {}}}}
    assert choose_x_axis(node, None) == ("global_step", None)
    assert choose_x_axis(node, "loss") == ("loss", None)
    assert choose_x_axis(node, "_step") == ("_step", None)
    assert choose_x_axis({"name": "r", "historyKeys": {"keys": {"_step": {}}}}, None) == ("_step", None)
    key, warning = choose_x_axis(node, "frames")
    assert key == "_step" and "does not log 'frames'" in warning


def test_plain_fetch_stores_every_key_against_global_step(fake, store):
    summary = fetch(store, spec_for(fake, WandbQuery("ent", "tianshou")))
    assert summary.status == "ok"
    assert_store_matches(store, fake, "ent", "tianshou")  # r*: global_step, plain: _step
    gaps = sum(1 for r in fake.projects[("ent", "tianshou")][:3] for row in r.rows if "global_step" not in row)
    assert summary.points_without_x == gaps * 3  # _runtime, test/reward, train/loss of each gap row
    assert stored_axes(store) == {"ent/tianshou/r0": "global_step", "ent/tianshou/r1": "global_step",
                                  "ent/tianshou/r2": "global_step", "ent/tianshou/plain": "_step"}
    r1 = store.load_series(store.run_id_for("wandb", "ent/tianshou/r1"), "test/reward")
    assert r1.steps[:3].tolist() == [0.0, 5000.0, 10000.0] and 15000.0 not in r1.steps  # _step 3 had no x


def test_filter_syntax_and_export_give_global_step(fake, cli, db_path):
    code, _, err = cli("fetch", "wandb", "--base-url", fake.url, "--max-rps", "0", "--retries", "2",
                       "--filters", HEADER, "sac", "td3", "--env-ids", "Hopper-v3")
    assert code == 0, err  # sampledHistory specs name global_step: W&B itself returns only joined rows
    code, text, err = cli("export", "exp=sac", "--metric", "test/reward", "--format", "csv")
    assert code == 0, err
    got: dict[str, list[float]] = {}
    for row in csv.DictReader(io.StringIO(text)):
        got.setdefault(row["run"], []).append(float(row["step"]))
    with Store(db_path) as s:
        uids = {r.uid: r.external_id.rsplit("/", 1)[1] for r in s.runs()}
    by_name = {r.name: r for r in fake.projects[("ent", "tianshou")]}
    assert len(got) == 2
    for uid, steps in got.items():
        run = by_name[uids[uid]]
        want = [row["global_step"] for row in run.rows if "global_step" in row]
        assert steps == want  # env steps, never the row counter
        assert steps != [float(r["_step"]) for r in run.rows]
        code, text, err = cli("show", uid, "--json")
        assert code == 0 and json.loads(text)["x_axis"] == "global_step", err
        code, text, _ = cli("show", uid)
        assert "steps: W&B history key 'global_step'" in text


def test_x_axis_from_filter_or_option_and_fallback(fake, store, cli, db_path):
    code, _, err = cli("fetch", "wandb", "--base-url", fake.url, "--max-rps", "0", "--retries", "2",
                       "--filters", HEADER + "&xaxis=_runtime", "sac", "--env-ids", "Hopper-v3")
    assert code == 0, err
    with Store(db_path) as s:
        run = fake.projects[("ent", "tianshou")][0]
        got = s.load_series(s.run_id_for("wandb", "ent/tianshou/r0"), "test/reward")
        np.testing.assert_array_equal(got.steps, [row["_runtime"] for row in run.rows])
        assert set(stored_axes(s).values()) == {"_runtime"}
    code, text, err = cli("fetch", "wandb", "ent/tianshou", "exp=dqn", "--base-url", fake.url, "--max-rps", "0",
                          "--x-axis", "global_step", "--json")
    assert code == 0, err
    assert "does not log 'global_step'" in json.dumps(json.loads(text))
    with Store(db_path) as s:
        assert stored_axes(s)["ent/tianshou/plain"] == "_step"


def legacy(store: Store) -> None:
    """Turn a store fetched against `_step` into what openrlb wrote before migration 0005."""
    with store.transaction():
        store.conn.execute("UPDATE fetch_runs SET x_axis = NULL")


def test_legacy_store_is_rekeyed_in_place_without_history_requests(fake, store):
    spec_all = spec_for(fake, WandbQuery("ent", "tianshou", x_axis="_step"))
    fetch(store, spec_all)
    legacy(store)
    before = store.info()["points"]
    fake.reset_counts()
    summary = fetch(store, spec_for(fake, WandbQuery("ent", "tianshou")))
    assert summary.status == "ok" and summary.rekeyed == 3  # `plain` stays on _step
    assert fake.history_requests == 0 and summary.unchanged == 4
    assert_store_matches(store, fake, "ent", "tianshou")
    assert store.info()["points"] == before - summary.points_without_x
    # a sync after new rows appends only them, on the same axis, once
    live = fake.projects[("ent", "tianshou")][0]
    live.extend([{**row, "_step": row["_step"] + 40, "global_step": 5000 * (row["_step"] + 40)}
                 for row in tianshou_rows(5, seed=0, gap_every=1000)])
    again = fetch(store, spec_for(fake, WandbQuery("ent", "tianshou")))
    assert again.updated == 1 and again.points_added == 5 * 4
    assert_store_matches(store, fake, "ent", "tianshou")


def test_legacy_store_without_the_x_series_is_fetched_again(fake, store):
    metric_only = WandbQuery("ent", "tianshou", metrics=["test/reward"], x_axis="_step")
    fetch(store, spec_for(fake, metric_only))
    legacy(store)
    fake.reset_counts()
    summary = fetch(store, spec_for(fake, WandbQuery("ent", "tianshou", metrics=["test/reward"])))
    assert summary.status == "ok" and summary.rekeyed == 0
    assert set(fake.history_by_run) == {"r0", "r1", "r2"}  # cleared and fetched again; plain is unchanged
    assert_store_matches(store, fake, "ent", "tianshou", keys=["test/reward"])
    known = state.load_states(store, "wandb", "ent/tianshou/")
    assert {k: v.x_axis for k, v in known.items()}["ent/tianshou/r0"] == "global_step"
    assert all(v.digest for v in known.values())  # complete again


def test_expected_points_reference_is_row_wise():
    run = FakeRun("x", rows=[{"_step": 0, "global_step": 10, "a": 1}, {"_step": 1, "a": 2},
                             {"_step": 2, "global_step": 5, "a": 3}])
    assert expected_points(run)["a"][:2] == ([5.0, 10.0], [3.0, 1.0])
    assert expected_points(run, "_step")["a"][:2] == ([0.0, 1.0, 2.0], [1.0, 2.0, 3.0])


def test_figure_of_fetched_runs_has_env_steps_on_its_x_axis(fake, cli, db_path, tmp_path):
    from openrlb_cli.render import figures as fg
    from openrlb_cli.selection import load_curves, resolve

    code, _, err = cli("fetch", "wandb", "--base-url", fake.url, "--max-rps", "0", "--filters", HEADER, "sac", "td3",
                       "--env-ids", "Hopper-v3")
    assert code == 0, err
    code, out, err = cli("plot", "sac", "td3", "--metric", "test/reward", "--formats", "svg", "-o",
                         str(tmp_path / "f"))
    assert code == 0, err
    with Store(db_path) as s:
        curves = load_curves(s, resolve(s, ["sac", "td3"], ["Hopper-v3"], "test/reward"))
    opts = fg.PlotOptions(band="none", formats=("svg",))
    data = fg.compute_panels(curves, opts)
    fig = fg.draw_figure(data, opts, fg.experiment_colors(curves.selection.labels))
    ax = fig.axes[0]
    last_env_step = max(row["global_step"] for r in fake.projects[("ent", "tianshou")][:3] for row in r.rows
                        if "global_step" in row)
    xs = np.concatenate([line.get_xdata() for line in ax.lines])
    assert xs.max() == 5000 * 41 == last_env_step  # the longest run: _step 41, global_step 205,000
    assert ax.get_xlim()[1] >= last_env_step > 1000  # not 0..41, the row counter
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert any(t.endswith("k") for t in ticks), ticks


def test_x_option_takes_any_series_joined_on_step(fake, cli, db_path, tmp_path):
    """--x KEY on plot/table/aggregate: here the x axis is the runs' `_runtime` (seconds), joined on
    global_step; stored global_step values at the steps where the reward was logged."""
    code, _, err = cli("fetch", "wandb", "ent/tianshou", "exp=sac", "--base-url", fake.url, "--max-rps", "0")
    assert code == 0, err
    with Store(db_path) as s:
        from openrlb_cli.selection import load_curves, resolve

        sel = resolve(s, ["sac"], ["Hopper-v3"], "test/reward")
        curves = load_curves(s, sel, x="_runtime")
        by_x = load_curves(s, sel, x="global_step")  # identity on a store keyed on global_step
    for rc in curves.get("sac", "Hopper-v3"):
        run = next(r for r in fake.projects[("ent", "tianshou")] if f"/{r.name}" in rc.run.external_id)
        want = [row["_runtime"] for row in run.rows if "global_step" in row]
        np.testing.assert_array_equal(rc.steps, want)
    for rc in by_x.get("sac", "Hopper-v3"):
        run = next(r for r in fake.projects[("ent", "tianshou")] if f"/{r.name}" in rc.run.external_id)
        np.testing.assert_array_equal(rc.steps, [row["global_step"] for row in run.rows if "global_step" in row])
    code, out, err = cli("table", "sac", "--metric", "test/reward", "--x", "_runtime", "--max-steps", "10",
                         "--last-n", "1", "--format", "json")
    assert code == 0, err
    (row,) = json.loads(out)["rows"]
    # score = the last point at _runtime <= 10 s that has an env step: _step 10 has none (10 % 7 == 3),
    # so _step 9, where test/reward = 100 * seed + 9 for seeds 0 and 1
    assert (row["n_seeds"], row["mean"]) == (2, ((0 + 9) + (100 + 9)) / 2)
    code, _, err = cli("table", "sac", "--metric", "test/reward", "--x", "nope", "--format", "json")
    assert code == 1 and "without a 'nope' series" in err and "no finite points" in err
    code, out, err = cli("aggregate", "sac", "--metric", "test/reward", "--x", "_runtime", "--at-step", "20",
                         "--normalize", "none", "--reps", "200", "--profile-reps", "50", "--poi-reps", "50",
                         "--curve-reps", "50", "--curve-points", "5", "--formats", "png", "--json",
                         "-o", str(tmp_path / "agg"))
    assert code == 0, err
    doc = json.loads(out)
    mean = next(row for row in doc["records"] if row["metric"] == "mean")
    assert mean["point"] == pytest.approx(((100 * 0 + 20) + (100 * 1 + 20)) / 2)  # value at _runtime 20 s

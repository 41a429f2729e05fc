"""`openrlb table` and render.tables: hand-computed cells, formats, best marking, real data vs pandas."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
import tianshou_helper as th
from shared_data import need_shared

from openrlb_cli.model import RunRecord, Series
from openrlb_cli.render import tables as tb
from openrlb_cli.selection import load_curves, resolve
from openrlb_cli.store import Store

KEY = "charts/episodic_return"


def _write(store, exp, env, seed, values, walls=None, steps=None):
    steps = np.arange(len(values)) * 100.0 if steps is None else steps
    store.write_run(RunRecord("t", f"{exp}/{env}/{seed}", project="p", experiment=exp, env=env, seed=seed,
                              series={KEY: Series(steps, values, walls)}))


@pytest.fixture
def hand(db_path):
    """a/E: seeds [1,2,3,4] and [2,4,6,8]; b/E: [0,0,9,9] and [0,0,5,5]; a/F: one seed; b/F none."""
    with Store(db_path) as s:
        _write(s, "a", "E", 1, [1.0, 2, 3, 4], walls=[0, 60, 120, 7200.0])
        _write(s, "a", "E", 2, [2.0, 4, 6, 8], walls=[0, 60, 120, 3600.0])
        _write(s, "b", "E", 1, [0.0, 0, 9, 9])
        _write(s, "b", "E", 2, [0.0, 0, 5, 5])
        _write(s, "a", "F", 1, [0.5, 0.25])
    return db_path


def _table(db_path, specs=("a", "b"), envs=("E", "F"), **kw):
    with Store(db_path) as s:
        curves = load_curves(s, resolve(s, list(specs), list(envs), allow_missing=True))
    return tb.score_table(curves, **kw), curves


def test_cells_by_hand(hand):
    table, _ = _table(hand, last_n=2)
    a = table.cell("E", "a")
    assert (a.mean, a.n) == (5.25, 2) and a.std == pytest.approx(abs(7 - 3.5) / np.sqrt(2))
    b = table.cell("E", "b")
    assert (b.mean, b.n) == (7.0, 2) and b.std == pytest.approx(2 * np.sqrt(2))
    assert table.best("E") == {"b"} and table.cell("F", "b") is None
    one = table.cell("F", "a")
    assert one.mean == pytest.approx(0.375) and one.n == 1 and np.isnan(one.std)
    # last fraction: last 50% of steps 0..300 -> steps >= 150 -> the last two points again
    frac, _ = _table(hand, last_frac=0.5)
    assert frac.cell("E", "a").mean == 5.25
    allpts, _ = _table(hand, last_n=100)
    assert allpts.cell("E", "a").mean == pytest.approx((2.5 + 5) / 2)


def test_markdown_marks_best_and_missing(hand):
    table, _ = _table(hand, last_n=2)
    md = tb.to_markdown(table).splitlines()
    assert md[0] == "| Environment | a | b |"
    assert md[2] == "| E | 5.25 ± 2.47 (2) | **7.00 ± 2.83 (2)** |"
    assert md[3] == "| F | **0.375 (1)** | — |"
    assert "mean of the last 2 logged points" in tb.to_markdown(table)
    low, _ = _table(hand, last_n=2, minimize=True)
    assert "| E | **5.25 ± 2.47 (2)** | 7.00 ± 2.83 (2) |" in tb.to_markdown(low)


def test_latex_csv_json(hand):
    table, _ = _table(hand, last_n=2, ci=True, n_boot=2000)
    tex = tb.to_latex(table)
    assert "\\begin{tabular}{lrr}" in tex and "\\toprule" in tex
    assert "$\\mathbf{7.00 \\pm 2.83}$" in tex and "$5.25 \\pm 2.47$" in tex
    assert "F & $\\mathbf{0.375}$ {\\scriptsize(1)} & -- \\\\" in tex
    df = pd.read_csv(io.StringIO(tb.to_csv(table)))
    assert list(df.columns) == ["env", "experiment", "metric", "n_seeds", "mean", "std", "ci_low", "ci_high", "best",
                                "score_rule", "score_param", "max_steps", "std_ddof", "score_step"]
    row = df[(df.env == "E") & (df.experiment == "a")].iloc[0]
    assert row["mean"] == 5.25 and row["n_seeds"] == 2 and not row["best"]
    assert 3.5 <= row["ci_low"] <= row["ci_high"] <= 7.0
    doc = json.loads(tb.to_json(table))
    assert doc["metric"] == KEY and doc["confidence"] == 0.95 and len(doc["rows"]) == 3
    f_row = next(r for r in doc["rows"] if r["env"] == "F")
    assert f_row["std"] is None and f_row["best"] is True


def test_latex_escapes_labels():
    assert tb.latex_escape("a_b & 50%") == "a\\_b \\& 50\\%"


def test_runtime_table(hand):
    _, curves = _table(hand)
    rt = tb.runtime_table(curves)
    a = rt.cell("E", "a")
    assert a.mean == 5400.0 and a.n == 2  # (7200 + 3600) / 2 seconds
    assert rt.cell("E", "b").n == 0 and tb.cell_text(rt, rt.cell("E", "b")) == "—"
    assert tb.cell_text(rt, a) == "90.0 ± 42.4 (2)"  # one unit for the whole table, named in the caption
    assert rt.unit == ("min", 60.0) and "in minutes" in tb.caption(rt)
    assert tb.runtime_unit([30.0, 100.0]) == ("s", 1.0) and tb.runtime_unit([4.6 * 60, 3.25 * 3600])[0] == "h"
    assert tb.duration(45) == "45s" and tb.duration(600) == "10.0m" and tb.duration(4 * 3600) == "4.00h"
    assert not rt.best("E")


def test_cli_table_formats(hand, cli, tmp_path):
    code, out, err = cli("table", "a", "b", "--env-ids", "E", "F", "--last-n", "2", "--format", "md",
                         "--allow-missing")
    assert code == 0, err
    assert "| E | 5.25 ± 2.47 (2) | **7.00 ± 2.83 (2)** |" in out
    code, out, _ = cli("table", "a", "b", "-e", "E", "--last-n", "2")
    assert code == 0 and "Final scores" in out and "7.00 ± 2.83 (2)" in out
    target = tmp_path / "t" / "scores.tex"
    code, _, err = cli("table", "a", "b", "-e", "E", "-o", str(target))
    assert code == 0 and target.read_text().startswith("% Final scores")
    code, out, _ = cli("table", "a", "-e", "E", "--runtime", "--format", "json")
    assert code == 0 and json.loads(out)["rows"][0]["mean"] == 5400.0


@pytest.mark.parametrize("args, message", [
    (["--last-frac", "2"], "--last-frac: last-frac needs a fraction in (0, 1]"),
    (["--last-n", "0"], "--last-n: last-n needs a whole number of points >= 1"),
    (["--format", "xlsx"], "--format must be one of"),
    (["--format", "rich", "-o", "x.txt"], "--format rich is for the terminal"),
    (["--metric", "nope"], "metric 'nope' not found"),
])
def test_cli_table_bad_input(hand, cli, args, message):
    code, out, err = cli("table", "a", "-e", "E", *args)
    assert code == 1 and out == "" and message in err and len(err.strip().splitlines()) == 1


def test_cli_table_unwritable(hand, cli, tmp_path):
    (tmp_path / "f").write_text("")
    code, _, err = cli("table", "a", "-e", "E", "-o", str(tmp_path / "f" / "x.md"))
    # (the 4-point runs also get the score rule's warning that the last 100 points cover all of them)
    assert code == 1 and err.splitlines()[-1].startswith("error: cannot write")


@pytest.fixture(scope="module")
def tianshou_db(tmp_path_factory):
    need_shared("tianshou-mujoco")
    path = tmp_path_factory.mktemp("ts") / "ts.db"
    with Store(path) as s:
        th.load_into(s)
    return path


@pytest.mark.parametrize("extra, pick", [
    ([], lambda df: df.tail(100)),
    (["--last-n", "10"], lambda df: df.tail(10)),
    (["--last-frac", "0.1"], lambda df: df[df.env_step >= df.env_step.iloc[-1] - 0.1 * (
        df.env_step.iloc[-1] - df.env_step.iloc[0])]),
])
def test_tianshou_table_matches_pandas(tianshou_db, cli, tmp_path, extra, pick):
    out = tmp_path / "scores.csv"
    code, _, err = cli("table", "?project=tianshou", "--metric", "test/reward", *extra, "-o", str(out),
                       db=tianshou_db)
    assert code == 0, err
    got = pd.read_csv(out).set_index(["env", "experiment"])
    assert len(got) == 72 and (got["n_seeds"] == 10).all()
    for env in th.envs():
        best = (None, -np.inf)
        for algo in th.algos(env):
            df = pd.read_csv(th.csv_path(env, algo))
            per_seed = pick(df)[list(th.seed_columns(df).values())].mean(axis=0)
            row = got.loc[(env, algo)]
            assert row["mean"] == pytest.approx(per_seed.mean(), rel=1e-12), (env, algo)
            assert row["std"] == pytest.approx(per_seed.std(ddof=1), rel=1e-9), (env, algo)
            if per_seed.mean() > best[1]:
                best = (algo, per_seed.mean())
        assert got.loc[env]["best"].idxmax() == best[0]

"""W&B CSV exports: the three real exports in shared/data (facts from formats/README.md) and detection."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from shared_data import SHARED_DATA, need_shared

from openrlb_cli.errors import InputError
from openrlb_cli.ingest.base import ReadOptions
from openrlb_cli.ingest.tabular import readers as tabular
from openrlb_cli.ingest.wandb import csv_export as wandb_csv

DATA = SHARED_DATA
EXPORTS = DATA / "formats" / "wandb-export"
OPTS = ReadOptions()


def export(name: str) -> Path:
    p = EXPORTS / name
    need_shared(p)
    return p


def test_chart_export_nanogpt() -> None:
    p = export("druidowm-nanoGPT_wandb_export.csv")
    assert p.stat().st_size == 92781 and wandb_csv.WANDB_CSV.detect(p)
    res = wandb_csv.WANDB_CSV.read(p, 0, {}, OPTS)
    assert res.offset == 92781 and res.complete  # no trailing newline, last line still consumed
    df = pd.read_csv(p)
    assert df.shape == (386, 25)
    assert len(res.runs) == 8
    counts = sorted(len(r.series["train/loss"]) for r in res.runs)
    assert counts == sorted([386, 51, 57, 166, 150, 128, 118, 128])
    runs = {r.external_id: r for r in res.runs}
    gpt2 = runs["gpt2"].series["train/loss"]
    assert (gpt2.steps[0], gpt2.values[0]) == (0, 10.95404052734375)
    assert (gpt2.steps[-1], gpt2.values[-1]) == (385, 3.2849113941192627)
    for name, rec in runs.items():
        assert rec.name == name and rec.config["x_axis"] == "Step" and set(rec.series) == {
            "train/loss", "train/loss__min", "train/loss__max"}
        for key, col in (("train/loss", ""), ("train/loss__min", "__MIN"), ("train/loss__max", "__MAX")):
            ref = df[["Step", f"{name} - train/loss{col}"]].dropna()
            assert np.array_equal(rec.series[key].steps, ref.iloc[:, 0].to_numpy(float))
            assert np.array_equal(rec.series[key].values, ref.iloc[:, 1].to_numpy(float))


def test_grouped_chart_export_pyucea() -> None:
    p = export("TemplierPaul-pyUCEA_wandb_export.csv")
    assert p.stat().st_size == 116645 and wandb_csv.WANDB_CSV.detect(p)
    res = wandb_csv.WANDB_CSV.read(p, 0, {}, OPTS)
    assert pd.read_csv(p).shape == (1483, 19)
    runs = {r.external_id: r for r in res.runs}
    assert list(runs) == ["algo: UCEA", "algo: MultiEA", "algo: EA"]
    for name, n in (("algo: UCEA", 668), ("algo: MultiEA", 104), ("algo: EA", 834)):
        rec = runs[name]
        assert rec.config["wandb_group"] == {"algo": name.split(": ")[1]}
        assert rec.config["x_axis"] == "evaluations"
        assert set(rec.series) == {f"{k}{s}" for k in ("_step", "generation") for s in ("", "__min", "__max")}
        assert len(rec.series["generation"]) == n and len(rec.series["_step"]) == n
    gen = runs["algo: UCEA"].series["generation"]
    assert (gen.steps[0], gen.values[0], gen.steps[-1], gen.values[-1]) == (60, 1.0, 50318, 135.0)
    all_steps = np.concatenate([r.series["generation"].steps for r in res.runs])
    assert all_steps.min() == 60 and all_steps.max() == 50318


def test_run_history_export() -> None:
    p = export("SnappierCape-ds-marl-air-cargo_wandb_export.csv")
    assert p.stat().st_size == 62710 and wandb_csv.WANDB_CSV.detect(p)
    res = wandb_csv.WANDB_CSV.read(p, 0, {}, OPTS)
    df = pd.read_csv(p)
    assert df.shape == (51, 70) and df.columns[0] == "collection/ghas/reward/episode_reward_mean"
    assert len(res.runs) == 1 and res.runs[0].external_id == ""
    s = res.runs[0].series
    assert len(s) == 70 and {"_step", "_runtime", "_timestamp", "num_epoch"} <= set(s)
    ret = s["collection/reward/episode_reward_mean"]
    assert ret.steps.tolist() == list(range(4, 255, 5))
    assert (ret.values[0], ret.values[-1]) == (-6.8690619468688965, -1.372498869895935)
    assert np.array_equal(ret.wall_times, df["_timestamp"].to_numpy(float))
    sparse = [k for k in s if k.startswith("eval/")] + ["timers/evaluation_time"]
    for key in s:
        assert len(s[key]) == (25 if key in sparse else 51), key
    assert s["timers/evaluation_time"].steps.tolist() == list(range(9, 250, 10))


def test_detection_against_generic_csvs(tmp_path: Path) -> None:
    tianshou = sorted((DATA / "tianshou-mujoco").glob("*/*/*.csv"))[:3]
    progress = sorted((DATA / "formats" / "sb3").glob("*/progress.csv"))
    for p in tianshou + progress:
        assert not wandb_csv.WANDB_CSV.detect(p), p
    plain = tmp_path / "a.csv"
    plain.write_text("step,ppo - return\n1,2\n")  # unquoted, no __MIN/__MAX: not a chart export
    assert not wandb_csv.WANDB_CSV.detect(plain) and tabular.CSV.detect(plain)
    chart = tmp_path / "b.csv"
    chart.write_text('"Step","r1 - loss","r1 - loss__MIN","r1 - loss__MAX"\n"0","1","1","1"\n"1","","",""\n')
    assert wandb_csv.WANDB_CSV.detect(chart)
    rec = wandb_csv.WANDB_CSV.read(chart, 0, {}, OPTS).runs[0]
    assert rec.external_id == "r1" and rec.series["loss"].steps.tolist() == [0]
    history = tmp_path / "c.csv"
    history.write_text("loss,_runtime,_step,_timestamp\n1,0.5,0,1700000000\n2,1.5,1,1700000001\n")
    assert wandb_csv.WANDB_CSV.detect(history)
    s = wandb_csv.WANDB_CSV.read(history, 0, {}, OPTS).runs[0].series
    assert s["loss"].steps.tolist() == [0, 1] and s["loss"].wall_times.tolist() == [1700000000, 1700000001]


def test_not_an_export(tmp_path: Path) -> None:
    p = tmp_path / "x.csv"
    p.write_text("step,v\n1,2\n")
    with pytest.raises(InputError, match="not a W&B CSV export"):
        wandb_csv.WANDB_CSV.read(p, 0, {}, OPTS)


def test_grouped_chart_export_in_a_clone(tmp_path: Path, cli, db_path) -> None:
    """The grouped chart export's layout (as the real one in ../shared: every field quoted, an x column
    named by the chart, `<group> - <key>` with `__MIN`/`__MAX`, empty cells past a group's end, no
    trailing newline), written here so a clone without ../shared runs it through `ingest` too."""
    import json

    rows = [("10", "1.5", "1", "2", "0.5", "0.5", "0.5"), ("20", "2.5", "2", "3", "", "", ""),
            ("30", "", "", "", "0.75", "0.5", "1")]
    head = ["evaluations", "algo: A - score", "algo: A - score__MIN", "algo: A - score__MAX",
            "algo: B - score", "algo: B - score__MIN", "algo: B - score__MAX"]
    p = tmp_path / "exports" / "wandb_export.csv"
    p.parent.mkdir()
    p.write_text("\n".join(",".join(f'"{c}"' for c in r) for r in [head, *rows]))
    assert wandb_csv.WANDB_CSV.detect(p)
    code, out, err = cli("ingest", str(p.parent))
    assert code == 0, err
    code, out, _ = cli("runs", "--json")
    runs = {r["name"]: r for r in json.loads(out)}
    assert set(runs) == {"algo: A", "algo: B"}
    assert runs["algo: A"]["config"]["wandb_group"] == {"algo": "A"}
    from openrlb_cli.store import Store

    with Store(db_path) as s:
        a = s.load_series(s.get_run(runs["algo: A"]["uid"]).id, "score")
        b = s.load_series(s.get_run(runs["algo: B"]["uid"]).id, "score")
        b_max = s.load_series(s.get_run(runs["algo: B"]["uid"]).id, "score__max")
    assert (a.steps.tolist(), a.values.tolist()) == ([10, 20], [1.5, 2.5])
    assert (b.steps.tolist(), b.values.tolist()) == ([10, 30], [0.5, 0.75])
    assert b_max.values.tolist() == [0.5, 1.0]

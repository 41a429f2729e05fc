"""CSV as pandas reads it: missing-value markers, quoted line breaks across block and window ends.

The reference is `pandas.read_csv` with its defaults on the same file (the frames RL code plots from);
the files with quoted line breaks are written by pandas' own `to_csv`.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from openrlb_cli.ingest.base import ReadOptions
from openrlb_cli.ingest.tabular import csv_engine
from openrlb_cli.ingest.tabular.common import NA_TOKENS
from openrlb_cli.ingest.tabular.readers import CSV
from openrlb_cli.store import Store

OPTS = ReadOptions()


def test_the_markers_are_pandas_defaults():
    parsers = pytest.importorskip("pandas._libs.parsers")
    assert set(NA_TOKENS) == set(parsers.STR_NA_VALUES)


def _wide_with_markers(path: Path, rng: random.Random) -> int:
    """A wide per-seed CSV (Tianshou-like columns) with every marker somewhere; how many marker cells."""
    markers = sorted(NA_TOKENS - {""})
    lines, count = ["env_step,rew:seed_0,rew:seed_1,rew:seed_2"], 0
    for i in range(300):
        cells = [f"{rng.uniform(-5, 500):.6g}" for _ in range(3)]
        if i < len(markers):
            cells[i % 3] = markers[i]
            count += 1
        elif i % 17 == 0:
            cells[1] = ""
        lines.append(",".join([str(i * 1000), *cells]))
    path.write_text("\n".join(lines) + "\n")
    return count


def test_wide_per_seed_csv_keeps_every_seed_and_leaves_markers_out(cli, db_path, tmp_path):
    path = tmp_path / "tianshou.csv"
    count = _wide_with_markers(path, random.Random(3))
    code, _, err = cli("ingest", str(path))
    assert code == 0, err
    (warning,) = [ln for ln in err.splitlines() if "missing-value marker" in ln]
    assert f"{count} cells" in warning
    ref = pd.read_csv(path)
    with Store(db_path) as store:
        runs = {r.seed: r for r in store.runs()}
        assert sorted(runs) == [0, 1, 2]  # one None cell used to drop its whole seed
        for seed, run in runs.items():
            col = ref[["env_step", f"rew:seed_{seed}"]].dropna()
            s = store.load_series(run.id, "rew")
            np.testing.assert_array_equal(s.steps, col["env_step"].to_numpy(float))
            np.testing.assert_array_equal(s.values, col[f"rew:seed_{seed}"].to_numpy(float))


@pytest.mark.parametrize("block", [64, 333, 1 << 20])
def test_long_csv_with_markers_past_the_detection_window(tmp_path, monkeypatch, block):
    """A marker after the first rows used to reject the whole file ("non-numeric value")."""
    monkeypatch.setattr(csv_engine, "SNIFF_BYTES", 200)
    monkeypatch.setattr(csv_engine, "BLOCK_BYTES", block)
    rng = random.Random(block)
    rows = ["exp_name,env_id,seed,global_step,episodic_return"]
    for exp in ("ppo", "dqn"):
        for seed in (1, 2):
            for step in range(0, 2000, 20):
                value = rng.choice(["None", "NA", "null", "nan", "N/A", ""]) if rng.random() < 0.05 else \
                    f"{rng.uniform(0, 500):.4f}"
                rows.append(f"{exp},CartPole-v1,{seed},{step},{value}")
    path = tmp_path / "long.csv"
    path.write_text("\n".join(rows) + "\n")
    res = CSV.read(path, 0, {}, OPTS)
    ref = pd.read_csv(path).dropna(subset=["episodic_return"])
    got = {(r.experiment, r.seed): r.series["episodic_return"] for r in res.runs}
    assert len(got) == 4
    for (exp, seed), frame in ref.groupby(["exp_name", "seed"]):
        s = got[(exp, seed)]
        np.testing.assert_array_equal(s.steps, frame["global_step"].to_numpy(float))
        np.testing.assert_array_equal(s.values, frame["episodic_return"].to_numpy(float))


def _quoted_frame(n: int, rng: random.Random) -> pd.DataFrame:
    notes = ["plain", "two\nlines", 'with "quotes"\nand a break', "a,comma\r\nCRLF", "x" * 300 + "\n" + "y" * 50]
    return pd.DataFrame({"step": np.arange(n) * 10, "note": [rng.choice(notes) for _ in range(n)],
                         "ret": np.round([rng.uniform(-1, 1) for _ in range(n)], 6)})


@pytest.mark.parametrize("block", [48, 97, 256, 1000, 4093])
@pytest.mark.parametrize("sniff", [20, 300, 5000])
def test_quoted_line_breaks_across_block_and_window_ends(tmp_path, monkeypatch, block, sniff):
    monkeypatch.setattr(csv_engine, "BLOCK_BYTES", block)
    monkeypatch.setattr(csv_engine, "SNIFF_BYTES", sniff)
    path = tmp_path / "notes.csv"
    _quoted_frame(400, random.Random(block * sniff)).to_csv(path, index=False)
    ref = pd.read_csv(path)
    res = CSV.read(path, 0, {}, OPTS)
    assert res.offset == path.stat().st_size and res.complete
    s = res.runs[0].series["ret"]
    np.testing.assert_array_equal(s.steps, ref["step"].to_numpy(float))
    np.testing.assert_array_equal(s.values, ref["ret"].to_numpy(float))


def test_a_quoted_field_still_open_waits_for_the_rest(tmp_path):
    path = tmp_path / "growing.csv"
    path.write_text('step,note,ret\n0,"a",1.5\n10,"being\nwritten')
    first = CSV.read(path, 0, {}, OPTS)
    assert first.runs[0].series["ret"].steps.tolist() == [0] and not first.complete
    assert any("quoted field" in w and "not closed" in w for w in first.warnings)
    with open(path, "a") as f:
        f.write(' now",2.5\n20,b,3.5\n')
    second = CSV.read(path, first.offset, first.state, OPTS)
    assert second.complete and second.offset == path.stat().st_size
    ref = pd.read_csv(path)
    s = second.runs[0].series["ret"]
    assert s.steps.tolist() == ref["step"].tolist()[1:] and s.values.tolist() == ref["ret"].tolist()[1:]


def test_many_quoted_breaks_at_default_sizes_through_the_cli(cli, db_path, tmp_path):
    """The same through `openrlb ingest` with the real block and window sizes (a 600 KB file: its
    quoted cells cross the 256 KiB detection window)."""
    path = tmp_path / "big.csv"
    _quoted_frame(6000, random.Random(7)).to_csv(path, index=False)
    assert path.stat().st_size > csv_engine.SNIFF_BYTES
    code, _, err = cli("ingest", str(path))
    assert code == 0, err
    ref = pd.read_csv(path)
    with Store(db_path) as store:
        (run,) = store.runs()
        s = store.load_series(run.id, "ret")
    np.testing.assert_array_equal(s.values, ref["ret"].to_numpy(float))


# ---------------------------------------------------------------------------- column spellings, repeated steps
@pytest.mark.parametrize("exp_col,env_col,seed_col", [
    ("exp", "env", "seed"), ("exp_name", "env_id", "seed"), ("algo", "task", "random_seed"),
    ("algorithm", "game", "seed"), ("agent", "environment", "seed"), ("method", "env_name", "seed"),
    ("Experiment_Name", "Task_Name", "Seed"),
])
def test_common_id_column_spellings_split_the_runs(tmp_path, exp_col, env_col, seed_col):
    rows = [f"{exp_col},{env_col},{seed_col},step,ret"]
    for exp in ("ppo", "dqn"):
        for env in ("Pong", "Breakout"):
            for seed in (0, 1):
                rows += [f"{exp},{env},{seed},{step},{len(exp) + seed + step / 100}" for step in range(0, 500, 50)]
    path = tmp_path / "long.csv"
    path.write_text("\n".join(rows) + "\n")
    res = CSV.read(path, 0, {}, OPTS)
    assert not [w for w in res.warnings if "repeats" in w]
    ref = pd.read_csv(path)
    got = {(r.experiment, r.env, r.seed): r.series["ret"] for r in res.runs}
    assert len(got) == 8
    for (exp, env, seed), frame in ref.groupby([exp_col, env_col, seed_col]):
        np.testing.assert_array_equal(got[(exp, env, seed)].values, frame["ret"].to_numpy(float))


def test_a_step_repeated_within_a_run_names_the_columns_that_might_tell_runs_apart(tmp_path):
    rows = ["variant,env_id,seed,step,ret"]
    for variant in ("small", "large"):
        rows += [f"{variant},Pong,0,{step},{step}" for step in range(0, 100, 10)]
    path = tmp_path / "merged.csv"
    path.write_text("\n".join(rows) + "\n")
    res = CSV.read(path, 0, {}, OPTS)
    (warning,) = [w for w in res.warnings if "repeats" in w]
    assert warning.startswith(f"{path}: a step repeats within 1 run(s)") and "variant" in warning
    assert "step 0 2 times" in warning
    assert len(res.runs[0].series["ret"]) == 20  # kept as logged
    # named as the experiment column, the two runs are apart and nothing repeats
    res = CSV.read(path, 0, {}, ReadOptions(experiment_column="variant"))
    assert len(res.runs) == 2 and not [w for w in res.warnings if "repeats" in w]


def test_single_run_tables_warn_only_when_a_column_might_tell_runs_apart(tmp_path):
    path = tmp_path / "one.csv"
    path.write_text("step,ret,note\n0,1,a\n10,2,b\n10,3,c\n20,4,d\n")  # a repeat, but text column: warned
    assert [w for w in CSV.read(path, 0, {}, OPTS).warnings if "repeats" in w]
    path.write_text("step,ret\n0,1\n10,2\n10,3\n20,4\n")  # nothing could tell runs apart: no warning
    assert not [w for w in CSV.read(path, 0, {}, OPTS).warnings if "repeats" in w]

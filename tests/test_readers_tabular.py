"""Generic CSV / JSON-lines readers: layouts, incremental reads, torn tails, bad input, real Tianshou files."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shared_data import SHARED_DATA, SKIP_REASON

from openrlb_cli.errors import InputError
from openrlb_cli.ingest.base import ReadOptions, ReadResult
from openrlb_cli.ingest.tabular import csv_engine as tabular_csv
from openrlb_cli.ingest.tabular import readers as tabular
from openrlb_cli.model import Series

SHARED = SHARED_DATA
OPTS = ReadOptions()


def write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def by_id(result: ReadResult) -> dict[str, dict[str, Series]]:
    return {r.external_id: r.series for r in result.runs}


def _plain(a: np.ndarray) -> list:
    return [None if math.isnan(x) else x for x in a.tolist()]  # NaN != NaN would defeat ==


def merged(*results: ReadResult) -> dict[tuple[str, str], tuple[list, list, list]]:
    """Concatenate the points of several reads per (run, key), NaN shown as None."""
    out: dict[tuple[str, str], tuple[list, list, list]] = {}
    for res in results:
        for rec in res.runs:
            for key, s in rec.series.items():
                acc = out.setdefault((rec.external_id, key), ([], [], []))
                acc[0].extend(_plain(s.steps))
                acc[1].extend(_plain(s.values))
                acc[2].extend(_plain(s.wall_times))
    return out


# ---------------------------------------------------------------- layouts

def test_single_run_all_numeric_columns_by_step(tmp_path: Path) -> None:
    p = write(tmp_path / "log.csv", "step,loss,return,note\n0,1.5,10,a\n10,1.25,12,b\n20,1.0,15,c\n")
    res = tabular.CSV.read(p, 0, {}, OPTS)
    assert [r.external_id for r in res.runs] == [""]
    series = res.runs[0].series
    assert set(series) == {"loss", "return"}  # step is the axis, note is text
    assert series["loss"].steps.tolist() == [0, 10, 20]
    assert series["return"].values.tolist() == [10, 12, 15]
    assert all(np.isnan(series["loss"].wall_times))
    assert res.offset == p.stat().st_size and res.complete and not res.replace
    assert any("note" in w for w in res.warnings)


def test_row_index_when_no_step_column(tmp_path: Path) -> None:
    p = write(tmp_path / "log.csv", "a,b\n5,6\n7,8\n")
    s = tabular.CSV.read(p, 0, {}, OPTS).runs[0].series
    assert s["a"].steps.tolist() == [0, 1] and s["b"].values.tolist() == [6, 8]


@pytest.mark.parametrize("name", ["global_step", "env_step", "_step", "timesteps", "Step", "frame", "epoch"])
def test_step_column_guess(tmp_path: Path, name: str) -> None:
    p = write(tmp_path / "log.csv", f"v,{name}\n1,100\n2,200\n")
    s = tabular.CSV.read(p, 0, {}, OPTS).runs[0].series
    assert list(s) == ["v"] and s["v"].steps.tolist() == [100, 200]


def test_explicit_options(tmp_path: Path) -> None:
    p = write(tmp_path / "log.csv", "it,t,a,b,c\n1,1700000000.5,1,2,3\n2,1700000001.5,4,5,6\n")
    opts = ReadOptions(step_column="it", wall_time_column="t", value_columns=["b"])
    s = tabular.CSV.read(p, 0, {}, opts).runs[0].series
    assert list(s) == ["b"]
    assert s["b"].steps.tolist() == [1, 2] and s["b"].wall_times.tolist() == [1700000000.5, 1700000001.5]
    with pytest.raises(InputError, match="'nope' not in header"):
        tabular.CSV.read(p, 0, {}, ReadOptions(step_column="nope"))


def test_wall_time_as_dates(tmp_path: Path) -> None:
    p = write(tmp_path / "log.csv", "step,when,v\n1,2024-01-01T00:00:00Z,3\n2,2024-01-01T00:00:10Z,4\n")
    s = tabular.CSV.read(p, 0, {}, ReadOptions(wall_time_column="when")).runs[0].series["v"]
    assert s.wall_times.tolist() == [1704067200.0, 1704067210.0]


def test_long_format_run_column_interleaved(tmp_path: Path) -> None:
    p = write(tmp_path / "long.csv", "run,step,ret\nb,0,1\na,0,10\nb,1,2\na,1,11\nb,2,3\n")
    res = tabular.CSV.read(p, 0, {}, ReadOptions(run_column="run"))
    runs = by_id(res)
    assert list(runs) == ["b", "a"]
    assert runs["b"]["ret"].steps.tolist() == [0, 1, 2] and runs["b"]["ret"].values.tolist() == [1, 2, 3]
    assert runs["a"]["ret"].values.tolist() == [10, 11]
    assert {r.name for r in res.runs} == {"a", "b"}


def test_long_format_experiment_env_seed(tmp_path: Path) -> None:
    rows = ["algo,env,seed,step,ret"] + [f"{a},{e},{s},{t},{t * s}" for a in ("ppo", "dqn") for e in ("Pong",)
                                         for s in (1, 2) for t in range(3)]
    p = write(tmp_path / "long.csv", "\n".join(rows) + "\n")
    opts = ReadOptions(experiment_column="algo", env_column="env", seed_column="seed")
    res = tabular.CSV.read(p, 0, {}, opts)
    assert len(res.runs) == 4
    rec = res.runs[1]
    assert rec.external_id == "algo=ppo|env=Pong|seed=2"
    assert (rec.experiment, rec.env, rec.seed) == ("ppo", "Pong", 2)
    assert rec.series["ret"].values.tolist() == [0, 2, 4]
    # the same columns are found without options (run/algo/env/seed names are guessed)
    assert [r.external_id for r in tabular.CSV.read(p, 0, {}, OPTS).runs] == [r.external_id for r in res.runs]


def test_wide_by_seed_patterns(tmp_path: Path) -> None:
    p = write(tmp_path / "ret.csv", "step,mean,seed_0,seed_1,return_seed2\n0,1,0.5,1.5,9\n1,2,1.5,2.5,\n")
    res = tabular.CSV.read(p, 0, {}, OPTS)
    runs = {r.external_id: r for r in res.runs}
    assert set(runs) == {"seed_0", "seed_1", "return_seed2"}
    assert runs["seed_1"].seed == 1 and runs["seed_1"].series["ret"].values.tolist() == [1.5, 2.5]
    assert runs["return_seed2"].seed == 2 and runs["return_seed2"].series["return"].values.tolist() == [9]
    assert any("mean" in w for w in res.warnings)
    metric = tabular.CSV.read(p, 0, {}, ReadOptions(metric="score")).runs[0].series
    assert list(metric) == ["score"]


def test_tianshou_real_files_match_pandas() -> None:
    files = sorted((SHARED / "tianshou-mujoco").glob("*/*/test_rew_10seeds.csv"))
    if not files:
        pytest.skip(SKIP_REASON)
    assert len(files) == 72
    for f in files:
        res = tabular.CSV.read(f, 0, {}, OPTS)
        df = pd.read_csv(f)
        seeds = [c for c in df.columns if ":seed_" in c]
        assert len(res.runs) == 10 == len(seeds)
        assert res.offset == f.stat().st_size
        for i, (rec, col) in enumerate(zip(res.runs, seeds, strict=True)):
            assert rec.external_id == col and rec.seed == i and list(rec.series) == ["rew"]
            ok = df[col].notna().to_numpy()
            assert np.array_equal(rec.series["rew"].steps, df["env_step"].to_numpy(float)[ok])
            assert np.array_equal(rec.series["rew"].values, df[col].to_numpy(float)[ok])
        assert any("rew, rew:shaded" in w for w in res.warnings)


def test_tsv_and_bom(tmp_path: Path) -> None:
    p = write(tmp_path / "log.tsv", b"\xef\xbb\xbfstep\tv\n1\t2\n")
    assert tabular.CSV.read(p, 0, {}, OPTS).runs[0].series["v"].steps.tolist() == [1]


def test_crlf_and_quoted_fields(tmp_path: Path) -> None:
    p = write(tmp_path / "w.csv", b'"run","step","v"\r\n"a, b","1","2.5"\r\n"c","2",""\r\n"a, b","3","4"')
    first = tabular.CSV.read(p, 0, {}, ReadOptions(run_column="run"))
    runs = by_id(first)
    assert runs["a, b"]["v"].steps.tolist() == [1, 3] and "v" not in runs["c"]
    with open(p, "ab") as f:
        f.write(b'\r\n"c","4","5"\r\n')
    second = tabular.CSV.read(p, first.offset, first.state, ReadOptions(run_column="run"))
    assert not second.replace and by_id(second)["c"]["v"].values.tolist() == [5]


def test_columns_reordered_give_same_series(tmp_path: Path) -> None:
    a = write(tmp_path / "a.csv", "step,x,y\n1,2,3\n2,4,\n")
    b = write(tmp_path / "b.csv", "y,x,step\n3,2,1\n,4,2\n")
    assert merged(tabular.CSV.read(a, 0, {}, OPTS)) == merged(tabular.CSV.read(b, 0, {}, OPTS))


# ---------------------------------------------------------------- values

def test_missing_cells_nan_inf_duplicates(tmp_path: Path) -> None:
    p = write(tmp_path / "v.csv", "step,a,b\n0,1,\n1,nan,2\n1,inf,-inf\n0,-Infinity,NaN\n5,,7\n")
    res = tabular.CSV.read(p, 0, {}, OPTS)
    s = res.runs[0].series
    # nan/NaN are pandas' missing-value markers: no point (counted in one warning); inf is a point
    assert s["a"].steps.tolist() == [0, 1, 0]  # duplicate and decreasing steps kept as logged
    assert s["a"].values.tolist() == [1, math.inf, -math.inf]
    assert s["b"].steps.tolist() == [1, 1, 5]
    assert s["b"].values.tolist() == [2, -math.inf, 7]
    (warning,) = [w for w in res.warnings if "missing-value marker" in w]
    assert warning.startswith(f"{p}: 2 cells") and "'a' (1)" in warning and "'b' (1)" in warning


def test_rows_without_step_are_skipped_with_warning(tmp_path: Path) -> None:
    p = write(tmp_path / "v.csv", "step,a\n0,1\n,2\n2,3\n")
    res = tabular.CSV.read(p, 0, {}, OPTS)
    assert res.runs[0].series["a"].steps.tolist() == [0, 2]
    assert any("1 rows without" in w for w in res.warnings)


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize("data,match", [
    (b"step,a\n0,1\n\x00\x01\x02garbage\n", "NUL"),
    ("step,a\n0,1\n".encode("utf-16"), "UTF-16"),
    ("step,r\u00e9compense\n0,1\n".encode("latin-1"), "not UTF-8"),
    (b"\x89PNG\r\n\x1a\n\xff\xfe\xfd" * 10, "not UTF-8|NUL"),
    (b"name,kind\nx,y\nz,w\n", "no numeric"),
    (b"step,a\n0,1\n1,2,3,4\n", "malformed CSV"),
])
def test_bad_input(tmp_path: Path, data: bytes, match: str) -> None:
    p = write(tmp_path / "bad.csv", data)
    with pytest.raises(InputError, match=match) as e:
        tabular.CSV.read(p, 0, {}, OPTS)
    assert str(p) in str(e.value)


def test_latin1_in_run_names(tmp_path: Path) -> None:
    p = write(tmp_path / "bad.csv", b"run,step,v\na,0,1\n" + "r\u00e9,1,2\n".encode("latin-1"))
    with pytest.raises(InputError, match="UTF-8"):
        tabular.CSV.read(p, 0, {}, OPTS)


def test_text_in_numeric_column_after_sniffed_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tabular_csv, "SNIFF_BYTES", 64)
    monkeypatch.setattr(tabular_csv, "BLOCK_BYTES", 64)
    body = "".join(f"{i},{i * 2}\n" for i in range(50))
    p = write(tmp_path / "v.csv", "step,a\n" + body + "50,oops\n")
    with pytest.raises(InputError, match="non-numeric value 'oops' in column 'a'"):
        tabular.CSV.read(p, 0, {}, OPTS)


def test_empty_and_header_only(tmp_path: Path) -> None:
    empty = tabular.CSV.read(write(tmp_path / "e.csv", b""), 0, {}, OPTS)
    assert empty.runs == [] and empty.offset == 0
    head = tabular.CSV.read(write(tmp_path / "h.csv", "step,a\n"), 0, {}, OPTS)
    assert head.runs == [] and head.offset == 0 and head.complete
    torn_head = tabular.CSV.read(write(tmp_path / "t.csv", "step,a"), 0, {}, OPTS)
    assert torn_head.runs == [] and torn_head.offset == 0 and not torn_head.complete


# ---------------------------------------------------------------- incremental reading

def test_growth_returns_only_new_points(tmp_path: Path) -> None:
    p = write(tmp_path / "g.csv", "run,step,v\na,0,1\nb,0,2\n")
    first = tabular.CSV.read(p, 0, {}, OPTS)
    with open(p, "a") as f:
        f.write("a,1,3\nc,0,4\n")
    second = tabular.CSV.read(p, first.offset, first.state, OPTS)
    assert by_id(second)["a"]["v"].values.tolist() == [3] and set(by_id(second)) == {"a", "c"}
    assert merged(first, second) == merged(tabular.CSV.read(p, 0, {}, OPTS))
    again = tabular.CSV.read(p, second.offset, second.state, OPTS)
    assert again.runs == [] and again.offset == second.offset


def test_torn_last_line_left_for_later(tmp_path: Path) -> None:
    p = write(tmp_path / "t.csv", "step,a,b\n0,1,2\n1,3")  # two of three fields
    first = tabular.CSV.read(p, 0, {}, OPTS)
    assert not first.complete and first.offset == len("step,a,b\n0,1,2\n")
    assert first.runs[0].series["a"].values.tolist() == [1]
    with open(p, "a") as f:
        f.write(",4\n")
    second = tabular.CSV.read(p, first.offset, first.state, OPTS)
    assert second.complete and second.runs[0].series["b"].values.tolist() == [4]


def test_unterminated_complete_line_is_consumed(tmp_path: Path) -> None:
    p = write(tmp_path / "t.csv", "step,a\n0,1\n1,2")
    first = tabular.CSV.read(p, 0, {}, OPTS)
    assert first.complete and first.offset == p.stat().st_size and first.state["pending_nl"]
    assert first.runs[0].series["a"].values.tolist() == [1, 2]
    with open(p, "a") as f:
        f.write("\n2,3\n")
    second = tabular.CSV.read(p, first.offset, first.state, OPTS)
    assert not second.replace and second.runs[0].series["a"].values.tolist() == [3]


def test_consumed_line_that_was_torn_triggers_full_reread(tmp_path: Path) -> None:
    p = write(tmp_path / "t.csv", "step,a\n0,1\n1,2")  # the writer was about to add "5\n"
    first = tabular.CSV.read(p, 0, {}, OPTS)
    first = tabular.CSV.read(p, first.offset, first.state, OPTS)  # unchanged file: the newline is still owed
    assert first.runs == [] and first.state["pending_nl"]
    with open(p, "a") as f:
        f.write("5\n2,3\n")
    second = tabular.CSV.read(p, first.offset, first.state, OPTS)
    assert second.replace and second.runs[0].series["a"].values.tolist() == [1, 25, 3]
    assert any("re-reading" in w for w in second.warnings)


def test_header_change_triggers_full_reread(tmp_path: Path) -> None:
    p = write(tmp_path / "progress.csv", "step,a\n0,1\n")
    first = tabular.CSV.read(p, 0, {}, OPTS)
    write(p, "step,a,b\n0,1,\n1,2,3\n")  # SB3 rewrites the file when keys are added
    second = tabular.CSV.read(p, first.offset, first.state, OPTS)
    assert second.replace and second.runs[0].series["b"].values.tolist() == [3]
    assert second.runs[0].series["a"].values.tolist() == [1, 2]


def test_shrunk_file_is_reread(tmp_path: Path) -> None:
    p = write(tmp_path / "s.csv", "step,a\n0,1\n1,2\n2,3\n")
    first = tabular.CSV.read(p, 0, {}, OPTS)
    write(p, "step,a\n0,9\n")
    second = tabular.CSV.read(p, first.offset, first.state, OPTS)
    assert second.replace and second.runs[0].series["a"].values.tolist() == [9]


def test_row_index_continues_across_reads(tmp_path: Path) -> None:
    p = write(tmp_path / "r.csv", "a\n1\n2\n")
    first = tabular.CSV.read(p, 0, {}, OPTS)
    with open(p, "a") as f:
        f.write("3\n")
    second = tabular.CSV.read(p, first.offset, first.state, OPTS)
    assert second.runs[0].series["a"].steps.tolist() == [2]


def test_small_blocks_and_max_bytes_equal_one_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = ["run,step,v,w"] + [f"r{i % 3},{i},{i * 0.5},{'' if i % 4 else i}" for i in range(200)]
    p = write(tmp_path / "b.csv", "\n".join(lines) + "\n")
    whole = merged(tabular.CSV.read(p, 0, {}, OPTS))
    monkeypatch.setattr(tabular_csv, "BLOCK_BYTES", 50)
    monkeypatch.setattr(tabular_csv, "SNIFF_BYTES", 100)
    assert merged(tabular.CSV.read(p, 0, {}, OPTS)) == whole
    parts, offset, state = [], 0, {}
    while offset < p.stat().st_size:
        res = tabular.CSV.read(p, offset, state, OPTS, max_bytes=300)
        assert res.offset > offset
        parts.append(res)
        offset, state = res.offset, res.state
    assert len(parts) > 3 and merged(*parts) == whole


def test_iter_read_in_pieces(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = ["run,step,v"] + [f"r{i % 3},{i},{i * 0.5}" for i in range(300)]
    p = write(tmp_path / "b.csv", "\n".join(lines) + "\n")
    whole = merged(tabular.CSV.read(p, 0, {}, OPTS))
    monkeypatch.setattr(tabular_csv, "BLOCK_BYTES", 64)
    monkeypatch.setattr(tabular_csv, "PIECE_BYTES", 500)
    pieces = list(tabular.CSV.iter_read(p, 0, {}, OPTS))
    assert len(pieces) > 5 and merged(*pieces) == whole and pieces[-1].offset == p.stat().st_size
    assert not any(r.replace for r in pieces)
    write(p, "run,step,v,w\n" + "\n".join(f"r{i % 3},{i},{i},1" for i in range(300)) + "\n")  # new header
    again = list(tabular.CSV.iter_read(p, pieces[-1].offset, pieces[-1].state, OPTS))
    assert len(again) == 1 and again[0].replace and again[0].offset == p.stat().st_size
    assert merged(*again) == merged(tabular.CSV.read(p, 0, {}, OPTS))


GROW_CSV = "run,step,v\n" + "".join(f"{'ab'[i % 2]},{i},{i * 1.25}\n" for i in range(40))
GROW_JSONL = "".join(json.dumps({"run": "ab"[i % 2], "step": i, "v": i * 1.25}) + "\n" for i in range(30))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cuts=st.lists(st.integers(min_value=0, max_value=800), min_size=1, max_size=4),
       fmt=st.sampled_from(["csv", "jsonl"]))
def test_any_growth_pattern_equals_one_read(tmp_path: Path, cuts: list[int], fmt: str) -> None:
    """Appending a file in arbitrary byte pieces (even mid-line) and reading after each piece loses nothing."""
    data = (GROW_CSV if fmt == "csv" else GROW_JSONL).encode()
    reader = tabular.CSV if fmt == "csv" else tabular.JSONL
    p = tmp_path / f"grow.{fmt}"
    p.write_bytes(b"")
    results, offset, state = [], 0, {}
    for cut in [*sorted(min(c, len(data)) for c in cuts), len(data)]:
        p.write_bytes(data[:cut])
        res = reader.read(p, offset, state, OPTS)
        if res.replace:
            results = []
        results.append(res)
        offset, state = res.offset, res.state
    assert merged(*results) == merged(reader.read(p, 0, {}, OPTS))


def test_header_longer_than_sniff_window(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tabular_csv, "SNIFF_BYTES", 16)
    cols = [f"metric_number_{i}" for i in range(20)]
    p = write(tmp_path / "wide.csv", "step," + ",".join(cols) + "\n0," + ",".join("1" * 20) + "\n")
    assert set(tabular.CSV.read(p, 0, {}, OPTS).runs[0].series) == set(cols)


# ---------------------------------------------------------------- JSON lines

def test_jsonl_keys_vary_nested_and_nan(tmp_path: Path) -> None:
    lines = [{"step": 0, "loss": 1.0}, {"step": 1, "loss": float("nan"), "eval": {"ret": 5}},
             {"step": 2, "loss": None, "msg": "hi"}, {"step": 3, "loss": "0.5"}]
    p = write(tmp_path / "log.jsonl", "\n".join(json.dumps(x) for x in lines) + "\n")
    res = tabular.JSONL.read(p, 0, {}, OPTS)
    s = res.runs[0].series
    assert set(s) == {"loss", "eval/ret"}
    assert s["loss"].steps.tolist() == [0, 1, 3] and math.isnan(s["loss"].values[1])
    assert s["eval/ret"].steps.tolist() == [1]
    assert any("msg" in w for w in res.warnings)


def test_jsonl_long_format_and_growth(tmp_path: Path) -> None:
    p = write(tmp_path / "log.jsonl", '{"run": "a", "step": 0, "v": 1}\n{"run": "b", "step": 0, "v": 2}\n')
    first = tabular.JSONL.read(p, 0, {}, OPTS)
    assert set(by_id(first)) == {"a", "b"}
    with open(p, "a") as f:
        f.write('{"run": "a", "step": 1, "v": 3}\n{"run": "a", "st')
    second = tabular.JSONL.read(p, first.offset, first.state, OPTS)
    assert not second.complete and by_id(second)["a"]["v"].values.tolist() == [3]
    with open(p, "a") as f:
        f.write('ep": 2, "v": 4}')
    third = tabular.JSONL.read(p, second.offset, second.state, OPTS)
    assert third.complete and by_id(third)["a"]["v"].steps.tolist() == [2]
    assert merged(first, second, third) == merged(tabular.JSONL.read(p, 0, {}, OPTS))
    third = tabular.JSONL.read(p, third.offset, third.state, OPTS)
    assert third.runs == [] and third.state["pending_nl"]
    with open(p, "a") as f:
        f.write('\n{"run": "b", "step": 1, "v": 5}\n')
    fourth = tabular.JSONL.read(p, third.offset, third.state, OPTS)
    assert not fourth.replace and by_id(fourth)["b"]["v"].values.tolist() == [5]


def test_jsonl_array_file_is_reread_whole(tmp_path: Path) -> None:
    p = write(tmp_path / "scores.json", json.dumps([{"Iteration": 0, "Value": 1.5}, {"Iteration": 1, "Value": 2}]))
    res = tabular.JSONL.read(p, 0, {}, ReadOptions(step_column="Iteration"))
    assert res.runs[0].series["Value"].values.tolist() == [1.5, 2]
    again = tabular.JSONL.read(p, res.offset, res.state, ReadOptions(step_column="Iteration"))
    assert again.replace and len(again.runs[0].series["Value"]) == 2


@pytest.mark.parametrize("data,match", [
    (b'{"a": 1}\n{"a": \n{"a": 2}\n', "line 2: invalid JSON"),
    (b'{"a": 1}\n[1, 2]\n', "line 2: expected a JSON object"),
    (b'{"a": 1}\n{"a": "x"}\n', "non-numeric value 'x' for key 'a'"),
    (b'{"a": 1}\n\xff\xfe\n', "UTF-8"),
])
def test_jsonl_bad_input(tmp_path: Path, data: bytes, match: str) -> None:
    with pytest.raises(InputError, match=match):
        tabular.JSONL.read(write(tmp_path / "bad.jsonl", data), 0, {}, OPTS)


def test_detect(tmp_path: Path) -> None:
    assert tabular.CSV.detect(write(tmp_path / "a.csv", "x,y\n"))
    assert not tabular.CSV.detect(write(tmp_path / "a.txt", "x,y\n"))
    assert not tabular.CSV.detect(write(tmp_path / "u.csv", "x,y\n".encode("utf-16")))
    assert tabular.JSONL.detect(write(tmp_path / "a.jsonl", '{"a": 1}\n'))
    assert tabular.JSONL.detect(write(tmp_path / "b.json", '{"a": 1}\n{"a": 2}\n'))
    assert not tabular.JSONL.detect(write(tmp_path / "config.json", '{\n  "a": 1\n}\n'))

"""The long-format fast path (`tabular_long`) reads exactly what the generic emitter reads.

Three ways to read a long CSV are compared on tricky input: the generic emitter (`_emit`, the reader
before the fast path), the fast path filled by pandas (no pyarrow), and the fast path filled by
pyarrow where it applies (pandas for the blocks pyarrow might read differently). Runs, their order,
metadata, every point's bits, offsets, state and warnings must agree; so must the stores ingested
through each, down to the chunk blobs, and incremental ingest must read only what is new.
"""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openrlb_cli.ingest import pipeline
from openrlb_cli.ingest.base import ReadOptions, ReadResult
from openrlb_cli.ingest.tabular import csv_engine as tabular_csv
from openrlb_cli.ingest.tabular import long_csv as tabular_long
from openrlb_cli.ingest.tabular import readers as tabular
from openrlb_cli.store import Store

MODES = ("generic", "pandas", "arrow")
LONG = ReadOptions(run_column="run", experiment_column="algo", env_column="env", seed_column="seed",
                   step_column="step")


def set_mode(monkeypatch: pytest.MonkeyPatch, mode: str) -> dict[str, int]:
    """Select a reading path; returns a counter of the blocks pyarrow parsed."""
    monkeypatch.setattr(tabular_csv, "FAST_LONG", mode != "generic")
    monkeypatch.setattr(tabular_long, "USE_PYARROW", mode == "arrow")
    used = {"arrow": 0}
    real = tabular_long.parse_arrow

    def counting(*args: Any, **kwargs: Any) -> Any:
        got = real(*args, **kwargs)
        used["arrow"] += got is not None
        return got

    monkeypatch.setattr(tabular_long, "parse_arrow", counting)
    return used


def canonical(results: list[ReadResult]) -> list[Any]:
    """Everything a read returns, points as exact bytes (NaN payloads and -0.0 included)."""
    out = []
    for res in results:
        runs = [(r.source, r.external_id, r.name, r.experiment, r.env, r.seed, r.config,
                 [(k, s.steps.tobytes(), s.values.tobytes(), s.wall_times.tobytes()) for k, s in r.series.items()])
                for r in res.runs]
        out.append((runs, res.offset, res.state, res.replace, res.complete, res.warnings))
    return out


def read_each(monkeypatch: pytest.MonkeyPatch, path: Path, opts: ReadOptions, offset: int = 0,
              state: dict[str, Any] | None = None) -> dict[str, tuple[list[Any], int]]:
    got = {}
    for mode in MODES:
        used = set_mode(monkeypatch, mode)
        got[mode] = (canonical(list(tabular.CSV.iter_read(path, offset, dict(state or {}), opts))), used["arrow"])
    return got


def tricky_long_csv(path: Path, rng: random.Random, crlf: bool = False, sep: str = ",") -> Path:
    """Segments that send blocks down different parsers: clean numbers (pyarrow), quoted fields,
    NaN/inf/-0 (pandas), rows without a step and with empty id cells, runs spread over the file."""
    runs = [(f"r{i}", f"algo{i % 3}", f"Env{i % 4}-v5", str(i % 5)) for i in range(12)]
    nl = "\r\n" if crlf else "\n"
    lines = [sep.join("run,note,algo,env,seed,step,value,loss,extra".split(","))]

    def number() -> str:
        return rng.choice([f"{rng.uniform(-100, 100):.4f}", repr(rng.gauss(0, 1e6)), str(rng.randint(-9, 9)),
                           "1e5", "2.5E-3", "", f"{rng.random():.17g}"])

    for seg in range(8):
        kind = seg % 4
        for _ in range(120):
            run, algo, env, seed = rng.choice(runs)
            step = str(rng.choice([rng.randint(0, 50) * 100, 0, 100]))  # unsorted, duplicates
            value, loss, extra = number(), number(), number()
            note = rng.choice(["ok", "fine", "x y"])
            if kind == 1 and rng.random() < 0.4:
                run, note = f'"{run}"', rng.choice(['"a, b"', '"say ""hi"""'])
            if kind == 2:
                value = rng.choice([value, "nan", "inf", "-inf", "NaN", "-0", "-0.0", "+1.5"])
            if kind == 3:
                step = rng.choice([step, step, ""])
                env = rng.choice([env, env, ""])
            lines.append(sep.join([run, note, algo, env, seed, step, value, loss, extra]))
        lines.append("")  # a blank line between segments
    path.write_bytes((nl.join(lines) + nl).encode())
    return path


@pytest.mark.parametrize(("crlf", "sep"), [(False, ","), (True, ","), (False, "\t")])
@pytest.mark.parametrize("value_columns", [["value"], None])
def test_fast_paths_equal_the_generic_reader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, crlf: bool, sep: str,
                                             value_columns: list[str] | None) -> None:
    p = tricky_long_csv(tmp_path / ("long.tsv" if sep == "\t" else "long.csv"), random.Random(7), crlf, sep)
    monkeypatch.setattr(tabular_csv, "BLOCK_BYTES", 1500)
    monkeypatch.setattr(tabular_csv, "PIECE_BYTES", 9000)
    opts = ReadOptions(**{**LONG.__dict__, "value_columns": value_columns})
    got = read_each(monkeypatch, p, opts)
    generic, _ = got["generic"]
    assert len(generic) > 3 and sum(len(res[0]) for res in generic) > 12  # several pieces, runs in each
    assert any("rows without a 'step' value" in w for res in generic for w in res[5])
    assert got["pandas"][0] == generic
    assert got["arrow"][0] == generic
    assert got["arrow"][1] > 5 and got["pandas"][1] == 0  # pyarrow parsed blocks, and only when allowed


def test_fast_paths_equal_generic_when_resuming(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = tricky_long_csv(tmp_path / "long.csv", random.Random(3))
    data = p.read_bytes()
    cut = data.index(b"\n", len(data) // 2) + 1
    p.write_bytes(data[:cut] + b"r1,ok,algo1,Env1-v5,1,7")  # an unterminated, complete last line
    first = read_each(monkeypatch, p, LONG)
    assert first["arrow"][0] == first["pandas"][0] == first["generic"][0]
    last = first["generic"][0][-1]
    p.write_bytes(data[:cut] + b"r1,ok,algo1,Env1-v5,1,7,3.5,,\n" + data[cut:])
    again = read_each(monkeypatch, p, LONG, last[1], last[2])
    assert again["arrow"][0] == again["pandas"][0] == again["generic"][0]
    assert again["generic"][0][0][3] is False  # continued, not re-read


TOKENS = ["0", "1", "-1", "2.5", "1e3", "-0", "0.0", "-0.0", "1.0", "nan", "NaN", "inf", "-inf", "nan(1)", "",
          " 1", "1_0", "abc", "+2", ".5", "1e400", "9007199254740993", "18446744073709551616"]
IDS = ["a", "b", "", "c d", "0", "1.0", "é"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(st.sampled_from(IDS), st.sampled_from(IDS), st.sampled_from(TOKENS),
                               st.sampled_from(TOKENS)), min_size=1, max_size=40),
       block=st.integers(min_value=16, max_value=400))
def test_any_cells_read_the_same_on_every_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                rows: list[tuple[str, str, str, str]], block: int) -> None:
    """Odd numbers, texts in number columns, empty ids: the same runs and points, or the same error."""
    p = tmp_path / "h.csv"
    p.write_text("run,seed,step,v\n1,1,0,0\n" + "".join(",".join(r) + "\n" for r in rows), encoding="utf-8")
    monkeypatch.setattr(tabular_csv, "BLOCK_BYTES", block)
    opts = ReadOptions(run_column="run", seed_column="seed", step_column="step", value_columns=["v"])
    out = {}
    for mode in MODES:
        set_mode(monkeypatch, mode)
        try:
            out[mode] = canonical([tabular.CSV.read(p, 0, {}, opts)])
        except Exception as exc:  # noqa: BLE001 - the same error on every path is the expectation
            out[mode] = f"{type(exc).__name__}: {exc}"
    assert out["pandas"] == out["generic"]
    assert out["arrow"] == out["generic"]


def dump(db: Path) -> list[list[tuple[Any, ...]]]:
    con = sqlite3.connect(db)
    try:
        return [con.execute(q).fetchall() for q in (
            "SELECT id, uid, project, name, experiment, env, seed, source, external_id, config FROM runs ORDER BY id",
            "SELECT id, run_id, key, n_points, n_chunks, step_min, step_max, last_value, last_wall_time "
            "FROM series ORDER BY id",
            "SELECT series_id, seq, n, step_min, step_max, steps, vals, walls FROM chunks ORDER BY series_id, seq",
            "SELECT path, format, size, offset, state FROM ingest_files",
        )]
    finally:
        con.close()


def test_stores_ingested_by_each_path_are_identical(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = tricky_long_csv(tmp_path / "long.csv", random.Random(11))
    monkeypatch.setattr(tabular_csv, "BLOCK_BYTES", 2000)
    monkeypatch.setattr(tabular_csv, "PIECE_BYTES", 12000)
    dumps = {}
    for mode in MODES:
        set_mode(monkeypatch, mode)
        with Store(tmp_path / f"{mode}.db") as store:
            summary = pipeline.ingest(store, [p], options=LONG)
        assert summary.points > 1000 and not summary.skipped
        dumps[mode] = dump(tmp_path / f"{mode}.db")
    assert dumps["pandas"] == dumps["generic"]
    assert dumps["arrow"] == dumps["generic"]


@pytest.mark.parametrize("mode", ["pandas", "arrow"])
def test_reingest_reads_nothing_and_appended_rows_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       mode: str) -> None:
    set_mode(monkeypatch, mode)
    rows = ["run,algo,env,seed,step,value"] + [f"r{i % 7},a{i % 2},E,{i % 7},{i // 7},{i * 0.25}" for i in range(700)]
    p = tmp_path / "long.csv"
    p.write_text("\n".join(rows) + "\n")
    with Store(tmp_path / "s.db") as store:
        first = pipeline.ingest(store, [p], options=LONG)
        assert first.points == 700 and first.new_runs == 14
        again = pipeline.ingest(store, [p], options=LONG)
        assert (again.units, again.unchanged, again.points) == (0, 1, 0)
        with p.open("a") as f:
            f.write("".join(f"r{i % 7},a{i % 2},E,{i % 7},{i // 7},{i * 0.25}\n" for i in range(700, 770)))
        grown = pipeline.ingest(store, [p], options=LONG)
        assert (grown.units, grown.points, grown.new_runs) == (1, 70, 0)
        loaded = {r.external_id: store.load_series(r.id, "value") for r in store.runs()}
    with Store(tmp_path / "fresh.db") as fresh:
        whole = {r.external_id: fresh.load_series(r.id, "value") for r in fresh.runs()} if pipeline.ingest(
            fresh, [p], options=LONG).points == 770 else {}
    assert list(loaded) == list(whole) and len(whole) == 14
    for ext, s in whole.items():
        assert loaded[ext].steps.tobytes() == s.steps.tobytes() and loaded[ext].values.tobytes() == s.values.tobytes()


@pytest.mark.parametrize("suffix", ["csv", "jsonl"])
def test_appended_rows_go_to_the_runs_of_the_first_read(tmp_path: Path, suffix: str) -> None:
    """The layout is kept in the store as JSON with sorted keys; a resumed read must still join the
    id roles in the order the first read did (it made new runs `env=..|algo=..|run=..` before)."""
    def rows(lo: int, hi: int) -> str:
        if suffix == "csv":
            return "".join(f"r{i % 3},a{i % 2},E,{i % 3},{i},{i * 0.5}\n" for i in range(lo, hi))
        return "".join(f'{{"run": "r{i % 3}", "algo": "a{i % 2}", "env": "E", "seed": {i % 3}, "step": {i}, '
                       f'"value": {i * 0.5}}}\n' for i in range(lo, hi))
    p = tmp_path / f"long.{suffix}"
    p.write_text(("run,algo,env,seed,step,value\n" if suffix == "csv" else "") + rows(0, 60))
    with Store(tmp_path / "s.db") as store:
        assert pipeline.ingest(store, [p], options=LONG).new_runs == 6
        ids = sorted(r.external_id for r in store.runs())
        with p.open("a") as f:
            f.write(rows(60, 90))
        grown = pipeline.ingest(store, [p], options=LONG)
        assert (grown.points, grown.new_runs) == (30, 0)
        assert sorted(r.external_id for r in store.runs()) == ids
        assert ids[0].endswith("#run=r0|algo=a0|env=E|seed=0")
        assert sorted(s.n_points for s in store.series_info()) == [15] * 6


def _old_blocks(data: bytes, start: int, end: int, size: int) -> list[tuple[bytes, int]]:
    """The block cutting of the reader before the reused buffer: reads of `size` bytes, each cut
    at its last newline, the rest carried into the next read."""
    out, pos, carry = [], start, b""
    while pos < end:
        n = min(size, end - pos)
        buf = carry + data[pos:pos + n]
        pos += n
        cut = len(buf) if pos >= end else buf.rfind(b"\n") + 1
        if cut:
            out.append((buf[:cut], pos - (len(buf) - cut)))
            carry = buf[cut:]
        else:
            carry = buf
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(st.integers(min_value=0, max_value=60), min_size=1, max_size=30),
       size=st.integers(min_value=1, max_value=90), start=st.integers(min_value=0, max_value=5))
def test_blocks_cut_where_they_did_before(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lines: list[int],
                                          size: int, start: int) -> None:
    """Same block ends as before, so `max_bytes` pieces -- and the chunks a store gets -- are unchanged."""
    data = b"".join(b"x" * k + b"\n" for k in lines)
    p = tmp_path / "b.csv"
    p.write_bytes(data)
    start = min(start, len(data) - 1)
    monkeypatch.setattr(tabular_csv, "BLOCK_BYTES", size)
    with p.open("rb") as f:
        got = [(bytes(view), end) for view, end in tabular_csv._blocks(f, start, len(data))]
    assert got == _old_blocks(data, start, len(data), size)


def test_pyarrow_missing_is_the_pandas_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A plain install (no `parquet` extra): in a process where pyarrow cannot be imported (hidden
    before pandas loads, as if not installed) the fast path is filled by pandas and reads what the
    generic reader reads here."""
    import pickle
    import subprocess
    import sys

    p = tricky_long_csv(tmp_path / "long.csv", random.Random(5))
    monkeypatch.setattr(tabular_csv, "BLOCK_BYTES", 1500)
    generic = read_each(monkeypatch, p, LONG)["generic"][0]
    out = tmp_path / "plain.pickle"
    code = (
        "import sys, pickle; sys.modules['pyarrow'] = None\n"
        "from pathlib import Path\n"
        "from openrlb_cli.ingest.tabular import csv_engine as tabular_csv, long_csv as tabular_long\n"
        "from openrlb_cli.ingest.tabular import readers as tabular\n"
        "import tests.test_readers_tabular_long as t\n"
        "tabular_csv.BLOCK_BYTES = 1500\n"
        "assert tabular_long._arrow() is None and tabular_csv.FAST_LONG\n"
        f"res = list(tabular.CSV.iter_read(Path({str(p)!r}), 0, {{}}, t.LONG))\n"
        f"Path({str(out)!r}).write_bytes(pickle.dumps(t.canonical(res)))\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1], timeout=120)
    assert pickle.loads(out.read_bytes()) == generic

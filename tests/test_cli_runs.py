"""Reading the store back through the CLI: info, runs, show, rm, export, errors."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from openrlb_cli.model import RunRecord, Series
from openrlb_cli.store import Store


@pytest.fixture
def populated(db_path):
    with Store(db_path) as store:
        for exp in ("ppo", "sac"):
            for seed in (1, 2):
                rec = RunRecord("test", f"{exp}-{seed}", project="p", experiment=exp, env="Hopper-v3", seed=seed,
                                tags=["v1"], config={"lr": 0.1 * seed})
                rec.add_points("charts/episodic_return", Series(np.arange(0, 50, 10), np.arange(5) * seed))
                rec.add_points("losses/value", Series([0, 10], [1.0, 0.5]))
                store.write_run(rec)
    return db_path


def test_info_json(cli, populated):
    code, out, _ = cli("info", "--json")
    data = json.loads(out)
    assert code == 0
    assert data["runs"] == 4 and data["series"] == 8 and data["points"] == 4 * 7
    assert data["schema_version"] >= 1 and data["path"] == str(populated)


def test_runs_filters_and_json(cli, populated):
    code, out, _ = cli("runs", "experiment=ppo", "--json")
    runs = json.loads(out)
    assert code == 0
    assert [(r["experiment"], r["seed"], r["n_points"]) for r in runs] == [("ppo", 1, 7), ("ppo", 2, 7)]
    code, out, _ = cli("runs", "lr=0.2", "--json")
    assert [r["external_id"] for r in json.loads(out)] == ["ppo-2", "sac-2"]


def test_runs_table_lists_uids(cli, populated):
    code, out, _ = cli("runs")
    assert code == 0 and "4 runs" in out and "Hopper-v3" in out


def test_show_run(cli, populated):
    with Store(populated) as store:
        uid = store.runs()[0].uid
    code, out, _ = cli("show", uid[:6], "--json")
    data = json.loads(out)
    assert code == 0 and data["uid"] == uid
    keys = {s["key"]: s["n_points"] for s in data["series"]}
    assert keys == {"charts/episodic_return": 5, "losses/value": 2}


def test_unknown_run_is_one_line_error(cli, populated):
    code, out, err = cli("show", "doesnotexist")
    assert code == 1 and out == ""
    assert err.strip().startswith("error: no run matches") and len(err.strip().splitlines()) == 1


def test_bad_filter_word(cli, populated):
    code, _, err = cli("runs", "experiment")
    assert code == 1 and "not key=value" in err


def test_export_csv_matches_store(cli, populated, tmp_path):
    target = tmp_path / "out.csv"
    code, _, _ = cli("export", "experiment=sac", "--metric", "charts/episodic_return", "-o", str(target))
    df = pd.read_csv(target)
    assert code == 0
    assert list(df.columns) == ["project", "experiment", "env", "seed", "run", "step", "value", "wall_time"]
    assert len(df) == 10 and set(df["seed"]) == {1, 2}
    assert df[df.seed == 2]["value"].tolist() == [0, 2, 4, 6, 8]


def test_export_jsonl_stdout(cli, populated):
    code, out, _ = cli("export", "seed=1", "--metric", "losses/value", "--format", "jsonl")
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(rows) == 4 and {r["value"] for r in rows} == {1.0, 0.5}


def test_export_unknown_metric(cli, populated):
    code, _, err = cli("export", "--metric", "nope")
    assert code == 1 and "has metric 'nope'" in err


def test_rm_needs_confirmation_when_not_interactive(cli, populated):
    code, _, err = cli("rm", "experiment=ppo")
    assert code == 1 and "--yes" in err
    code, _, _ = cli("rm", "experiment=ppo", "--yes")
    assert code == 0
    code, out, _ = cli("runs", "--json")
    assert {r["experiment"] for r in json.loads(out)} == {"sac"}


def test_console_script_and_module_entry_point(populated, tmp_path):
    """`python -m openrlb_cli` runs the CLI from any directory."""
    proc = subprocess.run([sys.executable, "-m", "openrlb_cli", "--db", str(populated), "info", "--json"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["runs"] == 4


def test_store_path_from_environment(populated, tmp_path, monkeypatch, capsys):
    from openrlb_cli.cli import run

    monkeypatch.setenv("OPENRLB_DB", str(populated))
    assert run(["info", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["runs"] == 4


def test_newer_store_refused_via_cli(cli, populated):
    import sqlite3

    conn = sqlite3.connect(populated)
    conn.execute("INSERT INTO _sqlite_migrations (migration_set, name, applied_at) VALUES ('openrlb', '0999_x', 'x')")
    conn.commit()
    conn.close()
    code, _, err = cli("runs")
    assert code == 1 and "newer openrlb" in err


def test_json_output_has_no_nan_literals(cli, db_path):
    with Store(db_path) as store:
        rec = RunRecord("test", "nan", name="with-nan", summary={"best": float("nan")})
        rec.add_points("m", Series([0, 1], [1.0, float("nan")]))
        store.write_run(rec)
    code, out, _ = cli("show", "with-nan", "--json")
    assert code == 0 and "NaN" not in out
    data = json.loads(out)
    assert data["summary"]["best"] is None


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["ingest"], "Missing argument"),
        (["runs", "--quiet"], "No such option"),  # global options go before the command
        (["nosuchcommand"], "No such command"),
        (["plot", "x", "--smooth", "many"], "Invalid value"),
    ],
)
def test_bad_command_lines_exit_2_with_a_usage_hint(cli, populated, argv, message):
    code, out, err = cli(*argv)
    assert code == 2, (code, err)
    assert message in err and "Usage: openrlb" in err and "unexpected" not in err and "Traceback" not in err
    assert all(word in err for word in argv[1:2] if word.startswith("--"))  # the option is named


def test_declined_confirmation_deletes_nothing(cli, populated, monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stdin", Terminal("n\n"))
    code, _, err = cli("rm", "experiment=ppo")
    assert code == 130 and "aborted" in err
    code, out, _ = cli("runs", "--json")
    assert {r["experiment"] for r in json.loads(out)} == {"ppo", "sac"}


def test_many_runs_print_as_plain_columns(cli, populated, monkeypatch):
    """Past RICH_TABLE_ROWS the listing is plain aligned text with the same rows as the rich table."""
    from openrlb_cli.cli import runs_cmd

    with Store(populated) as store:
        uids = [r.uid for r in store.runs()]
    monkeypatch.setattr(runs_cmd, "RICH_TABLE_ROWS", 2)
    code, out, _ = cli("runs")
    lines = out.splitlines()
    assert code == 0 and lines[0] == "4 runs" and lines[1].split() == [
        "run", "project", "experiment", "env", "seed", "state", "series", "points", "tags", "created"]
    assert [ln.split()[0] for ln in lines[2:]] == uids
    assert [ln.split()[1:7] for ln in lines[2:]] == [
        ["p", "ppo", "Hopper-v3", "1", "2", "7"], ["p", "ppo", "Hopper-v3", "2", "2", "7"],
        ["p", "sac", "Hopper-v3", "1", "2", "7"], ["p", "sac", "Hopper-v3", "2", "2", "7"]]
    assert len({ln.index("Hopper-v3") for ln in lines[2:]}) == 1  # aligned
    assert "│" not in out and "┃" not in out


def test_json_lists_are_valid_json_with_nan_as_null(cli, populated):
    with Store(populated) as store:
        rec = RunRecord("test", "nan-run", project="p", experiment="x", env="Hopper-v3", seed=9,
                        summary={"best": float("nan"), "worst": float("-inf")})
        rec.add_points("charts/episodic_return", Series([0, 1], [float("nan"), 1.0]))
        store.write_run(rec)
    code, out, _ = cli("runs", "--json", "experiment=x")
    (run,) = json.loads(out)
    assert code == 0 and run["summary"] == {"best": None, "worst": None} and run["n_points"] == 2
    code, out, _ = cli("runs", "--json", "experiment=x", "state=running")  # known values, no such run
    assert code == 0 and json.loads(out) == []


def test_names_are_printed_as_stored(cli, db_path):
    """`:name:` in a run's metadata is text, not an emoji code (rich would print 👍 for `:thumbsup:`)."""
    with Store(db_path) as store:
        rec = RunRecord("test", "e", project="p", name="run:fire:x", experiment="exp:thumbsup:", env="E")
        rec.add_points("r", Series([0, 1], [1.0, 2.0]))
        store.write_run(rec)
    code, out, _ = cli("runs")
    assert code == 0 and "exp:thumbsup:" in out and "\N{THUMBS UP SIGN}" not in out
    uid = json.loads(cli("runs", "--json")[1])[0]["uid"]
    code, out, _ = cli("show", uid)
    assert code == 0 and "run:fire:x" in out and "\N{FIRE}" not in out

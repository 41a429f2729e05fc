"""`openrlb set`: fixing run metadata, and later ingests and syncs keeping the user's fixes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from openrlb_cli.model import RunRecord, Series
from openrlb_cli.store import Store, parse_filters


def _wide_csv(path: Path, rows: range, seeds: int = 2) -> None:
    """A Tianshou-style wide CSV: env_step, rew, rew:shaded, one rew:seed_<i>_... column per seed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists()
    with path.open("a") as fh:
        if new:
            fh.write(",".join(["env_step", "rew", "rew:shaded", *(f"rew:seed_{i}_x" for i in range(seeds))]) + "\n")
        for r in rows:
            fh.write(",".join(str(v) for v in [r * 1000, r, 0.0, *(r + i for i in range(seeds))]) + "\n")


def _runs(db: Path, *words: str) -> list:
    with Store(db) as s:
        return s.runs(parse_filters(list(words)))


def test_set_changes_fields_tags_and_note_and_show_prints_them(cli, db_path, tmp_path):
    _wide_csv(tmp_path / "logs" / "a.csv", range(5))
    assert cli("ingest", str(tmp_path / "logs"), "--project", "p", "--tag", "draft")[0] == 0
    code, out, err = cli("set", "project=p", "--experiment", "sac", "--env", "Hopper-v3", "--add-tag", "paper",
                         "--remove-tag", "draft", "--note", "rerun of 2023-04 with fixed seeds")
    assert code == 0 and "changed 2 of 2 selected runs" in err
    assert "experiment: (none) -> 'sac'  (2 runs" in out and "tags: +paper" in out and "tags: -draft" in out
    runs = _runs(db_path, "experiment=sac", "env=Hopper-v3", "tag=paper")
    assert len(runs) == 2 and all(r.tags == ["paper"] and r.note.startswith("rerun") for r in runs)
    code, out, _ = cli("show", runs[0].uid)
    assert "note: rerun of 2023-04 with fixed seeds" in out
    assert "set by the user: env, experiment, tags +paper -draft" in out
    code, out, _ = cli("show", runs[0].uid, "--json")
    data = json.loads(out)
    assert data["note"].startswith("rerun") and data["user_fields"]["experiment"] == "sac"
    # one run's seed by uid; '' clears a field
    code, _, _ = cli("set", runs[0].uid, "--seed", "7", "--env", "")
    (r,) = _runs(db_path, "seed=7")
    assert code == 0 and r.env is None and r.uid == runs[0].uid


def test_dry_run_changes_nothing(cli, db_path, tmp_path):
    _wide_csv(tmp_path / "a.csv", range(3))
    cli("ingest", str(tmp_path / "a.csv"), "--project", "p")
    code, out, err = cli("set", "project=p", "--experiment", "sac", "--dry-run")
    assert code == 0 and "would change 2 of 2" in err and "experiment: (none) -> 'sac'" in out
    assert all(r.experiment is None for r in _runs(db_path))


def test_user_edits_win_over_later_ingests_of_grown_files(cli, db_path, tmp_path):
    csv = tmp_path / "Hopper-v3" / "sac" / "r.csv"
    _wide_csv(csv, range(5))
    cli("ingest", str(tmp_path), "--project", "p", "--experiment", "wrong", "--tag", "draft")
    cli("set", "experiment=wrong", "--experiment", "sac", "--remove-tag", "draft", "--add-tag", "mine")
    _wide_csv(csv, range(5, 9))  # the file grows: the next ingest reads and writes these runs again
    code, _, err = cli("ingest", str(tmp_path), "--project", "p", "--experiment", "wrong", "--tag", "draft")
    assert code == 0 and "2 runs keep experiment='sac' set by the user (this ingest says 'wrong')" in err
    runs = _runs(db_path)
    assert [r.experiment for r in runs] == ["sac", "sac"]
    assert all(r.tags == ["mine"] for r in runs)  # removed tag not re-added, added tag kept
    with Store(db_path) as s:
        assert all(i.n_points == 9 for i in s.series_info([r.id for r in runs]))
    # handed back: the next ingest that reads the runs sets the field again
    cli("set", "project=p", "--reset", "experiment")
    _wide_csv(csv, range(9, 10))
    cli("ingest", str(tmp_path), "--project", "p", "--experiment", "again")
    assert [r.experiment for r in _runs(db_path)] == ["again", "again"]


def test_reingest_with_other_options_of_unchanged_files_says_so(cli, db_path, tmp_path):
    _wide_csv(tmp_path / "Hopper-v3" / "sac" / "r.csv", range(5))
    cli("ingest", str(tmp_path), "--project", "p", "--experiment", "x")
    code, _, err = cli("ingest", str(tmp_path), "--project", "p", "--experiment", "{parent}", "--env", "{grandparent}")
    assert code == 0
    assert "2 runs already stored with experiment='x' (this ingest says 'sac', but their files are unchanged); " \
           "use `openrlb set` to change it" in err
    assert [r.experiment for r in _runs(db_path)] == ["x", "x"]


def test_fetch_style_upserts_keep_user_edits(tmp_path):
    """A sync writes a known run again with the server's fields: the user's fields win; the store
    helper gives writers with their own SQL the same record."""
    def server(**kw) -> RunRecord:
        return RunRecord("wandb", "ent/proj/abc", project="proj", experiment="ppo_server", env="Hopper-v4", seed=1,
                         state=kw.get("state", "running"), tags=kw.get("tags", ["v1"]),
                         series={"m": Series(np.arange(3.0), np.arange(3.0))})

    with Store(tmp_path / "s.db") as s:
        run_id = s.write_run(server())
        from openrlb_cli.store.edits import Edit, edit_runs

        edit_runs(s, [run_id], Edit({"experiment": "ppo", "seed": 3}, ["paper"], ["v1"]))
        rec = s.apply_user_edits(server(state="finished", tags=["v1", "new"]))
        assert (rec.experiment, rec.seed, rec.env, rec.state) == ("ppo", 3, "Hopper-v4", "finished")
        assert rec.tags == ["new", "paper"]
        s.write_run(server(state="finished", tags=["v1", "new"]))
        (r,) = s.runs()
        assert (r.experiment, r.seed, r.state) == ("ppo", 3, "finished") and r.tags == ["new", "paper"]


def test_set_errors(cli, db_path, tmp_path):
    _wide_csv(tmp_path / "a.csv", range(3))
    cli("ingest", str(tmp_path / "a.csv"), "--project", "p")
    code, _, err = cli("set", "project=p")
    assert code == 1 and "nothing to set" in err
    code, _, err = cli("set", "project=pp", "--experiment", "x")
    assert code == 1 and "did you mean 'p'" in err
    code, _, err = cli("set", "project=p", "--seed", "x")
    assert code == 1 and "--seed must be an integer" in err
    code, _, err = cli("set", "project=p", "--reset", "colour")
    assert code == 1 and "'colour' cannot be set" in err

"""`--help` of every command: click's conventional metavars and docstring paragraphs that wrap."""

from __future__ import annotations

import inspect
import re

import pytest
import typer

from openrlb_cli.cli import app, run
from openrlb_cli.cli.help_display import reflow

# typer >= 0.29 has its own parameter labels, which help_display replaces with click's (arguments as
# SPECS too); older typer converts with click's types and names arguments its own way (`[specs]...`)
TYPER_OWN_LABELS = hasattr(typer.core.TyperOption, "display_type")

TYPER_LABEL = re.compile(r"<(?:list\[[^\]]*\]|str|int|float|bool|path|file|directory|datetime|uuid)>")


def _commands() -> list[tuple[list[str], object]]:
    out = []

    def walk(cmd, path):
        out.append((path, cmd))
        for name, sub in sorted((getattr(cmd, "commands", None) or {}).items()):
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return out


COMMANDS = [pytest.param(path, cmd, id=" ".join(path) or "openrlb") for path, cmd in _commands()]


def _help(path: list[str], width: int, monkeypatch, capsys) -> str:
    monkeypatch.setenv("COLUMNS", str(width))
    capsys.readouterr()
    assert run([*path, "--help"]) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("path,cmd", COMMANDS)
def test_help_uses_click_metavars(path, cmd, monkeypatch, capsys):
    text = _help(path, 120, monkeypatch, capsys)
    assert not TYPER_LABEL.findall(text), TYPER_LABEL.findall(text)
    rows = {line.split()[1]: line for line in text.splitlines() if re.match(r"^│ +--[\w-]+", line)}
    for param in cmd.params:
        long = next((o for o in param.opts if o.startswith("--")), None)
        if long is None or long not in rows:
            continue
        if getattr(param, "is_flag", False):  # a flag takes no value: no metavar at all
            assert not re.search(r"\b(BOOLEAN|TEXT|INTEGER)\b", rows[long].split(long, 1)[1][:40]), rows[long]
    if path == ["plot"]:  # one of each kind, as click labels them
        assert re.search(r"--smooth +FLOAT", text) and re.search(r"--max-steps +FLOAT", text)
        assert re.search(r"--output +-o +PATH", text) and re.search(r"--env-ids +-e +TEXT", text)
        if TYPER_OWN_LABELS:
            assert re.search(r"SPECS\.\.\. +TEXT", text) and "[OPTIONS] [SPECS]..." in text
        assert "\\[default" not in text  # typer <= 0.28 escapes that bracket for rich markup
        assert re.search(r"--individual +Also draw", text) and re.search(r"--help +-h +Show", text)


@pytest.mark.parametrize("path,cmd", COMMANDS)
def test_help_paragraphs_are_not_broken_mid_sentence(path, cmd, monkeypatch, capsys):
    """On a wide terminal every docstring paragraph is one line: line breaks come from wrapping only."""
    text = _help(path, 400, monkeypatch, capsys)
    lines = [re.sub(r"\s+", " ", line).strip(" │") for line in text.splitlines()]
    paragraphs = [p for p in inspect.cleandoc(cmd.help or "").split("\n\n") if not p.startswith("\b")]
    for paragraph in paragraphs:
        one_line = re.sub(r"\s+", " ", paragraph).strip()
        assert one_line in lines, f"{' '.join(path)}: paragraph not on one line: {one_line[:60]}..."
    narrow = _help(path, 60, monkeypatch, capsys)
    assert max(len(line.rstrip()) for line in narrow.splitlines()) <= 60


def test_reflow_keeps_paragraphs_and_click_no_wrap_blocks():
    text = "First line\n    continues.\n\n    Second para\n    wraps here.\n\n    \b\n    a\n    b"
    assert reflow(text) == "First line continues.\n\nSecond para wraps here.\n\n\b\na\nb"
    assert reflow(None) is None and reflow("") == ""


def test_global_options_after_the_subcommand(tmp_path, capsys):
    from openrlb_cli.cli import hoist_global_options, run

    assert hoist_global_options(["table", "a", "--db", "x.db", "-e", "E"]) == ["--db", "x.db", "table", "a", "-e", "E"]
    hoisted = hoist_global_options(["--db", "y", "runs", "--db=x", "--debug"])
    assert hoisted == ["--db", "y", "--db=x", "--debug", "runs"]
    assert hoist_global_options(["track", "python", "t.py", "--db", "z"]) == ["track", "python", "t.py", "--db", "z"]
    assert hoist_global_options(["export", "--", "--db", "z"]) == ["export", "--", "--db", "z"]
    db = tmp_path / "s.db"
    assert run(["--db", str(db), "info"]) == 0
    capsys.readouterr()
    assert run(["info", "--db", str(db)]) == 0
    assert str(db) in capsys.readouterr().out


def test_each_short_flag_means_one_thing():
    """`-e` is --env-ids everywhere (it was also `fetch mlflow --experiment`), and so on for every short flag."""
    import typer
    from typer.core import TyperGroup

    from openrlb_cli.cli import app

    meanings: dict[str, set[str]] = {}

    def walk(cmd, path):
        for p in cmd.params:
            longs = [o for o in p.opts if o.startswith("--")]
            for o in p.opts + p.secondary_opts:
                if len(o) == 2 and o.startswith("-") and longs:
                    meanings.setdefault(o, set()).add(longs[0])
        if isinstance(cmd, TyperGroup) or hasattr(cmd, "commands"):
            for name, sub in getattr(cmd, "commands", {}).items():
                walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    assert meanings["-e"] == {"--env-ids"}
    clashes = {flag: longs for flag, longs in meanings.items() if len(longs) > 1}
    assert not clashes, clashes

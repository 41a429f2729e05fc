"""The library speaks domain words; the CLI adds the flags (issue 22).

Errors and warnings raised outside `openrlb_cli/cli/` also reach Python callers (`openrlb_cli.api`)
and the viewer, where `--last-n` means nothing. They name the option in library words and carry its
library name in `OpenrlbError.options`; the CLI appends the flag. `rlops/` is left out of the scan:
it mirrors Open RL Benchmark's own command line, so its messages name that tool's flags.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import openrlb_cli
from openrlb_cli.errors import InputError, OpenrlbError

PACKAGE = Path(openrlb_cli.__file__).parent
FLAG = re.compile(r"(?<![\w-])--[a-z]")
# Calls whose string arguments are user-facing warnings: `<x>.warnings.append(...)`, `say(...)`, `warn(...)`.
WARNING_LISTS = ("warnings", "errors", "skipped", "failures")


def _strings(node: ast.AST) -> list[str]:
    return [n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def _is_warning_call(node: ast.Call) -> bool:
    func = node.func
    if isinstance(func, ast.Name):
        return func.id in {"say", "warn"}
    if isinstance(func, ast.Attribute) and func.attr in {"append", "extend", "insert", "warn"}:
        target = func.value
        name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
        return name.endswith(WARNING_LISTS) or func.attr == "warn"
    return False


def flagged_messages() -> list[str]:
    """`path:line: text` of every raise/warning string outside cli/ and rlops/ that names a `--flag`."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] in {"cli", "rlops"}:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Raise) or (isinstance(node, ast.Call) and _is_warning_call(node)):
                found += [f"{rel}:{node.lineno}: {s!r}" for s in _strings(node) if FLAG.search(s)]
    return found


def test_library_messages_name_no_flags():
    bad = flagged_messages()
    assert not bad, "library messages naming CLI flags (use domain words and option=...):\n" + "\n".join(bad)


def test_the_scan_finds_a_flag(tmp_path, monkeypatch):
    """The scan itself works: a planted raise with a flag is reported."""
    (tmp_path / "planted.py").write_text('def f():\n    raise ValueError(f"--last-n must be >= 1, got {0}")\n')
    monkeypatch.setattr(f"{__name__}.PACKAGE", tmp_path)
    assert flagged_messages() == ["planted.py:2: '--last-n must be >= 1, got '"]


def test_library_error_carries_the_option_not_the_flag():
    from openrlb_cli.render.tables import check_score_options

    with pytest.raises(InputError) as caught:
        check_score_options(0, None)
    assert str(caught.value) == "last_n must be >= 1, got 0" and caught.value.options == ("last_n",)
    assert OpenrlbError("x").options == () and OpenrlbError("x", option=("a", "b")).options == ("a", "b")


def test_cli_flag_names():
    from openrlb_cli.cli.context import flag, with_flags

    assert flag("last_n") == "--last-n" and flag("score_rule") == "--score" and flag("wandb_filter") == "--filter"
    assert with_flags("m", ()) == "m"
    assert with_flags("m", ("smooth", "smooth_kind", "smooth")) == "m (--smooth, --smooth-kind)"


@pytest.mark.parametrize("args, words, flags", [
    (["--ci", "2"], "ci must be strictly between 0 and 1, got 2", "(--ci)"),
    (["--bootstrap-seed", "-1"], "bootstrap seed must be >= 0, got -1", "(--bootstrap-seed)"),
    (["--reps", "0"], "reps and the other *_reps must be >= 1", "(--reps, --profile-reps, --poi-reps, --curve-reps)"),
])
def test_cli_error_line_adds_the_flag(cli, tmp_path, args, words, flags):
    code, out, err = cli("aggregate", "a", *args, "-o", str(tmp_path / "x"))
    assert code == 1 and out == ""
    assert err == f"error: {words} {flags}\n"

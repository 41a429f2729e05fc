"""Option values converted without pydantic (cli/coercion.py) read exactly as typer's own conversion.

The reference is typer's pydantic-based runtime conversion of the same parameter, built from the
same type descriptor: for every parameter of every command that the plain conversion takes, each
sample value must give the same result, or both must refuse it (typer's message is then the one
shown, since an unsure value is handed to typer).

The fast path exists only on a typer with the private conversion modules it subclasses (>= 0.29);
on any other typer the comparison tests skip and the last tests check that options still convert
(through typer's own behaviour), as they do on the fast path.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import typer

from openrlb_cli.cli import app, coercion, run
from openrlb_cli.cli.coercion import PlainRuntimeParam, plain_runtime_param

if coercion.FAST_PATH:
    from typer import _coercion
    from typer._click import Context
    from typer._click.exceptions import BadParameter

fast_path_only = pytest.mark.skipif(not coercion.FAST_PATH, reason="this typer has no private conversion to speed up")

SAMPLES = {
    int: ["3", "-7", "+2", "0012", "0", " 3", "3 ", "3.0", "1_000", "x", "", "99999999999999999999999", "٣", 5],
    float: ["0.5", "1e-3", ".5", "5.", "-2", "+1.5E+2", "inf", "-inf", "nan", "1_0.5", "abc", "", " 1", 2, 2.5],
    str: ["abc", "", "with space", "ü", "--x"],
    bool: [True, False],
}


def _params() -> list:
    out = []

    def walk(cmd, path):
        for param in cmd.params:
            if plain_runtime_param(getattr(param, "type_descriptor", None)) is not None:
                out.append(pytest.param(cmd, param, id=" ".join([*path, param.name or "?"])))
        for name, sub in sorted((getattr(cmd, "commands", None) or {}).items()):
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), ["openrlb"])
    return out


PARAMS = _params()


def _leaf(annotation):
    args = getattr(annotation, "__args__", None)
    return args[0] if args else annotation


def _values(annotation, tmp_path: Path) -> list:
    leaf = _leaf(annotation)
    if isinstance(leaf, type) and issubclass(leaf, Path):
        (tmp_path / "file.txt").write_text("x")
        base = [str(tmp_path / "file.txt"), str(tmp_path), str(tmp_path / "missing"), "relative/p", Path("p")]
    else:
        base = SAMPLES[leaf]
    if getattr(annotation, "__origin__", None) in (list, tuple):
        arity = len(annotation.__args__) if annotation.__origin__ is tuple else 2
        return [tuple(base[(i + k) % len(base)] for k in range(arity)) for i in range(len(base))] + [None]
    return [*base, None]


def _outcome(runtime, value, param, ctx):
    try:
        result = runtime.coerce(value, param=param, ctx=ctx)
    except BadParameter as exc:
        return ("refused", str(exc.message))
    if isinstance(result, float) and math.isnan(result):
        return ("value", "nan")
    return ("value", type(result), result)


@fast_path_only
def test_the_plain_conversion_covers_the_options_that_start_up_parses():
    names = {p.id for p in PARAMS}
    assert {"openrlb db", "openrlb quiet", "openrlb runs limit", "openrlb plot smooth",
            "openrlb plot max_steps", "openrlb plot output"} <= names, sorted(names)[:20]


@fast_path_only
@pytest.mark.parametrize("cmd,param", PARAMS)
def test_plain_conversion_equals_typers(cmd, param, tmp_path):
    ctx = Context(cmd, info_name=cmd.name)
    descriptor = param.type_descriptor
    plain = plain_runtime_param(descriptor)
    reference = _coercion.build_runtime_param(descriptor)
    assert isinstance(plain, PlainRuntimeParam) and not isinstance(reference, PlainRuntimeParam)
    for value in _values(descriptor.annotation, tmp_path):
        assert _outcome(plain, value, param, ctx) == _outcome(reference, value, param, ctx), (param.name, value)


def test_a_bad_number_is_one_usage_error_naming_the_option(capsys, tmp_path):
    assert run(["--db", str(tmp_path / "s.db"), "runs", "--limit", "ten"]) == 2
    err = capsys.readouterr().err
    assert "--limit" in err and ("ten" in err or "integer" in err), err
    assert "Traceback" not in err


def test_a_good_number_reaches_the_command(capsys, tmp_path):
    assert run(["--db", str(tmp_path / "s.db"), "runs", "--limit", "0012", "--json"]) == 0
    assert capsys.readouterr().out.strip() in ("[]", "")


def test_without_the_fast_path_options_convert_through_typer(monkeypatch, capsys, tmp_path):
    """What an older (or a changed) typer gets: no plain conversion at all, typer's own, same results."""
    monkeypatch.setattr(coercion, "PlainRuntimeParam", None)
    assert all(plain_runtime_param(getattr(p, "type_descriptor", None)) is None
               for p in typer.main.get_command(app).params)
    assert run(["--db", str(tmp_path / "s.db"), "runs", "--limit", "0012", "--json"]) == 0
    assert capsys.readouterr().out.strip() in ("[]", "")
    assert run(["--db", str(tmp_path / "s.db"), "runs", "--limit", "ten"]) == 2
    assert "--limit" in capsys.readouterr().err


def test_the_feature_check_refuses_a_typer_without_the_private_modules(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_private(name, globals=None, locals=None, fromlist=(), level=0):
        if name == "typer" and fromlist and "_coercion" in fromlist:
            raise ImportError("cannot import name '_coercion' from 'typer'")
        return real_import(name, globals, locals, fromlist, level)

    monkeypatch.setattr(builtins, "__import__", no_private)
    assert coercion._private_conversion() is None

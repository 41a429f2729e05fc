"""The `openrlb` command line: a thin shell that parses, calls the library, and prints.

Every command module registers itself on `app`. `run(argv)` returns an exit code instead of
exiting so tests can call it in-process; `main()` is the console script.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, cast

import typer

from openrlb_cli.cli import context
from openrlb_cli.cli.context import app
from openrlb_cli.errors import OpenrlbError

if TYPE_CHECKING:  # the click typer parses with: its own copy (typer >= 0.2x); nothing is imported at run time
    from typer._click.exceptions import ClickException

# Command modules register their commands on `app` when imported; the order is the help order.
from openrlb_cli.cli import ingest_cmd as _ingest_cmd  # noqa: E402,F401  isort: skip
from openrlb_cli.cli import runs_cmd as _runs_cmd  # noqa: E402,F401  isort: skip
from openrlb_cli.cli import dedupe_cmd as _dedupe_cmd  # noqa: E402,F401  isort: skip
from openrlb_cli.cli import edit_cmd as _edit_cmd  # noqa: E402,F401  isort: skip
from openrlb_cli.cli import analysis_cmd as _analysis_cmd  # noqa: E402,F401  isort: skip
from openrlb_cli.cli import aggregate_cmd as _aggregate_cmd  # noqa: E402,F401  isort: skip
from openrlb_cli.cli import compare_cmd as _compare_cmd  # noqa: E402,F401  isort: skip
from openrlb_cli.cli import fetch_cmd as _fetch_cmd  # noqa: E402,F401  isort: skip
from openrlb_cli.cli import track_cmd as _track_cmd  # noqa: E402,F401  isort: skip
from openrlb_cli.cli import sensitivity_cmd as _sensitivity_cmd  # noqa: E402,F401  isort: skip
from openrlb_cli.cli import view_cmd as _view_cmd  # noqa: E402,F401  isort: skip

__all__ = ["app", "main", "run"]


def _click_exceptions() -> tuple[tuple[type[ClickException], ...], tuple[type[typer.Exit], ...],
                                 tuple[type[BaseException], ...]]:
    """(usage errors, exits, aborts) of the click typer parses with, found through typer's public names.

    typer >= 0.2x parses with its own copy of click and older typer with plain click; either way
    `typer.BadParameter` derives from that click's `ClickException`, and `typer.Exit` / `typer.Abort`
    are what it raises. Plain click is not imported for this (that alone costs ~70 ms of start-up)
    but, when something else loaded it, its classes are caught too.
    """
    usage: list[type[ClickException]] = cast(  # the class of that name in BadParameter's MRO is one
        "list[type[ClickException]]",
        [c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"][:1] or [typer.BadParameter])
    exits: list[type[typer.Exit]] = [typer.Exit]  # and plain click's Exit, with the same `exit_code`
    aborts: list[type[BaseException]] = [typer.Abort]
    plain = sys.modules.get("click.exceptions")
    if plain is not None:
        usage.append(plain.ClickException)
        exits.append(plain.Exit)
        aborts.append(plain.Abort)
    return tuple(dict.fromkeys(usage)), tuple(dict.fromkeys(exits)), tuple(dict.fromkeys(aborts))


#: Global options that are also accepted after the subcommand (`openrlb table ... --db x.db`): moved in front.
_GLOBAL_VALUE = ("--db",)
_GLOBAL_FLAGS = ("--debug",)
_PASSTHROUGH_COMMANDS = ("track",)  # their arguments after the command belong to the tracked program


def hoist_global_options(argv: list[str]) -> list[str]:
    """Move `--db PATH` / `--db=PATH` / `--debug` given after the subcommand in front of it (up to a `--`),
    so global options work in either place. A tracked command's own arguments are left alone."""
    args = list(argv)
    i = 0
    while i < len(args) and args[i].startswith("-"):  # global options before the command
        i += 2 if args[i] in _GLOBAL_VALUE else 1
    if i >= len(args) or args[i] in _PASSTHROUGH_COMMANDS:
        return args
    front, rest, moved = args[:i], args[i:], []
    kept: list[str] = []
    k = 0
    while k < len(rest):
        a = rest[k]
        if a == "--":
            kept += rest[k:]
            break
        if a in _GLOBAL_VALUE and k + 1 < len(rest):
            moved += rest[k:k + 2]
            k += 2
            continue
        if a.startswith(tuple(f"{g}=" for g in _GLOBAL_VALUE)) or a in _GLOBAL_FLAGS:
            moved.append(a)
        else:
            kept.append(a)
        k += 1
    return front + moved + kept


def run(argv: list[str] | None = None) -> int:
    """Run the CLI on `argv` and return its exit code; errors become one line on stderr."""
    command = typer.main.get_command(app)
    context.reset()
    argv = hoist_global_options(sys.argv[1:] if argv is None else argv)
    _USAGE_ERRORS, _EXITS, _ABORTS = _click_exceptions()
    try:
        result = command.main(args=argv, prog_name="openrlb", standalone_mode=False)
    except _EXITS as exc:
        return int(exc.exit_code or 0)
    except _ABORTS:
        context.error("aborted")
        return 130
    except _USAGE_ERRORS as exc:  # bad command line: click's message and usage hint, exit 2
        exc.show()
        return int(exc.exit_code)
    except OpenrlbError as exc:
        if context.state.debug:
            raise
        context.error(context.with_flags(str(exc), exc.options))
        return exc.exit_code
    except KeyboardInterrupt:
        context.error("interrupted; what was committed is kept, rerun to continue")
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug: still one line unless --debug
        if context.state.debug:
            raise
        context.error(f"unexpected {type(exc).__name__}: {exc} (rerun with --debug for the traceback)")
        return 1
    return int(result or 0)


def main() -> None:
    sys.exit(run())

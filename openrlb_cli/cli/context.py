"""Global options, shared consoles and output helpers for every command."""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

from openrlb_cli.cli.help_display import HelpGroup

if TYPE_CHECKING:
    from rich.progress import Progress

    from openrlb_cli.store import Store

# Start-up time is part of the interface: this module and every command module import only typer,
# rich.console and the standard library at the top; the store, numpy, pandas, matplotlib and the
# sources are imported inside the commands that use them (tests/test_startup.py checks it).

app = typer.Typer(
    name="openrlb",
    cls=HelpGroup,  # click's metavars and wrapping help prose for every command
    help="Track, fetch, plot and aggregate reinforcement-learning learning curves, local-first.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@dataclass
class State:
    db: Path | None = None
    quiet: bool = False
    debug: bool = False


state = State()


def reset() -> None:
    state.db, state.quiet, state.debug = None, False, bool(os.environ.get("OPENRLB_DEBUG"))


def out() -> Console:
    """stdout; tables are not squeezed to 80 columns when piped (e.g. into grep)."""
    return Console(soft_wrap=True, width=None if sys.stdout.isatty() else 240, emoji=False)


def err() -> Console:
    return Console(stderr=True, soft_wrap=True, emoji=False)


# Library option names whose flag is not `--` + the name with `_` -> `-` (see `OpenrlbError.options`).
FLAG_NAMES = {"score_rule": "--score", "colors": "--color", "wandb_filter": "--filter", "config_set": "--set",
              "table_format": "--format"}


def flag(option: str) -> str:
    """The command-line flag of a library option name (`last_n` -> `--last-n`)."""
    return FLAG_NAMES.get(option) or "--" + option.replace("_", "-")


def with_flags(message: str, options: tuple[str, ...] | list[str]) -> str:
    """`message` with the flags of `options` appended, so a library error still names what to type."""
    if not options:
        return message
    return f"{message} ({', '.join(dict.fromkeys(flag(o) for o in options))})"


def error(message: str) -> None:
    """One clear line on stderr."""
    print(f"error: {message}", file=sys.stderr, flush=True)


def warn(message: str) -> None:
    if not state.quiet:
        print(f"warning: {message}", file=sys.stderr, flush=True)


def info(message: str) -> None:
    if not state.quiet:
        err().print(message, highlight=False)


def _finite(value: Any) -> Any:
    """NaN/inf become null so every JSON parser (jq included) accepts the output."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _dumps(data: Any) -> str:
    """A list is one compact element per line (json's C encoder: 25,000 runs in ~0.2 s, where
    indent=2 takes the pure-Python encoder and 5x longer); anything else is indented."""
    if isinstance(data, list):
        if not data:
            return "[]"
        return "[\n" + ",\n".join("  " + json.dumps(item, default=str, allow_nan=False) for item in data) + "\n]"
    return json.dumps(data, indent=2, default=str, allow_nan=False)


def print_json(data: Any) -> None:
    try:
        text = _dumps(data)
    except ValueError:  # NaN or inf somewhere: walk the data only then
        text = _dumps(_finite(data))
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def open_store(create: bool = True) -> Store:
    from openrlb_cli.store import Store

    return Store(state.db, create=create)


def show_progress() -> bool:
    return not state.quiet and sys.stderr.isatty()


@contextmanager
def progress(kind: str = "items") -> Iterator[Progress]:
    """A rich progress bar on stderr, disabled when quiet or stderr is not a terminal."""
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns: list[Any] = [TextColumn("[progress.description]{task.description}"), BarColumn()]
    columns += [DownloadColumn()] if kind == "bytes" else [MofNCompleteColumn()]
    columns += [TimeElapsedColumn(), TimeRemainingColumn()]
    with Progress(*columns, console=err(), disable=not show_progress(), transient=False) as bar:
        yield bar


@app.callback()
def _global(
    db: Path | None = typer.Option(
        None, "--db", envvar="OPENRLB_DB", help="Store file (default: $XDG_DATA_HOME/openrlb/openrlb.db)."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars or informational output."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks on errors."),
) -> None:
    state.db = db
    state.quiet = quiet
    state.debug = debug or state.debug

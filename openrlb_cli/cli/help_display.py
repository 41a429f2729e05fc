"""Conventional `--help`: click's metavars (TEXT, INTEGER, PATH, [a|b]; flags without one) and prose that wraps.

Recent typer shows its own `<list[str]>`, `<int>`, `<bool>` type labels and, in rich markup mode, keeps
every line break of a docstring's later paragraphs, so a paragraph wrapped at 100 columns in the source
breaks mid-sentence at any other terminal width. `HelpGroup` (the app's group class) fixes both in one
place for every command, including sub-groups: before a command is used its help paragraphs are joined
into single lines (rich then wraps them to the terminal; a paragraph starting with click's `\\b` marker
is left as written) and each parameter displays the label click would give it. The same re-classing
gives each parameter the pydantic-free conversion of `coercion.py` (start-up time).
"""

from __future__ import annotations

import datetime as _dt
import inspect
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_args, get_origin

import typer.core

from openrlb_cli.cli.coercion import plain_runtime_param

if TYPE_CHECKING:  # the click typer parses with: its own copy (typer >= 0.2x); nothing is imported at run time
    from typer import _click as click

_NAMES: dict[Any, str] = {str: "TEXT", int: "INTEGER", float: "FLOAT", bool: "BOOLEAN", Path: "PATH",
                          uuid.UUID: "UUID", _dt.datetime: "DATETIME"}


def reflow(text: str | None) -> str | None:
    """Docstring paragraphs as single lines (paragraph breaks kept), for help renderers to wrap."""
    if not text:
        return text
    paragraphs = inspect.cleandoc(text).split("\n\n")
    return "\n\n".join(p if p.startswith("\b") else " ".join(line.strip() for line in p.splitlines())
                       for p in paragraphs)


def _element(annotation: Any) -> Any:
    if get_origin(annotation) in (list, tuple, set):
        args = [a for a in get_args(annotation) if a is not Ellipsis]
        return args[0] if args else str
    return annotation


def click_label(param: Any) -> str | None:
    """What click prints for this parameter's value: TEXT, INTEGER, FLOAT, PATH, [a|b|c]; None for a flag."""
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        return None
    desc = getattr(param, "type_descriptor", None)
    if desc is None:  # typer <= 0.28 converts with click's types: label by their class
        return _click_type_label(getattr(param, "type", None))
    if desc.is_choice:
        return "[" + "|".join(str(getattr(c, "value", c)) for c in desc.choices or ()) + "]"
    if desc.is_path:
        kind = str(desc.path_type).lower()
        return {"directory": "DIRECTORY", "file": "FILE"}.get(kind, "PATH")
    element = _element(desc.annotation)
    name = _NAMES.get(element) or getattr(element, "__name__", "TEXT").upper()
    if desc.is_ranged:
        name += " RANGE"
    return name


_CLICK_TYPES = {"StringParamType": "TEXT", "IntParamType": "INTEGER", "FloatParamType": "FLOAT",
                "BoolParamType": "BOOLEAN", "UUIDParameterType": "UUID", "IntRange": "INTEGER RANGE",
                "FloatRange": "FLOAT RANGE", "DateTime": "DATETIME"}


def _click_type_label(kind: Any) -> str:
    """click's label for one of its parameter types, by class (typer <= 0.28 names them `str`, `int`)."""
    if kind is None:
        return "TEXT"
    for cls in type(kind).__mro__:
        if cls.__name__ == "Choice":
            return "[" + "|".join(str(getattr(c, "value", c)) for c in getattr(kind, "choices", ())) + "]"
        if cls.__name__ == "Path":
            file_okay, dir_okay = getattr(kind, "file_okay", True), getattr(kind, "dir_okay", True)
            return "FILE" if file_okay and not dir_okay else "DIRECTORY" if dir_okay and not file_okay else "PATH"
        if cls.__name__ in _CLICK_TYPES:
            return _CLICK_TYPES[cls.__name__]
    return str(getattr(kind, "name", "text")).upper()


class _ConventionalParameter:
    """Methods given to subclasses of typer's parameter classes (recent typer): click's labels in help."""

    metavar: str | None  # attributes of the parameter classes these methods are given to
    name: str | None

    def display_type(self, ctx: Any) -> str:
        return click_label(self) or ""

    def display_type_rich(self, ctx: Any) -> str | None:
        if getattr(self, "metavar", None) is not None and _is_option(self):
            return self.metavar  # an argument's metavar is its name, already in the name column
        return click_label(self)

    def get_runtime_param(self) -> Any:
        """typer's lazily built conversion, pre-empted by the plain one where it applies."""
        if getattr(self, "_runtime_param", None) is None:
            self._runtime_param = plain_runtime_param(getattr(self, "type_descriptor", None))
        return _BASES[type(self)].get_runtime_param(self)

    @property
    def display_name_raw(self) -> str:  # arguments show as SPECS, like click
        metavar = getattr(self, "metavar", None)
        if metavar is not None:
            return metavar
        name = self.name or ""
        return name if _is_option(self) else name.upper()


def _is_option(param: Any) -> bool:
    return getattr(param, "param_type_name", "option") == "option"


_MIXED: dict[type, type[Any]] = {}  # typer's parameter class -> its conventional subclass
_BASES: dict[type, type[Any]] = {}  # and back


def _conventional_param(param: Any) -> None:
    cls = type(param)
    if not hasattr(cls, "display_type") or cls in _MIXED.values():
        return  # older typer renders with click's own metavars already
    if cls not in _MIXED:  # a plain subclass (a mixin base would change the instance layout)
        methods = {k: v for k, v in vars(_ConventionalParameter).items() if not k.startswith("__")}
        _MIXED[cls] = type(f"Conventional{cls.__name__}", (cls,), methods)
        _BASES[_MIXED[cls]] = cls
    param.__class__ = _MIXED[cls]


def conventional_params(command: click.Command) -> click.Command:
    """Re-class only this command's own parameters (a group's options are parsed before any
    sub-command is looked up, so the walk over every command that `--help` needs is not paid)."""
    if getattr(command, "_openrlb_params", False):
        return command
    for param in command.params:
        _conventional_param(param)
    make_help_option = command.get_help_option

    def get_help_option(ctx: click.Context) -> Any:  # click builds --help on demand
        option = make_help_option(ctx)
        if option is not None:
            _conventional_param(option)
        return option

    command.get_help_option = get_help_option  # type: ignore[method-assign]
    command._openrlb_params = True  # type: ignore[attr-defined]
    return command


def conventional_help(command: click.Command) -> click.Command:
    """Reflow the command's help and give its parameters click's labels; recurses into groups. Idempotent."""
    if getattr(command, "_openrlb_help", False):
        return command
    command.help = reflow(command.help)
    command.epilog = reflow(command.epilog)
    conventional_params(command)
    command.format_help = _format_help(command)  # type: ignore[method-assign]
    for sub in (getattr(command, "commands", None) or {}).values():
        conventional_help(sub)
    command._openrlb_help = True  # type: ignore[attr-defined]
    return command


def _format_help(command: click.Command) -> Any:
    def format_help(ctx: click.Context, formatter: click.HelpFormatter) -> None:
        from openrlb_cli.cli.help_render import render_help  # only `--help` draws panels

        render_help(command, ctx, click_label)

    return format_help


class HelpGroup(typer.core.TyperGroup):
    """The app's group: every command it hands out displays help the conventional way."""

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        return conventional_help(command) if command is not None else None

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        conventional_params(self)  # the group's own options convert the plain way too
        return super().parse_args(ctx, args)

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        conventional_help(self)  # gives this group its own format_help (an instance attribute)
        self.format_help(ctx, formatter)

"""`--help` drawn with rich.console, rich.panel and rich.table only: usage, prose, then panels.

typer's own rich help renderer (`typer.rich_utils`) imports rich's Markdown, Syntax and Traceback
support (markdown-it, pygments: ~47 ms) on every `--help`, although openrlb's help is plain text.
This draws the same layout — usage line, the help paragraphs (the first one plain, the rest dim),
`Arguments`, `Options` and `Commands` panels with the option, switch, metavar and help columns —
from click's own data: each parameter's opts, `help_display.click_label` and the help and
`[default: …]` text of `get_help_record`. Help text is shown as written, never parsed as markup.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group
from rich.padding import Padding
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:  # the click typer parses with: its own copy (typer >= 0.2x); nothing is imported at run time
    from typer import _click as click

_OPTION, _SWITCH, _TYPES, _REQUIRED = "bold cyan", "bold green", "bold yellow", "red"


def _console() -> Console:
    return Console(file=sys.stdout, highlight=False, emoji=False)


def _split_extra(record_help: str) -> tuple[str, str]:
    """click's help record ends with `  [default: 100; required]`: (help, that bracket).

    typer <= 0.28 escapes that bracket for rich markup (`\\[default: …]`); shown as written here, so
    the escape is dropped.
    """
    if record_help.endswith("]"):
        for opening in ("  \\[", "  ["):
            head, sep, tail = record_help.rpartition(opening)
            if sep:
                return head, "[" + tail
        if record_help.startswith(("[", "\\[")):
            return "", record_help.removeprefix("\\")
    return record_help, ""


def _help_cell(param: Any, ctx: click.Context) -> Text:
    record = param.get_help_record(ctx)
    body, extra = _split_extra(record[1] if record else "")
    text = Text(body)
    if extra:
        text.append((" " if body else "") + extra, style="dim")
    return text


def _param_rows(params: list[Any], ctx: click.Context, label: Any) -> list[list[Any]]:
    rows = []
    for param in params:
        required = Text("*", style=_REQUIRED) if getattr(param, "required", False) else Text("")
        if getattr(param, "param_type_name", "option") == "argument":
            name = param.display_name_raw if hasattr(param, "display_name_raw") else (param.name or "").upper()
            if param.nargs != 1:
                name += "..."
            rows.append([required, Text(name, style=_OPTION), Text(""), Text(label(param) or "", style=_TYPES),
                         _help_cell(param, ctx)])
            continue
        longs = [o for o in param.opts if o.startswith("--")] or list(param.opts[:1])
        shorts = [o for o in param.opts if o not in longs]
        secondary = [o for o in param.secondary_opts if o.startswith("--")]
        long_text = Text(",".join(longs), style=_OPTION)
        if secondary:
            long_text.append("/" + ",".join(secondary), style=_OPTION)
        metavar = None if getattr(param, "is_flag", False) or getattr(param, "count", False) else (
            param.metavar or label(param))
        rows.append([required, long_text, Text(",".join(shorts), style=_SWITCH),
                     Text(metavar or "", style=_TYPES), _help_cell(param, ctx)])
    return rows


def _panel(title: str, rows: list[list[Any]]) -> Panel:
    table = Table(box=None, show_header=False, padding=(0, 1), pad_edge=False, expand=True)
    width = len(rows[0]) if rows else 0
    for i in range(width):  # names never wrap; the help column takes the rest of the width
        table.add_column(no_wrap=i < width - 1, ratio=1 if i == width - 1 else None)
    for row in rows:
        table.add_row(*row)
    return Panel(table, title=title, title_align="left", border_style="dim")


def _prose(text: str) -> list[Any]:
    """Paragraphs with a blank line between them, each wrapped by rich (click's `\\b` blocks as written)."""
    out: list[Any] = []
    for i, paragraph in enumerate(text.split("\n\n")):
        paragraph = paragraph.removeprefix("\b\n").removeprefix("\b")
        if i:
            out.append(Text(""))
        out.append(Padding(Text(paragraph, style="" if i == 0 else "dim"), (0, 1)))
    return out


def _summary(command: click.Command) -> str:
    """A command's line in its group's list: its short help, else its help's first paragraph."""
    text = command.short_help or command.help or ""
    return text.split("\n\n")[0].removeprefix("\b").strip()


def render_help(command: click.Command, ctx: click.Context, label: Any) -> None:
    """Print `command`'s help for `ctx` to stdout (rich decides colour and width)."""
    console = _console()
    usage = Text("Usage: ", style="yellow")
    usage.append(ctx.command_path, style="bold")
    usage.append(" " + " ".join(command.collect_usage_pieces(ctx)))
    parts: list[Any] = [Text(""), Padding(usage, (0, 1)), Text("")]
    if command.help:
        parts += _prose(command.help)
        parts.append(Text(""))
    params = [p for p in command.get_params(ctx) if not getattr(p, "hidden", False)]
    arguments = [p for p in params if getattr(p, "param_type_name", "") == "argument"]
    options = [p for p in params if getattr(p, "param_type_name", "") != "argument"]
    if arguments:
        parts.append(_panel("Arguments", _param_rows(arguments, ctx, label)))
    if options:
        parts.append(_panel("Options", _param_rows(options, ctx, label)))
    commands = getattr(command, "commands", None)
    if commands:
        rows = []
        for name in command.list_commands(ctx):  # type: ignore[attr-defined]
            sub = command.get_command(ctx, name)  # type: ignore[attr-defined]
            if sub is None or sub.hidden:
                continue
            rows.append([Text(name, style=_OPTION), Text(_summary(sub))])
        if rows:
            parts.append(_panel("Commands", rows))
    if command.epilog:
        parts += [Text(""), *_prose(command.epilog)]
    console.print(Group(*parts))

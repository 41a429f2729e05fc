"""The CI report bundle: one directory with figures, tables, extra sections, index.md and index.html.

Why a bundle: a CI job uploads one artifact that a reviewer can open anywhere. `index.html` is
self-contained (PNG figures embedded as base64, tables as HTML), and every file is deterministic,
so two reports of the same store diff cleanly.

Extension hook: other analyses (aggregate metrics) add sections without this module knowing
them, either passed as `extra_sections` or registered once with `register_section(name, provider)`.
A provider is called with a `ReportContext` (output dir, loaded curves, colours, options), may
write files under `ctx.out_dir`, and returns a `ReportSection` (or a list). A provider that
raises is recorded as an error; the rest of the report is still written and `ok` is False.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from openrlb_cli.analysis import score_rules as sr
from openrlb_cli.errors import InputError, OpenrlbError
from openrlb_cli.render import figures as fg
from openrlb_cli.render import tables as tb
from openrlb_cli.selection import Curves


@dataclass
class ReportSection:
    """A block of the report. Image paths are relative to the report dir (or absolute inside it)."""

    title: str
    markdown: str = ""
    html: str | None = None  # None: rendered from `markdown` (headings, pipe tables, images, text)
    images: list[Path] = field(default_factory=list)  # PNG/SVG shown after the body
    files: list[Path] = field(default_factory=list)  # other files written, listed in the index


@dataclass
class ReportOptions:
    plot: fg.PlotOptions = field(default_factory=fg.PlotOptions)
    last_n: int | None = 100
    last_frac: float | None = None
    score: sr.ScoreRule | None = None  # wins over last_n / last_frac when set
    ci: bool = True
    minimize: bool = False
    title: str = "openrlb report"
    specs: Sequence[str] = ()


@dataclass
class ReportContext:
    out_dir: Path
    curves: Curves
    colors: dict[str, fg.Color]
    options: ReportOptions


SectionProvider = Callable[[ReportContext], "ReportSection | list[ReportSection]"]
_PROVIDERS: dict[str, SectionProvider] = {}


def register_section(name: str, provider: SectionProvider) -> None:
    """Add a section to every report (e.g. aggregate metrics); re-registering a name replaces it."""
    _PROVIDERS[name] = provider


def registered_sections() -> dict[str, SectionProvider]:
    return dict(_PROVIDERS)


@dataclass
class ReportResult:
    out_dir: Path
    files: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    # The options each error is about (`OpenrlbError.options`, by error text), for the CLI's flag hints.
    error_options: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors


def write_report(curves: Curves, out_dir: Path, opts: ReportOptions | None = None,
                 extra_sections: Sequence[ReportSection | SectionProvider] | None = None,
                 *, use_registered: bool = True) -> ReportResult:
    """Write the bundle; errors in one part are collected so the other parts are still written."""
    opts = opts or ReportOptions()
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / ".openrlb-write-test").touch()
        (out_dir / ".openrlb-write-test").unlink()
    except OSError as exc:
        raise InputError(f"cannot write report directory {str(out_dir)!r}: {exc.strerror or exc}") from exc
    result = ReportResult(out_dir, warnings=list(curves.warnings))
    colors = fg.experiment_colors(curves.selection.labels, opts.plot.colors, opts.plot.slots)
    ctx = ReportContext(out_dir, curves, colors, opts)
    sections: list[ReportSection] = []

    def attempt(what: str, fn: Callable[[], list[ReportSection]]) -> None:
        try:
            sections.extend(fn())
        except OpenrlbError as exc:
            result.errors.append(f"{what}: {exc}")
            result.error_options[result.errors[-1]] = exc.options
        except Exception as exc:  # a provider's bug must not lose the rest of the report
            result.errors.append(f"{what}: unexpected {type(exc).__name__}: {exc}")

    attempt("figures", lambda: _figures(ctx, result))
    attempt("tables", lambda: _tables(ctx, result))
    providers: list[ReportSection | SectionProvider] = list(extra_sections or [])
    if use_registered:
        providers += list(_PROVIDERS.values())
    for i, item in enumerate(providers):
        name = getattr(item, "title", None) or getattr(item, "__name__", f"section {i + 1}")
        attempt(str(name), lambda: _as_sections(item(ctx) if callable(item) else item))  # noqa: B023 (called at once)
    for sec in sections:
        result.files += [_inside(out_dir, p) for p in (*sec.images, *sec.files)]
    result.files = list(dict.fromkeys(result.files))
    try:
        index_md = _index_md(ctx, sections, result)
        index_html = _index_html(ctx, sections, result)
        result.files.append(tb.write_text(out_dir / "index.md", index_md))
        result.files.append(tb.write_text(out_dir / "index.html", index_html))
    except OpenrlbError as exc:
        result.errors.append(f"index: {exc}")
    return result


def _as_sections(value: ReportSection | list[ReportSection]) -> list[ReportSection]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _inside(out_dir: Path, p: Path) -> Path:
    return p if p.is_absolute() else out_dir / p


def _figures(ctx: ReportContext, result: ReportResult) -> list[ReportSection]:
    opts = ctx.options.plot
    formats = list(dict.fromkeys(["png", *opts.formats]))
    out = []
    axes = [("step", "Learning curves")]
    if any(r.walls.size and (r.walls == r.walls).any() for rs in ctx.curves.by_cell.values() for r in rs):
        axes.append(("time", "Learning curves against wall-clock time"))
    for x, title in axes:
        popts = fg.PlotOptions(**{**opts.__dict__, "x": x, "formats": formats})
        data = fg.compute_panels(ctx.curves, popts)
        paths = fg.render(data, ctx.out_dir / "figures" / f"curves_{x}", popts, ctx.colors)
        result.files += paths
        png = next(p for p in paths if p.suffix == ".png")
        others = ", ".join(f"[{p.suffix[1:].upper()}]({p.relative_to(ctx.out_dir).as_posix()})" for p in paths)
        text = f"{fg.caption_text(data, popts)} Files: {others}."
        if x == "step":
            out.append(_interactive_section(ctx, title))
        out.append(ReportSection(title, text, images=[png.relative_to(ctx.out_dir)]))
    return out


def _interactive_section(ctx: ReportContext, title: str) -> ReportSection:
    """The same curves drawn by script in index.html (render.interactive); index.md says where."""
    from openrlb_cli.render.interactive import interactive_html

    return ReportSection(f"{title} (interactive)", "Open index.html for the interactive version of this figure.",
                         html=interactive_html(ctx.curves, ctx.options.plot, ctx.colors))


def _tables(ctx: ReportContext, result: ReportResult) -> list[ReportSection]:
    o = ctx.options
    scores = tb.score_table(ctx.curves, last_n=o.last_n, last_frac=o.last_frac, ci=o.ci, minimize=o.minimize,
                            rule=o.score)
    result.warnings += [w for w in scores.warnings if w not in result.warnings]
    out = [_table_section(ctx, result, scores, "scores", ("md", "csv", "json", "latex"))]
    runtime = tb.runtime_table(ctx.curves)
    if tb.has_values(runtime):
        out.append(_table_section(ctx, result, runtime, "runtime", ("md", "csv", "json")))
    return out


def _table_section(ctx: ReportContext, result: ReportResult, table: tb.ScoreTable, stem: str,
                   formats: Sequence[str]) -> ReportSection:
    paths = [tb.write_table(table, fmt, ctx.out_dir / "tables" / f"{stem}{tb.SUFFIXES[fmt]}") for fmt in formats]
    result.files += paths
    links = ", ".join(f"[{p.suffix[1:]}]({p.relative_to(ctx.out_dir).as_posix()})" for p in paths)
    md = tb.to_markdown(table) + f"\nFiles: {links}.\n"
    return ReportSection(f"{table.title} ({table.metric})", md, html=tb.to_html(table) + _md_inline(f"Files: {links}."))


def _selection_md(ctx: ReportContext) -> str:
    sel = ctx.curves.selection
    lines = ["| Line | Spec | Runs | Seeds per env |", "|---|---|---:|---|"]
    for exp in sel.experiments:
        counts = [len(ctx.curves.get(exp.label, env)) for env in sel.env_ids]
        lo, hi = (min(counts), max(counts)) if counts else (0, 0)
        span = f"{lo}–{hi}" if lo != hi else str(lo)
        lines.append(f"| {exp.label} | `{exp.spec}` | {sum(counts)} | {span} |")
    meta = (f"Metric: `{sel.metric_label}`" + ("" if sel.metric else " (automatic: first episodic-return key found)")
            + f". Environments ({len(sel.env_ids)}): " + ", ".join(f"`{e}`" for e in sel.env_ids) + ".")
    return meta + "\n\n" + "\n".join(lines) + "\n"


def _index_md(ctx: ReportContext, sections: list[ReportSection], result: ReportResult) -> str:
    parts = [f"# {ctx.options.title}\n", "## Selection\n", _selection_md(ctx)]
    for sec in sections:
        parts.append(f"## {sec.title}\n")
        if sec.markdown:
            parts.append(sec.markdown.rstrip() + "\n")
        parts += [f"![{sec.title}]({Path(p).as_posix()})\n" for p in sec.images]
    parts += _problems_md(result)
    return "\n".join(parts)


def _problems_md(result: ReportResult) -> list[str]:
    out = []
    if result.warnings:
        out += ["## Warnings\n", "\n".join(f"- {w}" for w in result.warnings) + "\n"]
    if result.errors:
        out += ["## Errors\n", "\n".join(f"- {e}" for e in result.errors) + "\n"]
    return out


_CSS = ("body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}"
        "img{max-width:100%;height:auto}table{border-collapse:collapse;margin:1em 0;font-size:90%}"
        "th,td{border:1px solid #ccc;padding:.3em .6em;text-align:right}th:first-child{text-align:left}"
        "code{background:#f4f4f4;padding:0 .2em}.caption{color:#555;font-size:90%}.err{color:#b00}")


def _index_html(ctx: ReportContext, sections: list[ReportSection], result: ReportResult) -> str:
    body = [f"<h1>{html.escape(ctx.options.title)}</h1>", "<h2>Selection</h2>",
            markdown_to_html(_selection_md(ctx), ctx.out_dir)]
    for sec in sections:
        body.append(f"<h2>{html.escape(sec.title)}</h2>")
        body.append(sec.html if sec.html is not None else markdown_to_html(sec.markdown, ctx.out_dir))
        body += [_embed(_inside(ctx.out_dir, Path(p)), sec.title) for p in sec.images]
    problems = _problems_md(result)
    if problems:
        body.append(markdown_to_html("\n".join(problems), ctx.out_dir))
    return ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<title>{html.escape(ctx.options.title)}</title><style>{_CSS}</style></head>"
            f"<body>\n{chr(10).join(body)}\n</body></html>\n")


def _embed(path: Path, alt: str) -> str:
    """An image inlined so index.html needs no other file: PNG as base64, SVG as markup."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {str(path)!r} for index.html: {exc.strerror or exc}") from exc
    if path.suffix == ".svg":
        text = data.decode("utf-8")
        return text[text.find("<svg"):]
    mime = "image/png" if path.suffix == ".png" else "application/octet-stream"
    return f"<img alt='{html.escape(alt)}' src='data:{mime};base64,{base64.b64encode(data).decode()}'>"


_IMG = re.compile(r"!\[([^\]]*)\]\(([^)]+)\)")
_LINK = re.compile(r"\[([^\]]+)\]\(([^)]+)\)")


def _md_inline(text: str) -> str:
    s = html.escape(text)
    s = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", s)
    s = re.sub(r"`([^`]+)`", r"<code>\1</code>", s)
    return _LINK.sub(r"<a href='\2'>\1</a>", s)


def markdown_to_html(md: str, base: Path) -> str:
    """The small Markdown subset sections use: headings, pipe tables, lists, images, paragraphs."""
    out: list[str] = []
    lines = md.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].rstrip()
        if not line:
            i += 1
        elif line.startswith("#"):
            level = min(len(line) - len(line.lstrip("#")) + 1, 6)
            out.append(f"<h{level}>{_md_inline(line.lstrip('#').strip())}</h{level}>")
            i += 1
        elif line.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                cells = re.split(r"(?<!\\)\|", lines[i].strip())[1:-1]
                rows.append([c.strip().replace("\\|", "|") for c in cells])
                i += 1
            body = [r for r in rows[1:] if not all(set(c) <= set("-: ") for c in r)]
            head = "".join(f"<th>{_md_inline(c)}</th>" for c in rows[0])
            trs = "".join("<tr>" + "".join(f"<td>{_md_inline(c)}</td>" for c in r) + "</tr>" for r in body)
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{trs}</tbody></table>")
        elif line.startswith("- "):
            items = []
            while i < len(lines) and lines[i].startswith("- "):
                items.append(f"<li>{_md_inline(lines[i][2:])}</li>")
                i += 1
            out.append(f"<ul>{''.join(items)}</ul>")
        elif m := _IMG.fullmatch(line.strip()):
            out.append(_embed(_inside(base, Path(m.group(2))), m.group(1)))
            i += 1
        else:
            para = []
            while i < len(lines) and lines[i].strip() and not lines[i].startswith(("#", "|", "- ")):
                para.append(lines[i].strip())
                i += 1
            out.append(f"<p>{_md_inline(' '.join(para))}</p>")
    return "\n".join(out)


__all__ = [
    "ReportContext", "ReportOptions", "ReportResult", "ReportSection", "SectionProvider", "markdown_to_html",
    "register_section", "registered_sections", "write_report",
]

"""Final-score and runtime tables: environments × experiments, to the terminal and to files.

Why here: the numbers come from `analysis.curves` (final score per run, mean ± std over seeds,
bootstrap CI); this module only arranges them into one `ScoreTable` and writes that table as rich,
Markdown, CSV, LaTeX, JSON or HTML, so every format shows the same numbers.

Rows are environments and columns experiments (papers' usual layout; 57 Atari games still fit).
A cell is `mean ± std (n)`: sample std over seeds and the seed count, optionally followed by the
95% bootstrap CI `[low, high]`. The best mean per environment (highest, or lowest with
`minimize`; ties all marked) is bold in Markdown, LaTeX, HTML and the terminal. CSV and JSON are
long ("tidy") with full-precision numbers and a `best` flag.
"""

from __future__ import annotations

import csv
import html
import io
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.table import Table

from openrlb_cli.analysis import curves as cv
from openrlb_cli.errors import InputError
from openrlb_cli.selection import Curves

TABLE_FORMATS = ("md", "csv", "latex", "json", "html")
MISSING = "—"


@dataclass
class ScoreTable:
    title: str
    metric: str
    how: str  # e.g. "mean of the last 100 logged points"
    envs: list[str]
    labels: list[str]
    cells: dict[tuple[str, str], cv.ScoreStats]  # (env, label) -> stats
    kind: str = "score"  # score | runtime
    ci: bool = False
    minimize: bool = False
    notes: list[str] = field(default_factory=list)

    def best(self, env: str) -> set[str]:
        """Labels holding the best mean in this env (empty for runtime tables)."""
        if self.kind != "score":
            return set()
        means = {lbl: self.cells[(env, lbl)].mean for lbl in self.labels if (env, lbl) in self.cells}
        means = {k: v for k, v in means.items() if math.isfinite(v)}
        if not means:
            return set()
        target = (min if self.minimize else max)(means.values())
        return {k for k, v in means.items() if v == target}

    def cell(self, env: str, label: str) -> cv.ScoreStats | None:
        return self.cells.get((env, label))


def check_score_options(last_n: int | None, last_frac: float | None) -> None:
    if last_frac is not None and not 0 < last_frac <= 1:
        raise InputError(f"--last-frac must be in (0, 1], got {last_frac:g}")
    if last_frac is None and (last_n is None or last_n < 1):
        raise InputError(f"--last-n must be >= 1, got {last_n}")


def _cells(curves: Curves, stats: Callable[[list[Any]], Any]) -> dict[tuple[str, str], Any]:
    """``stats(runs)`` for every (env, label) cell of the selection that has runs."""
    sel = curves.selection
    return {(env, label): stats(runs) for env in sel.env_ids for label in sel.labels
            if (runs := curves.get(label, env))}


def score_table(curves: Curves, *, last_n: int | None = 100, last_frac: float | None = None,
                ci: bool = False, n_boot: int = 10000, seed: int = 0, minimize: bool = False) -> ScoreTable:
    """Final score per run (last N points or last fraction), then mean ± std over seeds per cell."""
    check_score_options(last_n, last_frac)
    sel = curves.selection
    cells = _cells(curves, lambda runs: cv.score_stats(
        [cv.final_score(r.steps, r.values, last_n=last_n, last_frac=last_frac) for r in runs],
        ci=ci, n_boot=n_boot, seed=seed))
    how = (f"mean over the last {last_frac:.0%} of each run's steps" if last_frac is not None
           else f"mean of the last {last_n} logged points")
    return ScoreTable("Final scores", sel.metric_label, how, list(sel.env_ids), sel.labels, cells,
                      ci=ci, minimize=minimize)


def runtime_table(curves: Curves) -> ScoreTable:
    """Wall-clock seconds from each run's first to its last logged point of the metric."""
    sel = curves.selection
    cells = _cells(curves, lambda runs: cv.score_stats([cv.runtime(r.walls) for r in runs]))
    return ScoreTable("Runtime", sel.metric_label, "wall-clock time from the first to the last logged point",
                      list(sel.env_ids), sel.labels, cells, kind="runtime")


def has_values(table: ScoreTable) -> bool:
    return any(c.n > 0 for c in table.cells.values())


# ---------------------------------------------------------------------------- formatting numbers
def _decimals(x: float) -> int:
    ax = abs(x)
    if not math.isfinite(ax) or ax >= 100:
        return 1
    if ax >= 1:
        return 2
    if ax == 0:
        return 2
    return min(6, 2 - int(math.floor(math.log10(ax))))


def fmt_num(x: float, decimals: int) -> str:
    return "nan" if not math.isfinite(x) else f"{x:.{decimals}f}"


def duration(seconds: float) -> str:
    """Seconds -> '45s', '12.5m', '3.21h'."""
    if not math.isfinite(seconds):
        return "nan"
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 3 * 3600:
        return f"{seconds / 60:.1f}m"
    return f"{seconds / 3600:.2f}h"


def cell_parts(table: ScoreTable, st: cv.ScoreStats | None) -> tuple[str, str, str, str]:
    """(mean, '± std' or '', '[lo, hi]' or '', 'n') as text; mean is MISSING when there is no data."""
    if st is None or st.n == 0:
        return MISSING, "", "", ""
    num: Callable[[float], str]
    if table.kind == "runtime":
        num = duration
    else:
        d = _decimals(st.mean)
        num = lambda v: fmt_num(v, d)  # noqa: E731
    std = f"± {num(st.std)}" if st.n > 1 else ""
    ci = f"[{num(st.ci_low)}, {num(st.ci_high)}]" if table.ci and st.n > 1 else ""
    return num(st.mean), std, ci, str(st.n)


def cell_text(table: ScoreTable, st: cv.ScoreStats | None) -> str:
    mean, std, ci, n = cell_parts(table, st)
    if mean == MISSING:
        return MISSING
    return " ".join(p for p in (mean, std, ci, f"({n})") if p)


def caption(table: ScoreTable) -> str:
    stat = "mean ± std over seeds (seed count)" + (", [95% bootstrap CI]" if table.ci else "")
    best = "; best per environment in bold" if table.kind == "score" else ""
    dirn = " (lower is better)" if table.minimize and table.kind == "score" else ""
    return f"{table.title} of {table.metric}: {table.how}; {stat}{best}{dirn}."


# ---------------------------------------------------------------------------- output formats
def to_markdown(table: ScoreTable) -> str:
    lines = [
        "| Environment | " + " | ".join(_md_escape(lbl) for lbl in table.labels) + " |",
        "|---|" + "---:|" * len(table.labels),
    ]
    for env in table.envs:
        best = table.best(env)
        cells = []
        for lbl in table.labels:
            text = cell_text(table, table.cell(env, lbl))
            cells.append(f"**{text}**" if lbl in best else text)
        lines.append(f"| {_md_escape(env)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\n" + caption(table) + "\n" + "".join(f"\n{n}\n" for n in table.notes)


def _md_escape(s: str) -> str:
    return s.replace("|", "\\|")


def records(table: ScoreTable) -> list[dict[str, object]]:
    out = []
    for env in table.envs:
        best = table.best(env)
        for lbl in table.labels:
            st = table.cell(env, lbl)
            if st is None:
                continue
            out.append({
                "env": env, "experiment": lbl, "metric": table.metric, "n_seeds": st.n,
                "mean": _num(st.mean), "std": _num(st.std),
                "ci_low": _num(st.ci_low) if table.ci else None,
                "ci_high": _num(st.ci_high) if table.ci else None,
                "best": lbl in best,
            })
    return out


def _num(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def to_csv(table: ScoreTable) -> str:
    buf = io.StringIO()
    fields = ["env", "experiment", "metric", "n_seeds", "mean", "std", "ci_low", "ci_high", "best"]
    if table.kind == "runtime":
        fields = ["env", "experiment", "metric", "n_seeds", "mean_seconds", "std_seconds"]
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(fields)
    for rec in records(table):
        if table.kind == "runtime":
            rec = {**rec, "mean_seconds": rec["mean"], "std_seconds": rec["std"]}
        writer.writerow(["" if rec[f] is None else (repr(rec[f]) if isinstance(rec[f], float) else rec[f])
                         for f in fields])
    return buf.getvalue()


def to_json(table: ScoreTable) -> str:
    doc = {
        "table": table.kind, "metric": table.metric, "score": table.how,
        "statistic": "mean and sample std (ddof=1) over seeds",
        "confidence": 0.95 if table.ci else None, "minimize": table.minimize,
        "envs": table.envs, "experiments": table.labels, "rows": records(table),
    }
    if table.kind == "runtime":
        doc["unit"] = "seconds"
    return json.dumps(doc, indent=2) + "\n"


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def latex_escape(s: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in s)


def to_latex(table: ScoreTable) -> str:
    """A booktabs tabular (needs \\usepackage{booktabs}); best cells in \\textbf."""
    cols = "l" + "r" * len(table.labels)
    lines = [f"% {caption(table)}", f"\\begin{{tabular}}{{{cols}}}", "\\toprule",
             "Environment & " + " & ".join(latex_escape(lbl) for lbl in table.labels) + " \\\\", "\\midrule"]
    for env in table.envs:
        best = table.best(env)
        cells = []
        for lbl in table.labels:
            mean, std, ci, n = cell_parts(table, table.cell(env, lbl))
            if mean == MISSING:
                cells.append("--")
                continue
            body = mean + (f" \\pm {std[2:]}" if std else "")
            if lbl in best:
                body = f"\\mathbf{{{body}}}"
            text = f"${body}$"
            if ci:
                text += f" {{\\scriptsize {ci}}}"
            cells.append(f"{text} {{\\scriptsize({n})}}")
        lines.append(latex_escape(env) + " & " + " & ".join(cells) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}"]
    return "\n".join(lines) + "\n"


def to_html(table: ScoreTable) -> str:
    head = "".join(f"<th>{html.escape(lbl)}</th>" for lbl in table.labels)
    rows = []
    for env in table.envs:
        best = table.best(env)
        tds = []
        for lbl in table.labels:
            text = html.escape(cell_text(table, table.cell(env, lbl)))
            tds.append(f"<td><b>{text}</b></td>" if lbl in best else f"<td>{text}</td>")
        rows.append(f"<tr><th>{html.escape(env)}</th>{''.join(tds)}</tr>")
    return (f"<table><thead><tr><th>Environment</th>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
            f"<p class='caption'>{html.escape(caption(table))}</p>")


def to_rich(table: ScoreTable) -> Table:
    out = Table(title=f"{table.title}: {table.metric}", caption=caption(table), show_lines=False)
    out.add_column("Environment", style="bold")
    for lbl in table.labels:
        out.add_column(lbl, justify="right")
    for env in table.envs:
        best = table.best(env)
        out.add_row(env, *[
            f"[bold green]{cell_text(table, table.cell(env, lbl))}[/]" if lbl in best
            else cell_text(table, table.cell(env, lbl)) for lbl in table.labels
        ])
    return out


RENDERERS = {"md": to_markdown, "csv": to_csv, "latex": to_latex, "json": to_json, "html": to_html}
SUFFIXES = {"md": ".md", "csv": ".csv", "latex": ".tex", "json": ".json", "html": ".html"}


def render_table(table: ScoreTable, fmt: str) -> str:
    if fmt not in RENDERERS:
        raise InputError(f"--format must be one of rich, {', '.join(TABLE_FORMATS)}, got {fmt!r}")
    return RENDERERS[fmt](table)


def write_text(path: Path, text: str) -> Path:
    """Write a text file, creating parents; OSError becomes one InputError line naming the path."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from exc
    return path


def write_table(table: ScoreTable, fmt: str, path: Path) -> Path:
    return write_text(path, render_table(table, fmt))


__all__ = [
    "TABLE_FORMATS", "ScoreTable", "caption", "check_score_options", "cell_text", "duration", "has_values",
    "render_table",
    "runtime_table", "score_table", "to_csv", "to_html", "to_json", "to_latex", "to_markdown", "to_rich",
    "write_table", "write_text",
]

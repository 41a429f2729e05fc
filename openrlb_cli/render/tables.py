"""Final-score and runtime tables: environments × experiments, to the terminal and to files.

Why here: the numbers come from `analysis.curves` (final score per run, mean ± std over seeds,
bootstrap CI); this module only arranges them into one `ScoreTable` and writes that table as rich,
Markdown, CSV, LaTeX, JSON or HTML, so every format shows the same numbers.

Rows are environments and columns experiments (papers' usual layout; 57 Atari games still fit).
A cell is `mean ± std (n)`: std over seeds (sample by default, population with the rule's `std`)
and the seed count, optionally followed by the 95% bootstrap CI `[low, high]`. How a run becomes a
score is an `analysis.score_rules.ScoreRule`; every format states it, its parameter, the step budget
and the std convention (caption, JSON `score_rule`, CSV columns). A runtime table uses one unit
(s, min or h, from its largest cell) for every cell. The best mean per environment (highest, or lowest with
`minimize`; ties all marked) is bold in Markdown, LaTeX, HTML and the terminal. CSV and JSON are
long ("tidy") with full-precision numbers and a `best` flag.
"""

from __future__ import annotations

import csv
import html
import io
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.table import Table

from openrlb_cli.analysis import curves as cv
from openrlb_cli.analysis import score_rules as sr
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
    rule: sr.ScoreRule | None = None  # None for runtime tables
    steps: dict[tuple[str, str], float] = field(default_factory=dict)  # max-mean: (env, label) -> step
    warnings: list[str] = field(default_factory=list)
    unit: tuple[str, float] = ("s", 1.0)  # runtime tables: one unit for every cell

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
        raise InputError(f"last_frac must be in (0, 1], got {last_frac:g}", option="last_frac")
    if last_frac is None and (last_n is None or last_n < 1):
        raise InputError(f"last_n must be >= 1, got {last_n}", option="last_n")


def legacy_rule(last_n: int | None = 100, last_frac: float | None = None, budget: float | None = None,
                std: str = "sample") -> sr.ScoreRule:
    """The rule the older ``last_n``/``last_frac`` arguments meant."""
    if last_frac is not None:
        return sr.ScoreRule("last-frac", last_frac, budget, std)
    return sr.ScoreRule("last-n", last_n, budget, std)


def _cells(curves: Curves, stats: Callable[[list[Any]], Any]) -> dict[tuple[str, str], Any]:
    """``stats(runs)`` for every (env, label) cell of the selection that has runs."""
    sel = curves.selection
    return {(env, label): stats(runs) for env in sel.env_ids for label in sel.labels
            if (runs := curves.get(label, env))}


def rule_scores(curves: Curves, rule: sr.ScoreRule) -> tuple[dict[tuple[str, str], sr.CellScores], list[str]]:
    """Per-run scores of every (env, label) cell under ``rule`` and the rule's warnings (naming runs).

    A run that cannot be scored (``at-step`` outside its range) is an InputError naming it.
    """
    long_runs: list[str] = []
    short_runs: list[str] = []

    def one(runs: list[Any]) -> sr.CellScores:
        names = [r.run.uid for r in runs]
        try:
            cell = sr.cell_scores(rule, [(r.steps, r.values) for r in runs], names, [r.last_step for r in runs])
        except ValueError as exc:
            raise InputError(f"score rule {rule.rule}: {exc}") from exc
        long_runs.extend(cell.long_runs)
        short_runs.extend(cell.short_runs)
        return cell

    cells = _cells(curves, one)
    return cells, sr.warning_lines(rule, long_runs, short_runs)


def score_table(curves: Curves, *, last_n: int | None = 100, last_frac: float | None = None,
                ci: bool = False, n_boot: int = 10000, seed: int = 0, minimize: bool = False,
                rule: sr.ScoreRule | None = None) -> ScoreTable:
    """A score per run under ``rule`` (default: from ``last_n``/``last_frac``), then mean ± std over
    seeds per cell, with the std convention of the rule."""
    if rule is None:
        check_score_options(last_n, last_frac)
        rule = legacy_rule(last_n, last_frac)
    sel = curves.selection
    scored, warnings = rule_scores(curves, rule)
    cells = {key: cv.score_stats(c.scores, ci=ci, n_boot=n_boot, seed=seed, ddof=rule.ddof)
             for key, c in scored.items()}
    steps = {key: c.step for key, c in scored.items() if c.step is not None}
    return ScoreTable("Final scores", sel.metric_label, rule.describe(), list(sel.env_ids), sel.labels, cells,
                      ci=ci, minimize=minimize, rule=rule, steps=steps, warnings=warnings)


RUNTIME_UNITS = (("s", 1.0), ("min", 60.0), ("h", 3600.0))


def runtime_unit(seconds: Sequence[float]) -> tuple[str, float]:
    """One unit for a whole runtime table, from its largest finite value: s up to 2 min, min up to
    3 h, else h."""
    finite = [abs(x) for x in seconds if math.isfinite(x)]
    top = max(finite, default=0.0)
    if top < 120:
        return RUNTIME_UNITS[0]
    if top < 3 * 3600:
        return RUNTIME_UNITS[1]
    return RUNTIME_UNITS[2]


def runtime_table(curves: Curves) -> ScoreTable:
    """Wall-clock seconds from each run's first to its last logged point of the metric."""
    sel = curves.selection
    cells = _cells(curves, lambda runs: cv.score_stats([cv.runtime(r.walls) for r in runs]))
    unit = runtime_unit([v for c in cells.values() for v in (c.mean, c.std)])
    return ScoreTable("Runtime", sel.metric_label, "wall-clock time from the first to the last logged point",
                      list(sel.env_ids), sel.labels, cells, kind="runtime", unit=unit)


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
        div = table.unit[1]
        places = {"s": 0, "min": 1, "h": 2}.get(table.unit[0], 1)
        num = lambda v: fmt_num(v / div, places)  # noqa: E731
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
    std = table.rule.std_text() if table.rule is not None else "sample std (ddof=1)"
    stat = f"mean ± {std} over seeds (seed count)" + (", [95% bootstrap CI]" if table.ci else "")
    if table.kind == "runtime":
        stat += f", in {'seconds' if table.unit[0] == 's' else 'minutes' if table.unit[0] == 'min' else 'hours'}"
    best = "; best per environment in bold" if table.kind == "score" else ""
    dirn = " (lower is better)" if table.minimize and table.kind == "score" else ""
    rule = f"score rule {table.rule.rule}: " if table.rule is not None else ""
    at = ""
    if table.steps:
        at = "; the step of each cell's maximum is in the JSON and CSV outputs"
    return f"{table.title} of {table.metric}: {rule}{table.how}; {stat}{best}{dirn}{at}."


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
    rule = table.rule
    for env in table.envs:
        best = table.best(env)
        for lbl in table.labels:
            st = table.cell(env, lbl)
            if st is None:
                continue
            rec: dict[str, object] = {
                "env": env, "experiment": lbl, "metric": table.metric, "n_seeds": st.n,
                "mean": _num(st.mean), "std": _num(st.std),
                "ci_low": _num(st.ci_low) if table.ci else None,
                "ci_high": _num(st.ci_high) if table.ci else None,
                "best": lbl in best,
            }
            if rule is not None:
                rec.update({"score_rule": rule.rule, "score_param": rule.param, "max_steps": rule.budget,
                            "std_ddof": rule.ddof, "score_step": table.steps.get((env, lbl))})
            out.append(rec)
    return out


def _num(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def to_csv(table: ScoreTable) -> str:
    buf = io.StringIO()
    fields = ["env", "experiment", "metric", "n_seeds", "mean", "std", "ci_low", "ci_high", "best",
              "score_rule", "score_param", "max_steps", "std_ddof", "score_step"]
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
    std = table.rule.std_text() if table.rule is not None else "sample std (ddof=1)"
    doc = {
        "table": table.kind, "metric": table.metric, "score": table.how,
        "score_rule": table.rule.record() if table.rule is not None else None,
        "statistic": f"mean and {std} over seeds",
        "confidence": 0.95 if table.ci else None, "minimize": table.minimize,
        "envs": table.envs, "experiments": table.labels, "rows": records(table),
        "warnings": table.warnings,
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
        raise InputError(f"table format must be one of rich, {', '.join(TABLE_FORMATS)}, got {fmt!r}",
                         option="table_format")
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

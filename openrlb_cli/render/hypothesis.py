"""`openrlb compare` output: one row per environment with the test, effect sizes and seeds needed.

Why here: the numbers come from `analysis.hypothesis` (per-env tests, Holm over envs) on per-run scores
from `analysis.score_rules`; this module only lays them out as a terminal table, Markdown, CSV or JSON,
each stating the test, the correction, the score rule and the levels used.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field

from openrlb_cli.analysis import hypothesis as ht
from openrlb_cli.analysis import score_rules as sr

TEST_NAMES = {"welch": "Welch's t-test", "mannwhitney": "Mann–Whitney U test"}
FORMATS = ("md", "csv", "json")


@dataclass
class CompareReport:
    a: str
    b: str
    metric: str
    rule: sr.ScoreRule
    test: str
    alpha: float
    power: float
    rows: list[ht.Comparison]
    warnings: list[str] = field(default_factory=list)


def _num(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _p(p: float) -> str:
    if not math.isfinite(p):
        return "n/a"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _g(x: float) -> str:
    return "n/a" if not math.isfinite(x) else f"{x:.4g}" if abs(x) >= 1e4 or abs(x) < 1e-3 else f"{x:.2f}"


def _mean(x: float) -> str:
    if not math.isfinite(x):
        return "n/a"
    return f"{x:.1f}" if abs(x) >= 100 else f"{x:.3g}" if abs(x) < 0.1 else f"{x:.2f}"


def caption(r: CompareReport) -> str:
    return (f"{r.a} vs {r.b} on {r.metric}: {TEST_NAMES[r.test]} per environment (two-sided), p-values "
            f"Holm–Bonferroni-corrected over the {len(r.rows)} environments, significant at alpha = {r.alpha:g}; "
            f"effect sizes Hedges' g (> 0: {r.a} higher) and P({r.a} > {r.b}) over pairs of runs (ties ½); "
            f"seeds needed: runs per experiment for a two-sided t-test to detect |g| with power {r.power:g} at "
            f"alpha {r.alpha:g}. Run score: {r.rule.describe()}.")


HEADER = ["Environment", "n", "mean A", "mean B", "p", "p (Holm)", "sig.", "Hedges' g", "P(A > B)", "seeds needed"]


def rows_text(r: CompareReport) -> list[list[str]]:
    out = []
    for c in r.rows:
        out.append([c.env, f"{c.n_a}/{c.n_b}", _mean(c.mean_a), _mean(c.mean_b), _p(c.p_value), _p(c.p_holm),
                    "yes" if c.significant(r.alpha) else "no", _g(c.hedges_g),
                    "n/a" if not math.isfinite(c.common_language) else f"{c.common_language:.2f}",
                    "n/a" if c.seeds_needed is None else str(c.seeds_needed)])
    return out


def _header(r: CompareReport) -> list[str]:
    return [h.replace("A", r.a).replace("B", r.b) if h.startswith(("mean", "P(")) else h for h in HEADER]


def to_markdown(r: CompareReport) -> str:
    head = _header(r)
    lines = ["| " + " | ".join(h.replace("|", "\\|") for h in head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows_text(r)]
    return "\n".join(lines) + "\n\n" + caption(r) + "\n"


def records(r: CompareReport) -> list[dict[str, object]]:
    return [{"env": c.env, "n_a": c.n_a, "n_b": c.n_b, "mean_a": _num(c.mean_a), "mean_b": _num(c.mean_b),
             "statistic": _num(c.statistic), "p_value": _num(c.p_value), "p_holm": _num(c.p_holm),
             "significant": c.significant(r.alpha), "hedges_g": _num(c.hedges_g),
             "common_language": _num(c.common_language), "seeds_needed": c.seeds_needed, "method": c.method}
            for c in r.rows]


def to_csv(r: CompareReport) -> str:
    buf = io.StringIO()
    recs = records(r)
    fields = ["a", "b", "test", *recs[0].keys()] if recs else ["a", "b", "test"]
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(fields)
    for rec in recs:
        full = {"a": r.a, "b": r.b, "test": r.test, **rec}
        writer.writerow(["" if full[f] is None else repr(full[f]) if isinstance(full[f], float) else full[f]
                         for f in fields])
    return buf.getvalue()


def to_json(r: CompareReport) -> str:
    doc = {"a": r.a, "b": r.b, "metric": r.metric, "test": r.test, "alternative": "two-sided",
           "correction": "holm", "alpha": r.alpha, "power": r.power, "score_rule": r.rule.record(),
           "effect_sizes": {"hedges_g": "(mean a - mean b) / pooled sample std * (1 - 3 / (4 (n_a + n_b) - 9))",
                            "common_language": "P(a > b) + 0.5 P(a = b) over pairs of runs"},
           "rows": records(r), "warnings": r.warnings, "caption": caption(r)}
    return json.dumps(doc, indent=2, allow_nan=False) + "\n"


def to_rich(r: CompareReport):  # -> rich.table.Table
    from rich.table import Table

    table = Table(title=f"{r.a} vs {r.b}: {TEST_NAMES[r.test]}", caption=caption(r))
    for k, h in enumerate(_header(r)):
        table.add_column(h, justify="left" if k == 0 else "right", style="bold" if k == 0 else None)
    for row in rows_text(r):
        table.add_row(*row)
    return table


RENDERERS = {"md": to_markdown, "csv": to_csv, "json": to_json}
SUFFIXES = {".md": "md", ".csv": "csv", ".json": "json"}

__all__ = ["FORMATS", "CompareReport", "caption", "records", "to_csv", "to_json", "to_markdown", "to_rich"]

"""`openrlb aggregate` as a library: rliable-style aggregate metrics for a selection of runs.

``compute`` (in ``compute``) turns loaded curves into an ``AggregateResult``: a score per run,
normalized per task, IQM/median/mean/optimality gap with stratified-bootstrap intervals,
performance profiles, probability of improvement for every pair and sample-efficiency curves.
``outputs`` writes and shows that one result (JSON, CSV, figures, terminal table, report
section), so every output carries the same numbers. The statistics themselves live in
``openrlb_cli.analysis``; this package decides the policies (see ``compute``'s docstring) and
turns bad input into one-line errors.
"""

from openrlb_cli.aggregate.compute import (
    ALLOW_HINT,
    METRIC_TITLES,
    AggregateOptions,
    AggregateResult,
    check_options,
    compute,
    load,
    lower_is_better,
    metric_title,
    score_description,
    stream,
)
from openrlb_cli.aggregate.outputs import (
    caption,
    data_files,
    document,
    improvement_records,
    output_namer,
    records,
    register_report_section,
    report_provider,
    to_markdown,
    to_rich,
    write_outputs,
)

__all__ = [
    "ALLOW_HINT", "METRIC_TITLES", "AggregateOptions", "AggregateResult", "caption", "check_options", "compute",
    "data_files", "document", "improvement_records", "load", "lower_is_better", "metric_title", "output_namer",
    "records", "register_report_section", "report_provider", "score_description", "stream", "to_markdown",
    "to_rich", "write_outputs",
]

"""Generic tables: CSV and JSON lines, long and wide, and the column roles they share."""

from openrlb_cli.ingest.formats import FormatSpec

# Ranked last: a `.csv` or `.jsonl` file is a generic table only when no specific reader claims it.
FORMATS = (
    FormatSpec("csv", "openrlb_cli.ingest.tabular.readers:CSV", detect_rank=90, preempts="single-run"),
    FormatSpec("jsonl", "openrlb_cli.ingest.tabular.readers:JSONL", detect_rank=91, preempts="single-run"),
)

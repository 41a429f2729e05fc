"""TensorBoard event files: record framing, CRC32C, protobuf decoding, templates, batch reader."""

from openrlb_cli.ingest.formats import FormatSpec

FORMATS = (
    FormatSpec("tensorboard", "openrlb_cli.ingest.tensorboard.reader:TENSORBOARD", detect_rank=10,
               per_directory=True, key_rank=2, preempts="always", step_axis="step"),
)

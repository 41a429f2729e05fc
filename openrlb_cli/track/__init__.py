"""`openrlb track`: run a training command as a tracked, reproducible experiment.

Why a separate package: tracking wraps a user's command without changing it, so it needs process
control (runner), a record of how the run was produced (provenance), guesses about what the
command does (inference); secrets are scrubbed before anything reaches the store (`openrlb_cli.redact`,
shared with ingest).
Its points still come from the ordinary ingest pipeline, tailing the log directory the command
writes, so a tracked run is the same run `openrlb ingest` would create for that directory.
"""

"""One exception type for every failure a user should see as a single clear line.

The CLI layer catches `OpenrlbError` and prints `error: <message>`; anything else is a bug and
is reported the same way but with a hint to rerun with `--debug` for the traceback.

Messages speak the library's words (`last_n must be >= 1`), never command-line flags, because the
same errors reach Python callers (`openrlb_cli.api`) and the viewer. An error about an option names
it in `option` (library names such as `"last_n"`, or a tuple of alternatives); the CLI turns those
into flags and appends them to the line (`... (--last-n)`).
"""

from __future__ import annotations


class OpenrlbError(Exception):
    """An expected failure with a message fit for the user. `exit_code` is what the CLI returns."""

    exit_code = 1

    def __init__(self, message: str, exit_code: int | None = None, *,
                 option: str | tuple[str, ...] | None = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code
        # Library names of the options the message is about (the CLI shows their flags).
        self.options: tuple[str, ...] = (option,) if isinstance(option, str) else tuple(option or ())


class StoreError(OpenrlbError):
    """The store cannot be opened or used (newer schema, locked, corrupt, disk full)."""


class InputError(OpenrlbError):
    """A log file, query or option that cannot be read; names what and why."""


class SelectionError(OpenrlbError):
    """A selection (experiment spec, env id, metric) that matches nothing."""

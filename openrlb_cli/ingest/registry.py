"""Format names -> readers, and how a file's or a folder's format is recognised.

The formats are not listed here: each format package under `openrlb_cli/ingest/` declares its own in
its `__init__.py` (``FORMATS = (FormatSpec(...), ...)``, see `formats.FormatSpec`), and `specs()` finds
them by walking the packages on `openrlb_cli.ingest.__path__`. Adding a format is one new package. The
hook for formats kept elsewhere (a test's toy format, a plug-in): append their parent directory to
`openrlb_cli.ingest.__path__` and call `refresh()`.

Readers and folder tests are imported on first use, one at a time: commands that never ingest do not
pay for pandas, and neither does a directory of event files (several readers import pandas, ~0.2 s of
a 2 s ingest). Finding the formats imports only the packages' `__init__` files.

`FORMATS`, `DETECT_ORDER`, `FOLDER_ORDER`, `KEY_PRIORITY` and `DIRECTORY_FORMATS` are views of the
declarations (tuples computed when read); the pipeline asks `spec(name)` for the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any, cast

from openrlb_cli.errors import InputError
from openrlb_cli.ingest.base import Reader
from openrlb_cli.ingest.formats import FormatSpec, load_attr


@cache
def specs() -> tuple[FormatSpec, ...]:
    """Every format's declaration, by name. Duplicate names are a programming error."""
    import pkgutil
    from importlib import import_module

    import openrlb_cli.ingest as ingest

    found: dict[str, FormatSpec] = {}
    for info in sorted(pkgutil.iter_modules(ingest.__path__), key=lambda m: m.name):
        if not info.ispkg:
            continue
        for spec in getattr(import_module(f"{ingest.__name__}.{info.name}"), "FORMATS", ()):
            if not isinstance(spec, FormatSpec):
                raise TypeError(f"{ingest.__name__}.{info.name}.FORMATS holds {spec!r}, not a FormatSpec")
            if spec.name in found:
                raise ValueError(f"format {spec.name!r} is declared twice ({info.name} and before)")
            found[spec.name] = spec
    return tuple(found[name] for name in sorted(found))


@cache
def _by_name() -> dict[str, FormatSpec]:
    return {s.name: s for s in specs()}


def spec(name: str) -> FormatSpec:
    """The declaration of format `name`; an unknown name is an `InputError` listing the known ones."""
    found = _by_name().get(name)
    if found is None:
        raise InputError(f"unknown format {name!r}; known: {', '.join(names())}")
    return found


def refresh() -> None:
    """Find the formats again (after a directory was added to `openrlb_cli.ingest.__path__`)."""
    for cached in (specs, _by_name, _load, _hook, detect_order, folder_order, key_priority):
        cached.cache_clear()


def names() -> tuple[str, ...]:
    return tuple(s.name for s in specs())


def _ranked(rank: Callable[[FormatSpec], float | None]) -> tuple[str, ...]:
    """Names of the formats with a rank, lowest first (ties by name, so the order never depends on discovery)."""
    ranked = [(r, s.name) for s in specs() if (r := rank(s)) is not None]
    return tuple(name for _, name in sorted(ranked))


@cache
def _load(name: str) -> Reader:
    ref = spec(name).reader
    found = cast(Reader, load_attr(ref))
    if found.name != name:
        raise AssertionError(f"reader {ref} is named {found.name!r}, not {name!r}")
    return found


@cache
def _hook(ref: str) -> Callable[[Path], Any]:
    return cast(Callable[[Path], Any], load_attr(ref))


def readers() -> dict[str, Reader]:
    """Every reader by name (imports them all)."""
    return {name: _load(name) for name in names()}


def reader(name: str) -> Reader:
    spec(name)  # an unknown name is one clear error
    return _load(name)


def detect(path: Path) -> str | None:
    """The first format in `DETECT_ORDER` whose reader claims the file."""
    for name in detect_order():
        try:
            if _load(name).detect(path):
                return name
        except OSError:
            return None
    return None


def directory_format(path: Path) -> str | None:
    """The folder format `path` is a run folder of, if any (checked before its files, in `FOLDER_ORDER`).
    Formats sharing a folder test (W&B run folders with and without logs) run it once."""
    passed: dict[str, bool] = {}
    for name in folder_order():
        s = spec(name)
        test = s.folder_test
        if test is None:
            continue
        if test not in passed:
            passed[test] = bool(_hook(test)(path))
        if passed[test] and (s.folder_units is None or _hook(s.folder_units)(path)):
            return name
    return None


def directory_unit_paths(fmt: str, path: Path) -> list[Path]:
    """What the units of a run folder found by `directory_format` read: the folder, or the files its
    format names (a W&B run folder's `.wandb` logs)."""
    units = spec(fmt).folder_units
    return [path] if units is None else list(_hook(units)(path))


# ---------------------------------------------------------------------------- views of the declarations
@cache
def detect_order() -> tuple[str, ...]:
    """Formats tried on every file, in order; the generic tabular readers come last."""
    return _ranked(lambda s: s.detect_rank)


@cache
def folder_order() -> tuple[str, ...]:
    """Folder tests, in order: a folder is a run of the first format whose test accepts it."""
    return _ranked(lambda s: s.folder_rank if s.folder_test else None)


@cache
def key_priority() -> tuple[str, ...]:
    """When one run folder holds several formats carrying the same keys (SB3 writes progress.csv,
    progress.json and an event file side by side), a key is taken from the first format here."""
    return _ranked(lambda s: s.key_rank)


_VIEWS: dict[str, Callable[[], tuple[str, ...]]] = {
    "FORMATS": names,
    "DETECT_ORDER": detect_order,
    "FOLDER_ORDER": folder_order,
    "KEY_PRIORITY": key_priority,
    # formats whose unit is a whole folder (one run per folder; with one forced, files are not read)
    "DIRECTORY_FORMATS": lambda: tuple(n for n in folder_order() if spec(n).is_folder),
}


def __getattr__(name: str) -> Any:
    """The views above as module constants (`registry.DETECT_ORDER`), computed from the declarations on
    first access: importing the registry finds no formats."""
    if name in _VIEWS:
        return _VIEWS[name]()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

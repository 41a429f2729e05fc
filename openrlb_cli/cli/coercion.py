"""Command-line values converted without pydantic for the plain types openrlb's options use.

typer >= 0.29 converts every parameter through a pydantic `TypeAdapter`, and importing pydantic
(with its plugin loader) costs ~70 ms: a third of `openrlb info`'s start-up, for turning `"3"` into
`3`. Options typed `str`, `int`, `float`, `bool` and `Path` (alone, optional, or in a list or tuple) are
converted here instead; everything else — enums, literals, ranges, custom parsers, datetimes, files
— and any value this module is not sure about goes to typer's own conversion, which then gives the
result and the error message typer would have given. So a value is accepted here only when it has
one obvious reading (a plain ASCII integer or decimal literal; any string for `str`; any string for
`Path`, whose existence and kind checks are typer's own `coerce_cli_path`), and
`tests/test_cli_coercion.py` checks those readings against typer's pydantic path on every
parameter of every command.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args, get_origin

from typer import _coercion, _param_types

_INT = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


class _Unsure(Exception):
    """The value has no single obvious reading here: typer converts it."""


def _convert_int(value: Any) -> int:
    if isinstance(value, bool):
        raise _Unsure
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _INT.fullmatch(value) and len(value) < 20:
        return int(value)
    raise _Unsure


def _convert_float(value: Any) -> float:
    if isinstance(value, bool):
        raise _Unsure
    if isinstance(value, float):
        return value
    if isinstance(value, int):
        return float(value)
    if isinstance(value, str) and _FLOAT.fullmatch(value):
        return float(value)
    raise _Unsure


def _convert_str(value: Any) -> str:
    if isinstance(value, str):
        return value
    raise _Unsure


def _convert_bool(value: Any) -> bool:
    if isinstance(value, bool):  # flags, and --help's unset value (None) never gets here
        return value
    raise _Unsure  # "yes", "0", ...: typer's reading


_LEAVES = {int: _convert_int, float: _convert_float, str: _convert_str, bool: _convert_bool}


def _plain_path(annotation: Any, info: Any) -> bool:
    """A `Path` option that typer would hand to `coerce_cli_path` with no other conversion."""
    return isinstance(annotation, type) and issubclass(annotation, Path) and info.path_type is None


def _plain(annotation: Any, info: Any) -> bool:
    """Whether values of this annotation can be converted here (the rest is typer's)."""
    if info.parser is not None or info.min is not None or info.max is not None:
        return False
    origin = get_origin(annotation)
    if origin in (list, tuple):
        args = [a for a in get_args(annotation) if a is not Ellipsis]
        return bool(args) and all(_plain(a, info) for a in args)
    if origin is not None:
        return False
    return annotation in _LEAVES or _plain_path(annotation, info)


@dataclass(frozen=True)
class PlainRuntimeParam(_coercion.RuntimeParam):
    """typer's runtime conversion contract, for plain annotations; typer's own one as the fallback."""

    def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
        try:
            return self._convert(self.annotation, value, param, ctx)
        except _Unsure:
            descriptor = _coercion.resolve_type_descriptor(self.annotation, self.parameter_info)
            return _coercion.build_runtime_param(descriptor)._coerce_value(value, param=param, ctx=ctx)

    def _convert(self, annotation: Any, value: Any, param: Any, ctx: Any) -> Any:
        origin = get_origin(annotation)
        if origin is list:
            (element,) = get_args(annotation)
            items = value if isinstance(value, (list, tuple)) else [value]
            return [self._convert(element, item, param, ctx) for item in items]
        if origin is tuple:
            elements = get_args(annotation)
            if not isinstance(value, (list, tuple)) or len(value) != len(elements) or Ellipsis in elements:
                raise _Unsure
            return tuple(self._convert(e, v, param, ctx) for e, v in zip(elements, value, strict=True))
        if _plain_path(annotation, self.parameter_info):
            if not isinstance(value, (str, Path)):
                raise _Unsure
            path = value if isinstance(value, annotation) else annotation(value)
            return _param_types.coerce_cli_path(path, self.parameter_info, path_type=annotation,
                                                param=param, ctx=ctx)
        return _LEAVES[annotation](value)


def plain_runtime_param(descriptor: Any) -> PlainRuntimeParam | None:
    """The pydantic-free conversion for this parameter's type descriptor, or None (typer's then)."""
    if descriptor is None or descriptor.file_annotation is not None:
        return None
    if not _plain(descriptor.annotation, descriptor.parameter_info):
        return None
    return PlainRuntimeParam(annotation=descriptor.annotation, parameter_info=descriptor.parameter_info)

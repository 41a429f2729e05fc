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

All of this rests on typer's private conversion modules (`typer._coercion`, `typer._param_types`,
typer >= 0.29), so it is a fast path behind a feature check: `FAST_PATH` is true only when those
modules exist with the names and fields used here. Otherwise (older typer, which converts with
click's own types and never imports pydantic; or a later typer that changed them)
`plain_runtime_param` returns None and every value goes through typer's public behaviour. A value
whose fast conversion meets an unexpected typer API (TypeError, AttributeError) is also handed to
typer.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any, get_args, get_origin


def _private_conversion() -> tuple[Any, Any] | None:
    """typer's private conversion modules when they have what the fast path uses, else None."""
    try:
        from typer import _coercion, _param_types
    except ImportError:  # typer < 0.29: click's types convert, pydantic is never imported
        return None
    runtime = getattr(_coercion, "RuntimeParam", None)
    needed = (getattr(_coercion, "resolve_type_descriptor", None), getattr(_coercion, "build_runtime_param", None),
              getattr(_param_types, "coerce_cli_path", None), getattr(runtime, "_coerce_value", None))
    if runtime is None or not all(callable(f) for f in needed) or not dataclasses.is_dataclass(runtime):
        return None
    if {f.name for f in dataclasses.fields(runtime)} != {"parameter_info", "annotation"}:
        return None
    return _coercion, _param_types


_PRIVATE = _private_conversion()
FAST_PATH = _PRIVATE is not None

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


def _plain_runtime_param_class(coercion: Any, param_types: Any) -> type:
    """A subclass of typer's `RuntimeParam` (only defined when typer has one)."""

    @dataclasses.dataclass(frozen=True)
    class PlainRuntimeParam(coercion.RuntimeParam):
        """typer's runtime conversion contract, for plain annotations; typer's own one as the fallback."""

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            try:
                return self._convert(self.annotation, value, param, ctx)
            except (_Unsure, TypeError, AttributeError):  # not obvious here, or typer's API moved
                descriptor = coercion.resolve_type_descriptor(self.annotation, self.parameter_info)
                return coercion.build_runtime_param(descriptor)._coerce_value(value, param=param, ctx=ctx)

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
                return param_types.coerce_cli_path(path, self.parameter_info, path_type=annotation,
                                                    param=param, ctx=ctx)
            return _LEAVES[annotation](value)

    return PlainRuntimeParam


PlainRuntimeParam: Any = _plain_runtime_param_class(*_PRIVATE) if _PRIVATE is not None else None


def plain_runtime_param(descriptor: Any) -> Any:
    """The pydantic-free conversion for this parameter's type descriptor, or None (typer's then)."""
    if PlainRuntimeParam is None or descriptor is None:
        return None
    try:
        if descriptor.file_annotation is not None or not _plain(descriptor.annotation, descriptor.parameter_info):
            return None
        return PlainRuntimeParam(annotation=descriptor.annotation, parameter_info=descriptor.parameter_info)
    except (AttributeError, TypeError):  # a typer whose descriptors look different: its own conversion
        return None

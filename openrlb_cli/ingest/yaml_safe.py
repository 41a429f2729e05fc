"""Read the YAML that RL logs carry (MLflow meta.yaml, RL Zoo args.yml/config.yml) with PyYAML, safely.

RL Zoo writes its files with `yaml.dump` of an `OrderedDict`, so they start with
`!!python/object/apply:collections.OrderedDict`: `yaml.safe_load` refuses that tag and `yaml.unsafe_load`
would import and call whatever a tag names. `_Loader` is a `SafeLoader` that knows the two python tags
these files use and builds plain data from them (an OrderedDict's [key, value] pairs become a dict,
`!!python/tuple` a list, JSON-friendly for the store's config column). Any other `!!python/...` tag is read
as the plain node under it, never imported or called: metadata is best effort, code never runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import yaml

from openrlb_cli.errors import InputError

_Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser when PyYAML was built with it


class _Loader(_Base):  # type: ignore[misc, valid-type]
    """SafeLoader plus data-only constructors for the python tags RL Zoo writes."""


def _plain(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    assert isinstance(node, yaml.ScalarNode)  # the composer makes only scalar, sequence and mapping nodes
    return loader.construct_scalar(node)


def _ordered_dict(loader: yaml.SafeLoader, node: yaml.Node) -> dict[Any, Any]:
    # `apply` nodes are a sequence of call arguments, or a mapping with `args:` (PyYAML's long form)
    value = _plain(loader, node)
    args = value.get("args", []) if isinstance(value, dict) else value
    if not isinstance(args, list) or not args:
        return {}
    pairs = args[0]
    if isinstance(pairs, dict):
        return pairs
    if not isinstance(pairs, list) or not all(isinstance(p, list) and len(p) == 2 for p in pairs):
        raise yaml.constructor.ConstructorError(None, None, "OrderedDict arguments are not [key, value] pairs",
                                                node.start_mark)
    return {k: v for k, v in pairs}


def _tuple(loader: yaml.SafeLoader, node: yaml.Node) -> list[Any]:
    # construct_sequence raises ConstructorError itself when the node is not a sequence
    return list(loader.construct_sequence(cast(yaml.SequenceNode, node), deep=True))


def _other_python_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    return _plain(loader, node)


_Loader.add_constructor("tag:yaml.org,2002:python/object/apply:collections.OrderedDict", _ordered_dict)
_Loader.add_constructor("tag:yaml.org,2002:python/tuple", _tuple)
_Loader.add_multi_constructor("tag:yaml.org,2002:python/", _other_python_tag)


def loads(text: str, source: str = "<yaml>") -> Any:
    """One YAML document as plain data (dict/list/str/int/float/bool/None); `InputError` names the line."""
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise InputError(f"{source}:{where}: invalid YAML: {problem}") from None


def load_path(path: Path) -> Any:
    """`loads` of a UTF-8 file; unreadable or non-UTF-8 files are an `InputError` naming the file."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror}") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text") from None
    return loads(text, str(path))

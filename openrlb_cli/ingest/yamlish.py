"""A tiny, safe reader for the plain YAML that RL logs carry (MLflow meta.yaml, RL Zoo args/config.yml).

PyYAML is not a dependency, and the RL Zoo files start with `!!python/object/apply:collections.OrderedDict`,
which `yaml.safe_load` refuses and `yaml.unsafe_load` would execute. This reader only builds data:
tags never run code. `!!python/object/apply:collections.OrderedDict` over a list of [key, value]
pairs becomes a dict, `!!python/tuple` a list, and any other tag is ignored (its node is kept as
plain data). Scalars resolve like PyYAML's YAML 1.1 resolver (null/bool/int/float need the same
spelling: `1e5` stays a string, `1.0e+5` is a float).

Supported: block mappings and sequences (including compact `- - - key` nesting and `- key: value`
items), multi-line plain scalars, single/double-quoted scalars, `|`/`>` block scalars, flow
`[...]`/`{...}` collections, comments, a leading `---`. Not supported: anchors/aliases, complex keys.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from openrlb_cli.errors import InputError

_NULL = {"", "~", "null", "Null", "NULL"}
_TRUE = {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"}
_FALSE = {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF"}
_INT = re.compile(r"^[-+]?(?:0|[1-9][0-9_]*)$")
_HEX = re.compile(r"^[-+]?0x[0-9a-fA-F_]+$")
_FLOAT = re.compile(r"^[-+]?(?:[0-9][0-9_]*)?\.[0-9_]*(?:[eE][-+][0-9]+)?$")
_SPECIAL = {".inf": float("inf"), ".Inf": float("inf"), ".INF": float("inf"), "+.inf": float("inf"),
            "-.inf": float("-inf"), "-.Inf": float("-inf"), "-.INF": float("-inf"),
            ".nan": float("nan"), ".NaN": float("nan"), ".NAN": float("nan")}
_KEY = re.compile(r"""^("(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^\s#'"\[\]{},&*!|>%@`-][^#]*?|-[^\s][^#]*?)\s*:(?:\s+|$)""")


def resolve(text: str) -> Any:
    """A plain scalar as PyYAML's resolver would type it."""
    if text in _NULL:
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    if _INT.match(text):
        return int(text.replace("_", ""))
    if _HEX.match(text):
        return int(text.replace("_", ""), 16)
    if text in _SPECIAL:
        return _SPECIAL[text]
    if _FLOAT.match(text) and text not in (".", "-.", "+."):
        return float(text.replace("_", ""))
    return text


def _strip_comment(s: str) -> str:
    quote = ""
    for i, ch in enumerate(s):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"" and (i == 0 or s[i - 1] in " [{,:"):
            quote = ch
        elif ch == "#" and (i == 0 or s[i - 1] in " \t"):
            return s[:i].rstrip()
    return s.rstrip()


def _apply_tag(tag: str | None, value: Any) -> Any:
    if not tag:
        return value
    if tag.endswith("collections.OrderedDict") or tag == "!!omap":
        pairs = value
        if isinstance(value, dict):
            pairs = value.get("dictitems") or (value.get("args") or [[]])[0]
        elif isinstance(value, list) and len(value) == 1 and isinstance(value[0], list):
            pairs = value[0]
        if isinstance(pairs, dict):
            return pairs
        if isinstance(pairs, list) and all(isinstance(p, list) and len(p) == 2 for p in pairs):
            return {k: v for k, v in pairs}
        if isinstance(pairs, list) and all(isinstance(p, dict) and len(p) == 1 for p in pairs):
            return {k: v for p in pairs for k, v in p.items()}
        return value
    if tag == "!!python/tuple":
        return list(value) if isinstance(value, list) else value
    if tag in ("!!str", "!!python/str", "!!python/unicode") and value is not None:
        return value if isinstance(value, str) else str(value)
    if tag in ("!!int", "!!float"):
        try:
            return (int if tag == "!!int" else float)(value)
        except (TypeError, ValueError):
            return value
    return value


class _Parser:
    def __init__(self, text: str, source: str):
        self.src = source
        self.raw = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        # (line number, indent, text); text is rewritten in place for compact "- " nesting
        self.lines: list[list[Any]] = []
        for n, line in enumerate(self.raw, start=1):
            body = line.lstrip(" ")
            if body.startswith("\t"):
                self.fail(n, "tab used for indentation")
            self.lines.append([n, len(line) - len(body), body])
        self.i = 0

    def fail(self, lineno: int, msg: str) -> None:
        raise InputError(f"{self.src}: line {lineno}: {msg}")

    def skip(self) -> None:
        while self.i < len(self.lines):
            text = self.lines[self.i][2]
            if text.strip() and not text.lstrip().startswith("#") and not text.startswith("%"):
                if text.rstrip() == "---" or text.startswith("--- "):
                    rest = text[3:].strip()
                    if not rest:
                        self.i += 1
                        continue
                    self.lines[self.i][1] += 4
                    self.lines[self.i][2] = rest
                return
            self.i += 1

    def peek(self) -> list[Any] | None:
        self.skip()
        return self.lines[self.i] if self.i < len(self.lines) else None

    def document(self) -> Any:
        line = self.peek()
        if line is None:
            return None
        value = self.node(-1)
        rest = self.peek()
        if rest is not None and rest[2].rstrip() != "...":
            self.fail(rest[0], f"unexpected content {rest[2][:30]!r}")
        return value

    def node(self, parent: int) -> Any:
        """The node at the current line, whose indent must exceed `parent`."""
        line = self.peek()
        if line is None or line[1] <= parent:
            return None
        n, ind, text = line
        text = _strip_comment(text)
        tag = None
        if text.startswith("!"):
            tag, _, text = text.partition(" ")
            text = text.strip()
            if not text:
                self.i += 1
                nxt = self.peek()
                value = None
                if nxt is not None and (nxt[1] > parent):
                    value = self.node(parent)
                return _apply_tag(tag, value)
            line[2], line[1] = text, ind + len(line[2]) - len(text)
            ind = line[1]
        if text == "-" or text.startswith("- "):
            return _apply_tag(tag, self.seq(ind))
        if _KEY.match(text):
            return _apply_tag(tag, self.mapping(ind))
        self.i += 1
        return _apply_tag(tag, self.inline(text, parent, n))

    def seq(self, ind: int) -> list[Any]:
        items = []
        while (line := self.peek()) is not None and line[1] == ind:
            text = _strip_comment(line[2])
            if not (text == "-" or text.startswith("- ")):
                break
            content = text[1:].lstrip(" ")
            if not content:
                self.i += 1
                items.append(self.node(ind))
                continue
            line[1], line[2] = ind + len(text) - len(content), content
            items.append(self.node(ind))
        return items

    def mapping(self, ind: int) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        while (line := self.peek()) is not None and line[1] == ind:
            n, _, text = line
            text = _strip_comment(text)
            m = _KEY.match(text)
            if not m:
                if text == "-" or text.startswith("- "):
                    break
                self.fail(n, f"expected 'key: value', got {text[:30]!r}")
            key = self.scalar(m.group(1), n)
            rest = text[m.end():].strip()
            tag = None
            if rest.startswith("!"):
                tag, _, rest = rest.partition(" ")
                rest = rest.strip()
            self.i += 1
            if rest:
                value = self.inline(rest, ind, n)
            else:
                nxt = self.peek()
                if nxt is not None and nxt[1] == ind and (nxt[2] == "-" or nxt[2].startswith("- ")):
                    value = self.seq(ind)
                else:
                    value = self.node(ind)
            out[key] = _apply_tag(tag, value)
        return out

    def continuation(self, parent: int) -> list[str]:
        parts = []
        while (line := self.peek()) is not None and line[1] > parent:
            parts.append(_strip_comment(line[2]))
            self.i += 1
        return parts

    def inline(self, text: str, parent: int, n: int) -> Any:
        """A value written after `key:` or `- ` (it may continue on more-indented lines)."""
        if text[0] in "|>":
            return self.block_scalar(text, parent)
        if text[0] in "[{":
            while _depth(text) > 0:
                nxt = self.peek()
                if nxt is None or nxt[1] <= parent:
                    self.fail(n, "unclosed flow collection")
                text += " " + _strip_comment(nxt[2])
                self.i += 1
            value, end = _Flow(text, self, n).parse(0)
            if text[end:].strip():
                self.fail(n, f"unexpected text after flow collection: {text[end:][:20]!r}")
            return value
        if text[0] in "'\"":
            while not _closed(text):
                nxt = self.peek()
                if nxt is None:
                    self.fail(n, "unclosed quoted string")
                text += " " + nxt[2].strip()
                self.i += 1
            return self.scalar(text, n)
        return self.scalar(" ".join([text, *self.continuation(parent)]), n)

    def block_scalar(self, head: str, parent: int) -> str:
        """`|` keeps line breaks, `>` folds them into spaces; `-` strips and `+` keeps the final ones."""
        lines: list[str] = []
        indent = None
        while self.i < len(self.lines):
            _, ind, body = self.lines[self.i]
            if body.strip() and (ind <= parent or (indent is not None and ind < indent)):
                break
            if body.strip():
                indent = ind if indent is None else indent
                lines.append(" " * (ind - indent) + body)
            else:
                lines.append("")
            self.i += 1
        trailing = 0
        while lines and not lines[-1]:
            lines.pop()
            trailing += 1
        if head[0] == "|":
            text = "\n".join(lines)
        else:
            parts: list[str] = []
            for ln in lines:
                parts.append("\n" if not ln else (" " + ln if parts and parts[-1] != "\n" else ln))
            text = "".join(parts)
        if "-" in head or not lines:
            return text
        return text + "\n" * (1 + trailing if "+" in head else 1)

    def scalar(self, text: str, n: int) -> Any:
        text = text.strip()
        if text.startswith('"'):
            if not text.endswith('"') or len(text) < 2:
                self.fail(n, "unclosed double-quoted string")
            try:
                return json.loads(text)
            except ValueError:
                return text[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        if text.startswith("'"):
            if not text.endswith("'") or len(text) < 2:
                self.fail(n, "unclosed single-quoted string")
            return text[1:-1].replace("''", "'")
        return resolve(text)


def _depth(text: str) -> int:
    """Open brackets left in a flow collection (quoted scalars skipped)."""
    depth, i = 0, 0
    while i < len(text):
        ch = text[i]
        if ch in "'\"" and (i == 0 or text[i - 1] in " [{,:"):
            end = _quote_end(text, i)
            if end < 0:
                return depth + 1
            i = end
            continue
        depth += (ch in "[{") - (ch in "]}")
        i += 1
    return depth


def _quote_end(text: str, i: int) -> int:
    """Index just after the quoted scalar starting at text[i], or -1 if it is not closed."""
    q, j = text[i], i + 1
    while j < len(text):
        if q == '"' and text[j] == "\\":
            j += 2
            continue
        if text[j] == q:
            if q == "'" and text[j + 1:j + 2] == "'":
                j += 2
                continue
            return j + 1
        j += 1
    return -1


def _closed(text: str) -> bool:
    return _quote_end(text, 0) >= 0


class _Flow:
    """`[a, b]` / `{k: v}` on one logical line."""

    def __init__(self, text: str, parser: _Parser, n: int):
        self.t, self.p, self.n = text, parser, n

    def parse(self, i: int) -> tuple[Any, int]:
        t = self.t
        while i < len(t) and t[i] == " ":
            i += 1
        if i < len(t) and t[i] in "[{":
            close = "]" if t[i] == "[" else "}"
            items: list[Any] = []
            pairs: dict[Any, Any] = {}
            i += 1
            while True:
                while i < len(t) and t[i] in " ,":
                    i += 1
                if i >= len(t):
                    self.p.fail(self.n, "unclosed flow collection")
                if t[i] == close:
                    return (items if close == "]" else pairs), i + 1
                item, i = self.parse(i)
                while i < len(t) and t[i] == " ":
                    i += 1
                if i < len(t) and t[i] == ":":
                    value, i = self.parse(i + 1)
                    if close == "]":
                        items.append({item: value})
                    else:
                        pairs[item] = value
                elif close == "]":
                    items.append(item)
                else:
                    pairs[item] = None
        if i < len(t) and t[i] in "'\"":
            j = _quote_end(t, i)
            if j < 0:
                self.p.fail(self.n, "unclosed quoted string")
            return self.p.scalar(t[i:j], self.n), j
        j = i
        while j < len(t) and t[j] not in ",]}" and not (t[j] == ":" and t[j + 1:j + 2] in (" ", "", ",")):
            j += 1
        return self.p.scalar(t[i:j], self.n), j


def loads(text: str, source: str = "<yaml>") -> Any:
    """Parse one YAML document into dicts/lists/scalars; InputError names `source` and the line."""
    return _Parser(text, source).document()


def load_path(path: Path) -> Any:
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror}") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text") from None
    return loads(text, str(path))

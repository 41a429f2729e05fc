"""Minimal protobuf wire-format decoding and encoding, and decoders for TensorBoard's Summary.Value.

Why this exists: reading TensorBoard event files must not require TensorFlow, tensorboard or even the
``protobuf`` runtime (they are heavy, version-fragile, and slow for the few message shapes we need).
The ``tensorflow.Event`` family of messages only uses four wire types, so a few small functions cover
it.  Every decoding error (truncation, a varint longer than 10 bytes, a reserved or group wire type,
a length past the end of the buffer) raises :class:`ProtoError`, never ``IndexError`` or
``struct.error``, so callers can turn garbage into one clear error.  :func:`iter_spans` reports
absolute offsets, which lets the event reader learn where a scalar's bytes sit in a record and read
all records of the same layout at once.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator

VARINT, I64, LEN, I32 = 0, 1, 2, 5
Buffer = bytes | bytearray | memoryview

_U64 = 1 << 64
_F32 = struct.Struct("<f")
_F64 = struct.Struct("<d")


class ProtoError(ValueError):
    """The bytes are not a well-formed protobuf message; ``offset`` is relative to the buffer."""

    def __init__(self, reason: str, offset: int):
        super().__init__(f"{reason} at byte {offset}")
        self.reason = reason
        self.offset = offset


def decode_varint(buf: Buffer, pos: int, end: int | None = None) -> tuple[int, int]:
    """Decode an unsigned varint at ``pos``; return ``(value, position after it)``."""
    if end is None:
        end = len(buf)
    result = 0
    shift = 0
    start = pos
    while True:
        if pos >= end:
            raise ProtoError("truncated varint", start)
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise ProtoError("varint longer than 10 bytes", start)


def to_int64(value: int) -> int:
    """Reinterpret a decoded varint as a two's complement int64 (how int32/int64 fields are encoded)."""
    value &= _U64 - 1
    return value - _U64 if value >= 1 << 63 else value


def to_int32(value: int) -> int:
    """Reinterpret a decoded varint as int32 (negative int32 values are sign-extended to 10 bytes)."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def iter_spans(buf: Buffer, start: int = 0, end: int | None = None) -> Iterator[tuple[int, int, int, int]]:
    """Yield ``(field_number, wire_type, a, b)`` for each field of the message in ``buf[start:end]``.

    For VARINT ``a`` is the value (``b`` the offset after it); for LEN, I64 and I32 ``buf[a:b]`` is the
    payload.  Offsets are absolute, so callers can locate a value inside the enclosing buffer."""
    if end is None:
        end = len(buf)
    pos = start
    while pos < end:
        field_start = pos
        key = buf[pos]
        if key < 0x80:
            pos += 1
        else:
            key, pos = decode_varint(buf, pos, end)
        number, wire_type = key >> 3, key & 7
        if number == 0:
            raise ProtoError("field number 0", field_start)
        if wire_type == LEN:
            length = buf[pos] if pos < end else 0x80
            if length < 0x80:
                pos += 1
            else:
                length, pos = decode_varint(buf, pos, end)
            if length > end - pos:
                raise ProtoError("length-delimited field runs past the end", field_start)
            yield number, wire_type, pos, pos + length
            pos += length
        elif wire_type == VARINT:
            value, pos = decode_varint(buf, pos, end)
            yield number, wire_type, value, pos
        elif wire_type == I64 or wire_type == I32:
            size = 8 if wire_type == I64 else 4
            if pos + size > end:
                raise ProtoError(f"truncated fixed{size * 8}", field_start)
            yield number, wire_type, pos, pos + size
            pos += size
        else:
            raise ProtoError(f"unsupported wire type {wire_type}", field_start)


def iter_fields(buf: Buffer, start: int = 0, end: int | None = None) -> Iterator[tuple[int, int, object]]:
    """Yield ``(field_number, wire_type, value)`` for each field of the message in ``buf[start:end]``.

    ``value`` is an ``int`` for VARINT, 8 raw bytes for I64, 4 raw bytes for I32 and a slice of ``buf``
    (same type, so a memoryview stays zero-copy) for LEN.
    """
    for number, wire_type, a, b in iter_spans(buf, start, end):
        if wire_type == VARINT:
            yield number, wire_type, a
        elif wire_type == LEN:
            yield number, wire_type, buf[a:b]
        else:
            yield number, wire_type, bytes(buf[a:b])


def decode_varints(buf: Buffer) -> list[int]:
    """Decode a packed run of varints (the payload of a packed repeated int field)."""
    out: list[int] = []
    pos, end = 0, len(buf)
    while pos < end:
        value, pos = decode_varint(buf, pos, end)
        out.append(value)
    return out


def repeated_varints(wire_type: int, value: object) -> list[int]:
    """Elements of a repeated varint field occurrence, packed (LEN) or not (VARINT)."""
    if wire_type == VARINT:
        return [value]  # type: ignore[list-item]
    if wire_type == LEN:
        return decode_varints(value)  # type: ignore[arg-type]
    raise ProtoError(f"wire type {wire_type} for a repeated varint field", 0)


def repeated_fixed(wire_type: int, value: Buffer, fmt: str) -> list[float]:
    """Elements of a repeated ``f`` (float, I32) or ``d`` (double, I64) field, packed or not."""
    size = 4 if fmt == "f" else 8
    single = I32 if size == 4 else I64
    if wire_type == single or wire_type == LEN:
        data = bytes(value)
        if len(data) % size:
            raise ProtoError("packed fixed-width field with a partial element", 0)
        return list(struct.unpack(f"<{len(data) // size}{fmt}", data))
    raise ProtoError(f"wire type {wire_type} for a repeated {fmt} field", 0)


def fixed_double(raw: bytes) -> float:
    return _F64.unpack(raw)[0]


def fixed_float(raw: bytes) -> float:
    return _F32.unpack(raw)[0]


# -------------------------------------------------- tensorflow.Summary.Value and TensorProto

# tensor dtype -> (struct format of one element, the repeated *_val field holding it); "E" is bfloat16
# fmt: off
DTYPES = {1: ("f", 5), 2: ("d", 6), 3: ("i", 7), 4: ("B", 7), 5: ("h", 7), 6: ("b", 7), 9: ("q", 10),
           10: ("?", 11), 14: ("E", 13), 17: ("H", 7), 19: ("e", 13), 22: ("I", 16), 23: ("Q", 17)}
# fmt: on
DT_STRING = 7
NONE, SIMPLE, TENSOR, TEXT = range(4)
# The hparams plugin's record of one run's hyperparameters (torch/tensorboardX `add_hparams`, SB3's
# `HParam`, Lightning, TF2 `hp.hparams`): decoded into a JSON text so it travels like a text summary.
HPARAMS_TAG = "_hparams_/session_start_info"
Loc = tuple[int, str]  # where a scalar's bytes are in the buffer, and their numpy dtype
ParsedValue = tuple[str, int, "float | None", "Loc | None", "tuple[str, int] | None", "str | None"]


def parse_summary_value(b: bytes, start: int, end: int) -> ParsedValue:
    """Decode the Summary.Value at ``b[start:end]``.

    Returns ``(tag, kind, value, loc, meta, text)``: ``kind`` is SIMPLE (``simple_value``, always a
    scalar), TENSOR (a one-element numeric tensor: a scalar unless the tag's plugin says otherwise),
    TEXT (a string tensor) or NONE; ``loc`` says where a fixed-width value's bytes are; ``meta`` is
    ``(plugin_name, data_class)`` when the value carries metadata."""
    tag, simple, tensor, meta = "", None, None, None
    for num, wt, x, y in iter_spans(b, start, end):
        if num == 1 and wt == LEN:
            tag = b[x:y].decode("utf-8", "replace")
        elif num == 2 and wt == I32:
            simple = x
        elif num == 8 and wt == LEN:
            tensor = (x, y)
        elif num == 9 and wt == LEN:
            meta = plugin_of(b, x, y)
    if simple is not None:
        return tag, SIMPLE, _F32.unpack_from(b, simple)[0], (simple, "<f4"), meta, None
    if tag == HPARAMS_TAG and meta is not None and meta[0] == "hparams":
        found = session_hparams(b, start, end)
        if found is not None:
            return tag, TEXT, None, None, meta, json.dumps(found, allow_nan=True)
    if tensor is None or tag.startswith("_hparams_/"):
        return tag, NONE, None, None, meta, None
    dtype, value, loc, strings = tensor_scalar(b, *tensor)
    if dtype == DT_STRING:
        if meta is not None and meta[0] != "text":  # images, audio, ...: not worth decoding
            return tag, NONE, None, None, meta, None
        return tag, TEXT, None, None, meta, "\n".join(s.decode("utf-8", "replace") for s in strings)
    return tag, (NONE if value is None else TENSOR), value, loc, meta, None


def plugin_of(b: bytes, start: int, end: int) -> tuple[str, int]:
    plugin, data_class = "", 0
    for num, wt, x, y in iter_spans(b, start, end):
        if num == 1 and wt == LEN:  # PluginData {1: plugin_name}
            for n2, w2, x2, y2 in iter_spans(b, x, y):
                if n2 == 1 and w2 == LEN:
                    plugin = b[x2:y2].decode("utf-8", "replace")
        elif num == 4 and wt == VARINT:
            data_class = x
    return plugin, data_class


def tensor_scalar(b: bytes, start: int, end: int) -> tuple[int, float | None, Loc | None, list[bytes]]:
    """(dtype, value if a one-element numeric tensor else None, Loc if fixed-width, string elements)."""
    dtype, numel, content = 0, 1, None
    strings: list[bytes] = []
    vals: dict[int, list[tuple[int, int, int]]] = {}
    for num, wt, x, y in iter_spans(b, start, end):
        if num == 1 and wt == VARINT:
            dtype = x
        elif num == 2 and wt == LEN:  # TensorShapeProto {2: Dim {1: size}}
            for n2, w2, x2, y2 in iter_spans(b, x, y):
                if n2 == 2 and w2 == LEN:
                    sizes = [to_int64(v) for n3, w3, v, _ in iter_spans(b, x2, y2) if n3 == 1 and w3 == 0]
                    numel *= max(sizes[-1], -1) if sizes else 1  # an unknown (-1) dim: not a scalar
        elif num == 4 and wt == LEN:
            content = (x, y)
        elif num == 8 and wt == LEN:
            strings.append(b[x:y])
        else:
            vals.setdefault(num, []).append((wt, x, y))
    if dtype not in DTYPES or numel != 1:
        return dtype, None, None, strings
    fmt, num = DTYPES[dtype]
    if content is not None:  # raw little-endian bytes
        size = 2 if fmt == "E" else struct.calcsize("<" + fmt)
        if content[1] - content[0] < size:
            return dtype, None, None, strings
        if fmt != "E":
            return dtype, float(struct.unpack_from("<" + fmt, b, content[0])[0]), (content[0], "<" + fmt), strings
        x = int.from_bytes(b[content[0] : content[0] + 2], "little")
    else:
        fields = vals.get(num, [])
        if fmt in "fd":
            loc = (fields[0][1], "<" + fmt) if fields and fields[0][2] > fields[0][1] else None
            elems = [e for wt, x, y in fields for e in repeated_fixed(wt, b[x:y], fmt)]
        else:
            loc, elems = None, [e for wt, x, y in fields for e in repeated_varints(wt, b[x:y] if wt else x)]
        if not elems:
            return dtype, 0.0, None, strings  # TensorFlow reads a tensor without values as zeros
        if fmt in "fd?BHIQ":
            return dtype, float(elems[0]), loc, strings
        x = int(elems[0])  # varints from here on (the fixed-width formats returned above)
        if fmt in "bhiq":  # negative int32 values are sign-extended to 64 bits on the wire
            return dtype, float(to_int64(x)), None, strings
    bits = (x & 0xFFFF).to_bytes(2, "little")  # half or bfloat16 bits
    value = struct.unpack("<e", bits) if fmt == "e" else struct.unpack("<f", b"\0\0" + bits)
    return dtype, float(value[0]), None, strings


# ---------------------------------------------------------------- encoders (used by the writer)


def encode_varint(value: int) -> bytes:
    """Encode a non-negative int, or a negative int64 as its 10-byte two's complement varint."""
    if value < 0:
        value += _U64
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def encode_key(number: int, wire_type: int) -> bytes:
    return encode_varint((number << 3) | wire_type)


def encode_len(number: int, payload: bytes) -> bytes:
    return encode_key(number, LEN) + encode_varint(len(payload)) + payload


def encode_double(number: int, value: float) -> bytes:
    return encode_key(number, I64) + _F64.pack(value)


def pack_f32(value: float) -> bytes:
    """Little-endian float32; finite values beyond float32's range become +-inf as a C cast would."""
    try:
        return _F32.pack(value)
    except OverflowError:
        return _F32.pack(float("inf") if value > 0 else float("-inf"))


def encode_float(number: int, value: float) -> bytes:
    return encode_key(number, I32) + pack_f32(value)


def encode_int(number: int, value: int) -> bytes:
    return encode_key(number, VARINT) + encode_varint(value)


def session_hparams(b: bytes, start: int, end: int) -> dict[str, object] | None:
    """The hyperparameters of a ``_hparams_/session_start_info`` Summary.Value at ``b[start:end]``.

    Path: Summary.Value {9: SummaryMetadata {1: PluginData {2: content}}}, content = HParamsPluginData
    {3: SessionStartInfo {1: map<string, google.protobuf.Value> hparams}}.  Values become numbers,
    strings, booleans or None (``struct``/``list`` values, which no writer we know of emits, are
    skipped).  Returns None when the value holds no session start info."""
    for num, wt, x, y in iter_spans(b, start, end):
        if num != 9 or wt != LEN:
            continue
        for n2, w2, x2, y2 in iter_spans(b, x, y):
            if n2 != 1 or w2 != LEN:
                continue
            for n3, w3, x3, y3 in iter_spans(b, x2, y2):
                if n3 != 2 or w3 != LEN:
                    continue
                for n4, w4, x4, y4 in iter_spans(b, x3, y3):
                    if n4 == 3 and w4 == LEN:
                        return _hparam_map(b, x4, y4)
    return None


def _hparam_map(b: bytes, start: int, end: int) -> dict[str, object]:
    out: dict[str, object] = {}
    for num, wt, x, y in iter_spans(b, start, end):
        if num != 1 or wt != LEN:  # SessionStartInfo.hparams entries
            continue
        key, value, has_value = "", None, False
        for n2, w2, x2, y2 in iter_spans(b, x, y):
            if n2 == 1 and w2 == LEN:
                key = bytes(b[x2:y2]).decode("utf-8", "replace")
            elif n2 == 2 and w2 == LEN:
                value, has_value = _proto_value(b, x2, y2)
        if key and has_value:
            out[key] = value
    return out


def _proto_value(b: bytes, start: int, end: int) -> tuple[object, bool]:
    """google.protobuf.Value: 1 null, 2 number (double), 3 string, 4 bool; (value, understood)."""
    for num, wt, x, y in iter_spans(b, start, end):
        if num == 1 and wt == VARINT:
            return None, True
        if num == 2 and wt == I64:
            number = _F64.unpack_from(b, x)[0]
            return (int(number) if number.is_integer() and abs(number) < 2**53 else number), True
        if num == 3 and wt == LEN:
            return bytes(b[x:y]).decode("utf-8", "replace"), True
        if num == 4 and wt == VARINT:
            return bool(x), True
    return None, False

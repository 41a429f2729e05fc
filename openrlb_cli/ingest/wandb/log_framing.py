"""The framing of W&B's `.wandb` transaction log (LevelDB's log format with a W&B file header).

Why our own: reading offline runs must not need the wandb package (whose Python reader was removed in
recent releases; its Go core reads them). The format, as wandb's `sdk/internal/datastore.py` and
`core/pkg/leveldb/record.go` write it:

* the file starts with a 7-byte header: `:W&B`, magic 0xBEE1 (little-endian uint16), version 0;
* the file is cut into 32 KiB blocks counted from offset 0 (the header sits in the first block); a
  block holds chunks, each a 7-byte header (CRC32 of type byte + payload, little-endian uint32;
  payload length, uint16; type 1 FULL, 2 FIRST, 3 MIDDLE, 4 LAST) then the payload. A chunk never
  crosses a block; fewer than 7 bytes left in a block are zero padding;
* a record (one serialized protobuf `Record`) is one FULL chunk or FIRST, MIDDLE..., LAST.

The CRC is zlib's CRC-32 (IEEE), which the `.wandb` writers use, unlike LevelDB's CRC32C. A file being
written ends in a torn chunk or an unfinished FIRST/MIDDLE sequence: that is not an error; the
reader stops before the torn record and says where to resume (always a record's first chunk).
An all-zero chunk header starts a zeroed block remainder, skipped as W&B's reader does (zeros up to
the end of the file are a tail not yet written).
A checksum mismatch or an impossible chunk inside the file is corruption: `WandbLogError` with the
byte offset.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

BLOCK = 32768
HEADER = 7
FILE_HEADER = b":W&B" + struct.pack("<H", 0xBEE1) + b"\x00"
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4
_CHUNK = struct.Struct("<IHB")
_TYPE_CRC = [zlib.crc32(bytes([t])) for t in range(5)]


class WandbLogError(ValueError):
    """Corruption in a `.wandb` file; `offset` is the absolute byte offset of the bad chunk."""

    def __init__(self, reason: str, offset: int):
        super().__init__(f"{reason} at byte offset {offset}")
        self.reason = reason
        self.offset = offset


@dataclass
class Frames:
    records: list[bytes] = field(default_factory=list)
    end: int = 0  # absolute offset just after the last complete record (where the next read starts)
    torn: bool = False  # the data ends inside a record (still being written)
    damage: WandbLogError | None = None  # with keep_prefix: the records before it are in `records`


def check_file_header(head: bytes) -> None:
    if len(head) < HEADER:
        raise WandbLogError("file shorter than the 7-byte W&B header", 0)
    if head[:4] != FILE_HEADER[:4] or head[4:6] != FILE_HEADER[4:6]:
        raise WandbLogError("not a W&B transaction log (no ':W&B' header)", 0)
    if head[6] != 0:
        raise WandbLogError(f"unsupported .wandb format version {head[6]}", 6)


def split_records(data: bytes, start: int, at_eof: bool, keep_prefix: bool = False) -> Frames:
    """Complete records of `data`, the file's bytes from absolute offset `start` (a record boundary,
    or 0 for the file start, whose header is checked). With `at_eof` False, a record cut by the end of
    `data` is simply left for the next call; with `at_eof` True it is a torn tail. With `keep_prefix`,
    damage inside the file does not raise: the records before it are returned with `damage` set."""
    pos = 0
    if start == 0:
        check_file_header(data[:HEADER])
        pos = HEADER
    out = Frames(end=start + pos)
    try:
        return _split(data, start, pos, at_eof, out)
    except WandbLogError as e:
        if not keep_prefix:
            raise
        out.damage, out.torn = e, False
        return out


def _split(data: bytes, start: int, pos: int, at_eof: bool, out: Frames) -> Frames:
    n = len(data)
    pending: list[bytes] | None = None
    crc32, unpack, type_crc = zlib.crc32, _CHUNK.unpack_from, _TYPE_CRC
    while True:
        left_in_block = BLOCK - (start + pos) % BLOCK
        if left_in_block < HEADER:  # block trailer: zero padding
            pos += left_in_block
            continue
        if pos + HEADER > n:
            break
        checksum, length, kind = unpack(data, pos)
        if checksum == 0 and length == 0 and kind == 0 and pending is None:
            # a zeroed block remainder: W&B's reader skips to the next block; zeros up to the end of
            # the data are a tail not written yet (resume here)
            if data[pos:pos + left_in_block].strip(b"\0"):
                raise WandbLogError("zeroed chunk header followed by data", start + pos)
            if pos + left_in_block >= n:
                out.torn = at_eof
                return out
            pos += left_in_block
            continue
        if length > left_in_block - HEADER or kind not in (FULL, FIRST, MIDDLE, LAST):
            raise WandbLogError(f"impossible chunk (type {kind}, length {length})", start + pos)
        body_end = pos + HEADER + length
        if body_end > n:
            break
        payload = data[pos + HEADER:body_end]
        if crc32(payload, type_crc[kind]) != checksum:
            raise WandbLogError("chunk checksum mismatch", start + pos)
        pos = body_end
        if kind == FULL:
            if pending is not None:
                raise WandbLogError("FULL chunk inside an unfinished record", start + pos - HEADER - length)
            out.records.append(payload)
            out.end = start + pos
        elif kind == FIRST:
            if pending is not None:
                raise WandbLogError("FIRST chunk inside an unfinished record", start + pos - HEADER - length)
            pending = [payload]
        else:
            if pending is None:
                raise WandbLogError("MIDDLE/LAST chunk without a FIRST", start + pos - HEADER - length)
            pending.append(payload)
            if kind == LAST:
                out.records.append(b"".join(pending))
                pending = None
                out.end = start + pos
    out.torn = at_eof and (pending is not None or pos < n)
    return out

"""Decoding TensorBoard ``Event`` records into scalar curves: the general path.

Why: most records of a scalar log share one layout, ``Event{1: wall_time, [2: step], 5: Summary{1:
Value{1: tag, 2: simple_value}}}``, which is decoded here for many records at once by byte-offset
arithmetic.  Other one-value events (TF2 tensor scalars) are grouped by tag and size; one per group is
parsed to learn where its scalar's bytes are, and every record byte-identical to it elsewhere is read
from there.  The rest (multi-value summaries, text, images, ...) go through the per-record
:mod:`.protowire` parser.  As in TensorBoard, the first metadata seen for a tag decides whether its
tensors are scalars.  Records are identified by their number in the file chunk, so results of this
path and of the template fast path (:mod:`.tftemplates`) merge in file order.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np

from openrlb_cli.ingest.tensorboard import protowire as pw
from openrlb_cli.ingest.tensorboard.tfrecord import rows as _rows

_I64 = np.dtype("<i8")
_HASH_MUL = np.uint64(0x9E3779B97F4A7C15)
Curve = tuple[np.ndarray, np.ndarray, np.ndarray]


class EventProtoError(ValueError):
    """A record's bytes are not a valid Event protobuf: ``index`` is the record's position in the call."""

    def __init__(self, reason: str, index: int):
        super().__init__(reason)
        self.reason = reason
        self.index = index


@dataclass
class State:
    """What carries over between the chunks of one file: tag -> (plugin_name, data_class)."""

    plugins: dict[str, tuple[str, int]] = field(default_factory=dict)
    file_version: str | None = None


class Collector:
    """What one chunk holds.  Tensor values stay candidates until the tag's plugin is known: like
    TensorBoard, the first metadata seen for a tag decides what kind of data the tag is."""

    def __init__(self) -> None:
        self.sure: dict[str, list[tuple[np.ndarray, ...]]] = {}  # simple_value: (records, steps, values, walls)
        self.maybe: dict[str, list[tuple[np.ndarray, ...]]] = {}  # numeric one-element tensors
        self.meta: dict[str, tuple[int, str, int]] = {}  # tag -> (first record, plugin_name, data_class)
        self.text: dict[str, str] = {}  # string tensors, last one per tag
        self.rows: dict[tuple[bool, str], list[tuple[int, float, float, float]]] = {}  # per-record finds
        self.restarts: list[tuple[int, float]] = []  # SessionLog.START markers: (record, step)

    def add(self, sure: bool, tag: str, rec: np.ndarray, steps, values, walls) -> None:
        (self.sure if sure else self.maybe).setdefault(tag, []).append((rec, steps, values, walls))

    def add_meta(self, tag: str, rec: int, meta: tuple[str, int]) -> None:
        if tag not in self.meta or rec < self.meta[tag][0]:
            self.meta[tag] = (rec, *meta)

    def restart_at(self) -> float | None:
        """The lowest step of this chunk's restart markers: points read before it are preempted from there."""
        return min(s for _, s in self.restarts) if self.restarts else None

    def finish(self, state: State) -> tuple[dict[str, Curve], dict[str, str]]:
        """Curves per tag in record order (tags in order of their first record), and text summaries.

        A restart marker (SessionLog.START at step s, what `SummaryWriter(purge_step=s)` writes)
        preempts the points before it at steps >= s, as TensorBoard's EventAccumulator purges them."""
        for (sure, tag), rows in self.rows.items():
            rec, steps, values, walls = np.array(rows, dtype=np.float64).T
            self.add(sure, tag, rec.astype(np.int64), steps, values, walls)
        for tag, (_, plugin, data_class) in self.meta.items():
            state.plugins.setdefault(tag, (plugin, data_class))
        parts = self.sure
        for tag, pieces in self.maybe.items():
            plugin, data_class = state.plugins.get(tag, ("", 0))
            if data_class not in (2, 3) and (data_class == 1 or plugin in ("", "scalars")):  # not TENSOR/BLOB
                parts.setdefault(tag, []).extend(pieces)
        merged: list[tuple[int, str, Curve]] = []
        for tag, pieces in parts.items():
            rec, steps, values, walls = (np.concatenate(c) for c in zip(*pieces, strict=True))
            if len(pieces) > 1 and not (rec[1:] > rec[:-1]).all():
                order = np.argsort(rec, kind="stable")
                rec, steps, values, walls = rec[order], steps[order], values[order], walls[order]
            if self.restarts:
                live = np.ones(len(rec), dtype=bool)
                for at, step in self.restarts:
                    live &= ~((rec < at) & (steps >= step))
                if not live.all():
                    rec, steps, values, walls = rec[live], steps[live], values[live], walls[live]
                if not len(rec):
                    continue
            merged.append((int(rec[0]), tag, (steps, values, walls)))
        merged.sort(key=lambda m: m[0])
        texts = {t: s for t, s in self.text.items() if state.plugins.get(t, ("", 0))[0] in ("text", "hparams")}
        return {tag: curve for _, tag, curve in merged}, texts


def decode(b: bytes, arr: np.ndarray, d: np.ndarray, lens: np.ndarray, recs: np.ndarray, state: State,
           out: Collector) -> None:  # fmt: skip
    """Decode the Event protos at offsets ``d`` (lengths ``lens``), whose record numbers are ``recs``:
    vectorised first, then the rest one by one.  Raises :class:`EventProtoError` for a malformed one."""
    with np.errstate(invalid="ignore", over="ignore"):  # float32 -> float64 of signalling NaNs
        done = vectorised(b, arr, d, lens, recs, out) if len(d) else np.zeros(0, dtype=bool)
    for i in np.flatnonzero(~done).tolist():
        a = int(d[i])
        try:
            _slow_event(b, a, a + int(lens[i]), int(recs[i]), state, out)
        except pw.ProtoError as e:
            raise EventProtoError(f"malformed Event protobuf ({e.reason})", i) from None


def vectorised(
    b: bytes, arr: np.ndarray, d: np.ndarray, lens: np.ndarray, recs: np.ndarray, out: Collector
) -> np.ndarray:
    """Decode, all at once, records laid out as ``Event{1: wall_time, [2: step], 5: {1: Value}}``.

    ``Value{1: tag, 2: simple_value}`` is read at fixed offsets.  Other one-value records are grouped
    by (tag, size); one record per group is parsed and tells where its scalar's bytes are; every
    record identical to it outside those bytes is read from the same place.  Returns the mask of
    records handled; the rest are left to the per-record parser."""
    n = len(arr)
    head = _rows(arr, np.where(lens >= 20, d, 0), 20)  # every such record has >= 20 bytes
    ok = (lens >= 20) & (head[:, 0] == 0x09)
    has_step = head[:, 9] == 0x10
    step = np.zeros(len(d), dtype=np.uint64)
    nstep = np.zeros(len(d), dtype=np.int64)
    going = has_step.copy()
    for k in range(10):  # the step varint, vectorised over records
        byte = head[:, 10 + k]
        step |= np.where(going, (byte & 0x7F).astype(np.uint64) << np.uint64(7 * k), np.uint64(0))
        nstep += going
        going &= byte >= 0x80
        if not going.any():
            break
    ok &= ~going
    q = d + 9 + np.where(has_step, 1 + nstep, 0)  # the summary field's key byte
    summ = _rows(arr, q, 6).astype(np.int16)
    slen, vlen, tlen = summ[:, 1], summ[:, 3], summ[:, 5]
    ok &= (summ[:, 0] == 0x2A) & (slen < 0x80) & (q + 2 + slen == d + lens) & (summ[:, 2] == 0x0A)
    ok &= (vlen + 2 == slen) & (summ[:, 4] == 0x0A) & (tlen < 0x80) & (tlen + 2 <= vlen)
    value_rows = _rows(arr, q + 6 + tlen, 5)
    simple = ok & (vlen == tlen + 7) & (value_rows[:, 0] == 0x15)
    steps = step.view(_I64).astype(np.float64)
    walls = _rows(arr, d + 1, 8).copy().view("<f8").ravel()
    values = value_rows[:, 1:].copy().view("<f4").ravel().astype(np.float64)
    done = np.zeros(len(d), dtype=bool)
    for is_simple, idx in ((True, np.flatnonzero(simple)), (False, np.flatnonzero(ok & ~simple))):
        for tag, sel in _group_by_tag(arr, n, q[idx] + 6, tlen[idx], np.where(is_simple, 0, vlen[idx])):
            sel = idx[sel]
            if is_simple:
                out.add(True, tag, recs[sel], steps[sel], values[sel], walls[sel])
                done[sel] = True
            else:
                _template(b, arr, sel, q[sel] + 4, int(vlen[sel[0]]), recs, steps, walls, out, done)
    return done


def _group_by_tag(arr: np.ndarray, n: int, start: np.ndarray, tlen: np.ndarray, salt: np.ndarray):
    """Yield (tag, member positions) for records with equal tag bytes and ``salt``, in file order.

    Hashes the zero-padded tags as 8-byte words, then checks every member against its group exactly."""
    if not len(start):
        return
    width = int(tlen.max() + 7) // 8 * 8 or 8
    fits = np.flatnonzero(start + width <= n)  # rows that _rows would clip go to the per-record parser
    rows = _rows(arr, start[fits], width)
    rows[np.arange(width) >= tlen[fits, None]] = 0
    key = np.column_stack([rows.view("<u8"), tlen[fits].astype(np.uint64), salt[fits].astype(np.uint64)])
    h = np.zeros(len(fits), dtype=np.uint64)
    for k in range(key.shape[1]):
        h = (h ^ key[:, k]) * _HASH_MUL
        h ^= h >> np.uint64(29)
    order = np.argsort(h, kind="stable")
    hs = h[order]
    group_start = np.flatnonzero(np.concatenate([[True], hs[1:] != hs[:-1]]))
    first = order[group_start]  # the sort is stable: each group's earliest record
    sizes = np.diff(np.append(group_start, len(h)))
    if not np.array_equal(key[order], np.repeat(key[first], sizes, axis=0)):  # a hash collision
        _, first, inv = np.unique(key, axis=0, return_index=True, return_inverse=True)
        order, sizes = np.argsort(inv.ravel(), kind="stable"), np.bincount(inv.ravel())
    for g, members in enumerate(np.split(order, np.cumsum(sizes)[:-1])):
        yield bytes(rows[first[g], : tlen[fits[first[g]]]]).decode("utf-8", "replace"), fits[members]


def _template(b: bytes, arr: np.ndarray, sel: np.ndarray, vs: np.ndarray, vlen: int, recs: np.ndarray,
              steps: np.ndarray, walls: np.ndarray, out: Collector, done: np.ndarray) -> None:  # fmt: skip
    """Records ``sel`` share a tag and Value size (Values at ``vs``): parse the first, read the rest alike."""
    try:
        tag, kind, _, loc, meta, _ = pw.parse_summary_value(b, int(vs[0]), int(vs[0]) + vlen)
    except pw.ProtoError:
        return  # the per-record parser reports it
    if kind not in (_SIMPLE, _TENSOR) or loc is None:
        return
    dt = np.dtype(loc[1])
    off, stop = loc[0] - int(vs[0]), loc[0] - int(vs[0]) + dt.itemsize
    rows = _rows(arr, vs, vlen)
    same = (rows[:, :off] == rows[0, :off]).all(axis=1) & (rows[:, stop:] == rows[0, stop:]).all(axis=1)
    good = sel[same]
    values = rows[same, off:stop].copy().view(dt).ravel().astype(np.float64)
    out.add(kind == _SIMPLE, tag, recs[good], steps[good], values, walls[good])
    if meta is not None:
        out.add_meta(tag, int(recs[good[0]]), meta)
    done[good] = True


_NONE, _SIMPLE, _TENSOR, _TEXT = pw.NONE, pw.SIMPLE, pw.TENSOR, pw.TEXT
_F64 = struct.Struct("<d")


def _slow_event(b: bytes, start: int, end: int, rec: int, state: State, out: Collector) -> None:
    wall, step, summary, session = 0.0, 0, None, None
    for num, wt, x, y in pw.iter_spans(b, start, end):
        if num == 1 and wt == pw.I64:
            wall = _F64.unpack_from(b, x)[0]
        elif num == 2 and wt == pw.VARINT:
            step = pw.to_int64(x)
        elif num == 3 and wt == pw.LEN:
            state.file_version = b[x:y].decode("utf-8", "replace")
        elif num == 5 and wt == pw.LEN:
            summary = (x, y)
        elif num == 7 and wt == pw.LEN:
            session = (x, y)
    if session is not None and _is_start(b, *session):
        out.restarts.append((rec, float(step)))
    if summary is None:
        return
    for num, wt, x, y in pw.iter_spans(b, *summary):
        if num != 1 or wt != pw.LEN:
            continue
        tag, kind, value, _, meta, text = pw.parse_summary_value(b, x, y)
        if meta is not None:
            out.add_meta(tag, rec, meta)
        if kind == _TEXT:
            out.text[tag] = text  # type: ignore[assignment]
        elif kind != _NONE:
            assert value is not None  # simple values and scalar tensors always carry one
            out.rows.setdefault((kind == _SIMPLE, tag), []).append((rec, float(step), value, wall))


_SESSION_START = 1


def _is_start(b: bytes, start: int, end: int) -> bool:
    """A ``SessionLog`` whose status (field 1) is START: a job (re)started at this event's step."""
    status = 0
    for num, wt, x, _ in pw.iter_spans(b, start, end):
        if num == 1 and wt == pw.VARINT:
            status = x
    return status == _SESSION_START

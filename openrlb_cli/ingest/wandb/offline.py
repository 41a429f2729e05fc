"""W&B offline runs (`wandb/offline-run-*/run-<id>.wandb`, also `run-*/` of online runs), read without wandb.

Cluster users without internet log with `WANDB_MODE=offline`; until `wandb sync` the run exists only
as this transaction log of protobuf `Record`s (framing in `wandb_log`). Decoded with the project's
wire decoder (`protowire`), field numbers from wandb's `wandb_internal.proto`:

* `Record`: 2 history, 3 summary, 5 config, 17 run, 18 exit (others: output, stats, telemetry... skipped);
* `HistoryRecord`: 1 item (`HistoryItem`: 1 key, 2 nested_key..., 16 value_json), 2 step (1 num);
* `SummaryRecord` / `ConfigRecord`: 1 update, 2 remove (items shaped like HistoryItem);
* `RunRecord`: 1 run_id, 2 entity, 3 project, 4 config, 6 run_group, 7 job_type, 8 display_name,
  10 tags, 13 host, 17 start_time (Timestamp: 1 seconds, 2 nanos);
* `RunExitRecord`: 1 exit_code.

Mapping, the same as a fetched W&B run (`wandb_rows`): one row per history record, x = the
run's x axis as a fetch chooses it (`global_step` when the run logs it, else `_step`; see
`wandb_rows`), wall time = `_timestamp`; every numeric item is a point (nested keys joined with `.`;
W&B's "NaN"/"Infinity" strings are numbers; media and tables are skipped); config without `_wandb`;
name = display name; tags; state running until the exit record (exit code 0 finished, else
crashed); project = the run's W&B project; summary = summary updates; the environment record
(`Record` 26: program, args, git, python, host, ...; `wandb-metadata.json` of older SDKs, read from
`files/` when the log has no such record) as `wandb_*` config keys (`wandb_files.metadata_config`).

Incremental: the log only grows, so the offset is the end of the last complete record and a re-read
decodes only records after it; a torn last record (still being written) is left for the next ingest
(`complete=False`). Big logs stream in pieces of `PIECE_BYTES`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from openrlb_cli.errors import InputError
from openrlb_cli.ingest.base import ReadOptions, ReadResult, open_to_resume, zero_tail_start
from openrlb_cli.ingest.tensorboard import protowire as pw
from openrlb_cli.ingest.wandb.local_rows import Piece, read_on_axis
from openrlb_cli.ingest.wandb.log_framing import FILE_HEADER, HEADER, WandbLogError, split_records
from openrlb_cli.model import RunRecord

PIECE_BYTES = 8 << 20  # decoded rows take ~5x their bytes: pieces keep memory bounded (~100 MiB)
_LEN = pw.LEN
# EnvironmentRecord text fields -> their `wandb-metadata.json` names (`wandb_internal.proto` json_name)
_ENV_TEXT = {1: "os", 2: "python", 4: "docker", 6: "program", 7: "codePath", 11: "root", 12: "host",
             13: "username", 14: "executable", 18: "gpu", 25: "cuda"}


_NAMES: dict[bytes, str] = {}  # key bytes -> text: a run logs the same few keys in every record


def _item_raw(buf: bytes, a: int, b: int) -> tuple[list[str], bytes]:
    """A HistoryItem / SummaryItem / ConfigItem: its key path and its undecoded `value_json`.

    Items are parsed inline (one per logged value: a generator per item was the reader's hot spot);
    anything but the length-delimited fields W&B writes goes through `protowire.iter_spans`."""
    key, nested, raw = "", [], b"null"
    pos = a
    names = _NAMES
    while pos < b:
        tag = buf[pos]
        if tag == 0x82 and pos + 1 < b and buf[pos + 1] == 0x01:  # field 16 (value_json), LEN
            pos += 2
        elif tag == 0x12 or tag == 0x0A:  # field 2 (nested_key) / 1 (key), LEN
            pos += 1
        else:
            return _item_spans(buf, a, b)
        length = buf[pos] if pos < b else 0x80
        if length < 0x80:
            pos += 1
        else:
            length, pos = pw.decode_varint(buf, pos, b)
        end = pos + length
        if end > b:
            raise pw.ProtoError("length-delimited field runs past the end", pos)
        if tag == 0x82:
            raw = buf[pos:end]
        else:
            part = buf[pos:end]
            text = names.get(part)
            if text is None:
                if len(names) > 50_000:  # bounded: a run with ever new keys gains nothing from it
                    names.clear()
                text = names[part] = part.decode("utf-8", "replace")
            if tag == 0x12:
                nested.append(text)
            else:
                key = text
        pos = end
    return (nested or [key]), raw


def _item_spans(buf: bytes, a: int, b: int) -> tuple[list[str], bytes]:
    key, nested, raw = "", [], b"null"
    for number, wire, c, d in pw.iter_spans(buf, a, b):
        if wire != _LEN:
            continue
        if number == 1:
            key = buf[c:d].decode("utf-8", "replace")
        elif number == 2:
            nested.append(buf[c:d].decode("utf-8", "replace"))
        elif number == 16:
            raw = buf[c:d]
    return (nested or [key]), raw


def _decode(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")


def _decode_all(raws: list[bytes]) -> list[Any]:
    """Many `value_json`s with one `json.loads` (a call per item was most of the decoding time); one at
    a time when one of them is not valid JSON."""
    if not raws:
        return []
    try:
        values = json.loads(b"[" + b",".join(raws) + b"]")
    except ValueError:
        return [_decode(r) for r in raws]
    return values if len(values) == len(raws) else [_decode(r) for r in raws]


def _item(buf: bytes, a: int, b: int) -> tuple[list[str], Any]:
    """A HistoryItem / SummaryItem / ConfigItem: its key path and its JSON-decoded value."""
    parts, raw = _item_raw(buf, a, b)
    return parts, _decode(raw)


def _flatten(key: str, value: Any, out: dict[str, Any]) -> None:
    """A row value into `out`; a plain dict (not W&B media, which has `_type`) into dotted keys."""
    if isinstance(value, dict) and "_type" not in value:
        for k, v in value.items():
            _flatten(f"{key}.{k}", v, out)
    else:
        out[key] = value


def _set_path(config: dict[str, Any], parts: list[str], value: Any) -> None:
    node = config
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[parts[-1]] = value


def _pop_path(config: dict[str, Any], parts: list[str]) -> None:
    node: Any = config
    for part in parts[:-1]:
        node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, dict):
        node.pop(parts[-1], None)


class _Decoded:
    """What a run of records says: history rows, config/summary changes, run fields, exit code."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []  # filled by `finish`
        self._rows: list[tuple[list[str], int]] = []  # each history record's keys and step number
        self._raws: list[bytes] = []  # their values, decoded together in `finish`
        self._summary: dict[str, bytes | None] = {}  # dotted key -> last raw value (None: removed)
        self.config: dict[str, Any] = {}
        self.removed: list[list[str]] = []
        self.summary: dict[str, Any] = {}
        self.run: dict[str, Any] = {}
        self.exit_code: int | None = None
        self.env: dict[str, Any] = {}

    def add(self, rec: bytes) -> None:
        for number, wire, a, b in pw.iter_spans(rec):
            if wire != _LEN:
                continue
            if number == 2:
                self._history(rec, a, b)
            elif number == 3:
                self._summary_item(rec, a, b)
            elif number == 5:
                self._config(rec, a, b)
            elif number == 17:
                self._run(rec, a, b)
            elif number == 26:
                self._environment(rec, a, b)
            elif number == 18:
                self.exit_code = 0
                for n2, w2, c, _ in pw.iter_spans(rec, a, b):
                    if n2 == 1 and w2 == pw.VARINT:
                        self.exit_code = pw.to_int32(c)

    def _history(self, buf: bytes, a: int, b: int) -> None:
        keys: list[str] = []
        step = 0
        for number, wire, c, d in pw.iter_spans(buf, a, b):
            if number == 1 and wire == _LEN:
                parts, raw = _item_raw(buf, c, d)
                keys.append(parts[0] if len(parts) == 1 else ".".join(parts))
                self._raws.append(raw)
            elif number == 2 and wire == _LEN:
                for n2, w2, e, _ in pw.iter_spans(buf, c, d):
                    if n2 == 1 and w2 == pw.VARINT:
                        step = pw.to_int64(e)
        self._rows.append((keys, step))

    def _summary_item(self, buf: bytes, a: int, b: int) -> None:
        """Summary records repeat every logged key after each row: only the last value of a key is
        kept (undecoded), so they cost a key parse each."""
        for number, wire, c, d in pw.iter_spans(buf, a, b):
            if wire != _LEN or number not in (1, 2):
                continue
            parts, raw = _item_raw(buf, c, d)
            if parts[0] == "_wandb":
                continue
            key = ".".join(parts)
            self._summary.pop(key, None)
            self._summary[key] = raw if number == 1 else None

    def finish(self) -> _Decoded:
        """Decode the collected values: history rows and the summary."""
        values = _decode_all(self._raws)
        i = 0
        for keys, step in self._rows:
            row: dict[str, Any] = {}
            for key in keys:
                value = values[i]
                i += 1
                if type(value) is dict:
                    _flatten(key, value, row)
                else:
                    row[key] = value
            row.setdefault("_step", step)
            self.rows.append(row)
        kept = [(k, raw) for k, raw in self._summary.items() if raw is not None]
        for (key, _), value in zip(kept, _decode_all([raw for _, raw in kept]), strict=True):
            _flatten(key, value, self.summary)
        self._rows, self._raws, self._summary = [], [], {}
        return self

    def _config(self, buf: bytes, a: int, b: int) -> None:
        for number, wire, c, d in pw.iter_spans(buf, a, b):
            if wire != _LEN or number not in (1, 2):
                continue
            parts, value = _item(buf, c, d)
            if parts[0] in ("_wandb", "wandb_version"):
                continue
            if number == 1:
                _set_path(self.config, parts, value)
            else:
                _pop_path(self.config, parts)
                self.removed.append(parts)

    def _run(self, buf: bytes, a: int, b: int) -> None:
        names = {1: "run_id", 2: "entity", 3: "project", 6: "group", 7: "job_type", 8: "display_name", 13: "host"}
        tags: list[str] = []
        for number, wire, c, d in pw.iter_spans(buf, a, b):
            if wire != _LEN:
                continue
            if number in names:
                self.run[names[number]] = buf[c:d].decode("utf-8", "replace")
            elif number == 10:
                tags.append(buf[c:d].decode("utf-8", "replace"))
            elif number == 4:
                self._config(buf, c, d)
            elif number == 17:
                seconds, nanos = 0, 0
                for n2, w2, e, _ in pw.iter_spans(buf, c, d):
                    if n2 == 1 and w2 == pw.VARINT:
                        seconds = pw.to_int64(e)
                    elif n2 == 2 and w2 == pw.VARINT:
                        nanos = pw.to_int32(e)
                self.run["start_time"] = seconds + nanos / 1e9
        self.run["tags"] = tags

    def _environment(self, buf: bytes, a: int, b: int) -> None:
        """An EnvironmentRecord, as the JSON names of `wandb-metadata.json` (later writers add fields)."""
        for number, wire, c, d in pw.iter_spans(buf, a, b):
            if wire == _LEN and number in _ENV_TEXT:
                self.env[_ENV_TEXT[number]] = buf[c:d].decode("utf-8", "replace")
            elif wire == _LEN and number == 5:
                self.env.setdefault("args", []).append(buf[c:d].decode("utf-8", "replace"))
            elif wire == _LEN and number == 9:
                git = {}
                for n2, w2, e, f in pw.iter_spans(buf, c, d):
                    if w2 == _LEN and n2 in (1, 2):
                        git["remote" if n2 == 1 else "commit"] = buf[e:f].decode("utf-8", "replace")
                self.env["git"] = git
            elif wire == _LEN and number == 3:
                seconds = 0
                for n2, w2, e, _ in pw.iter_spans(buf, c, d):
                    if n2 == 1 and w2 == pw.VARINT:
                        seconds = pw.to_int64(e)
                self.env["started_at"] = seconds
            elif wire == pw.VARINT and number in (16, 19):
                self.env["cpu_count" if number == 16 else "gpu_count"] = pw.to_int64(c)


def to_record(d: _Decoded, metadata: dict[str, Any] | None = None) -> RunRecord:
    """The run fields and config of what was decoded (its series are made by `wandb_rows`).
    `metadata`: a `wandb-metadata.json` beside the log, for what the log has no environment record of."""
    from openrlb_cli.ingest.wandb.run_folder import metadata_config

    rec = RunRecord(source="local", external_id="")
    run = d.run
    if run:
        rec.project = run.get("project") or None
        rec.name = run.get("display_name") or run.get("run_id")
        rec.created_at = run.get("start_time")
        rec.tags = list(run.get("tags", []))
        rec.state = "running"
        rec.config.update({f"wandb_{k}": run[k] for k in ("run_id", "entity", "group", "job_type", "host")
                           if run.get(k)})
    if metadata and not d.env.get("program"):
        rec.config.update(metadata_config(metadata))
    rec.config.update(metadata_config(d.env))
    rec.config.update(d.config)
    if d.exit_code is not None:
        rec.state = "finished" if d.exit_code == 0 else "crashed"
        rec.config["wandb_exit_code"] = d.exit_code
    rec.summary = {k: v for k, v in d.summary.items() if not isinstance(v, float) or math.isfinite(v)}
    walls = [r["_timestamp"] for r in d.rows if isinstance(r.get("_timestamp"), (int, float))]
    if walls:
        rec.updated_at = float(max(walls))
    return rec


class WandbOfflineReader:
    """A `.wandb` transaction log (see the module docstring)."""

    name = "wandb-offline"

    def detect(self, path: Path) -> bool:
        if not path.name.endswith(".wandb"):
            return False
        try:
            with open(path, "rb") as f:
                return f.read(6) == FILE_HEADER[:6]
        except OSError:
            return False

    def read(self, path: Path, offset: int, state: dict[str, Any], options: ReadOptions) -> ReadResult:
        results = list(self.iter_read(path, offset, state, options))
        restarts = [i for i, r in enumerate(results) if r.replace]
        results = results[restarts[-1]:] if restarts else results  # a re-read onto a new axis replaces
        if len(results) == 1:
            return results[0]
        merged = results[0].runs[0]
        for res in results[1:]:
            rec = res.runs[0]
            for key, s in rec.series.items():
                merged.add_points(key, s)
            merged.config.update(rec.config)
            merged.summary.update(rec.summary)
            merged.tags += rec.tags
            for f in ("project", "name", "created_at", "state", "updated_at"):
                if getattr(rec, f) is not None:
                    setattr(merged, f, getattr(rec, f))
        last = results[-1]
        return ReadResult([merged], last.offset, last.state, replace=results[0].replace,
                          warnings=[w for r in results for w in r.warnings], complete=last.complete,
                          damage=last.damage)

    def iter_read(self, path: Path, offset: int, state: dict[str, Any], options: ReadOptions
                  ) -> Iterator[ReadResult]:
        metadata = _metadata_beside(path)
        return read_on_axis(path, offset, state, options, lambda start: self._pieces(path, start, metadata))

    def _pieces(self, path: Path, offset: int, metadata: dict[str, Any] | None) -> Iterator[Piece]:
        with open_to_resume(path, offset) as (f, size):
            pos = offset
            while True:
                f.seek(pos)
                data = f.read(PIECE_BYTES)
                at_eof = pos + len(data) >= size
                try:
                    frames = split_records(data, pos, at_eof, keep_prefix=True)
                    if not frames.records and not at_eof and frames.damage is None:  # a record bigger than a piece
                        data += f.read(size - pos - len(data))
                        at_eof = True
                        frames = split_records(data, pos, at_eof, keep_prefix=True)
                    decoded = _Decoded()
                    for rec in frames.records:
                        decoded.add(rec)
                    decoded.finish()
                except WandbLogError as e:
                    raise InputError(f"{path}: corrupt .wandb file: {e}") from None
                except pw.ProtoError as e:
                    raise InputError(f"{path}: corrupt .wandb record after byte {frames.end}: {e}") from None
                damage = None
                if frames.damage is not None:  # keep the records before it; zeros to the end are a tail
                    last = True
                    if not _zero_tail(f, size, frames.damage.offset):
                        damage = f"corrupt .wandb file: {frames.damage}"
                else:
                    last = at_eof or frames.end == pos
                torn = frames.torn or (frames.damage is not None and damage is None)
                yield Piece(to_record(decoded, metadata), decoded.rows, frames.end, not torn, last, damage=damage)
                if last:
                    return
                pos = frames.end


def _zero_tail(f: BinaryIO, size: int, bad: int) -> bool:
    """Whether the damage at `bad` (a chunk's start) is a zero-filled tail: zeros from that chunk's
    header, or from inside its payload, to the end of the file."""
    f.seek(bad)
    head = f.read(HEADER)
    end = bad + HEADER + (int.from_bytes(head[4:6], "little") if len(head) == HEADER else 0)
    return zero_tail_start(f, size) <= end


def _metadata_beside(path: Path) -> dict[str, Any] | None:
    """`files/wandb-metadata.json` of the run folder the log is in (online runs of SDKs whose log has
    no environment record); None when absent or unreadable (the log alone still ingests)."""
    from openrlb_cli.ingest.wandb.run_folder import load_json_object

    for candidate in (path.parent / "files" / "wandb-metadata.json", path.parent / "wandb-metadata.json"):
        if candidate.is_file():
            try:
                return load_json_object(candidate)
            except InputError:
                return None
    return None


WANDB_OFFLINE = WandbOfflineReader()

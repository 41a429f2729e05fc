"""W&B run folders without a `.wandb` log: `wandb-history.jsonl` and the files beside it, read without wandb.

Which SDKs write what (read in wandb's sources; `wandb/sdk/lib/filenames.py` names the files):

* wandb <= 0.9 (the client before wandb-ng, `wandb/history.py`, `wandb/wandb_run.py`) wrote
  `wandb/run-YYYYMMDD_HHMMSS-<id>/` (`dryrun-...` offline) holding `wandb-history.jsonl` -- one
  `json.dumps` row per history step: the logged dict (nested dicts kept nested, media as dicts with
  `_type`) plus `_step`, `_runtime`, `_timestamp`; NaN/Infinity as bare JSON tokens --, then
  `wandb-summary.json`, `config.yaml`, `wandb-metadata.json`, `wandb-events.jsonl` (system stats).
* wandb >= 0.10 keeps those files in `files/` beside a `run-<id>.wandb` log (read by
  `wandb_offline`, which is preferred: the log holds every record). Its senders no longer write the
  history to disk: they stream the same rows (`proto_util.dict_from_proto_list` of each history
  record, `json.dumps`) to the server as `wandb-history.jsonl`, which W&B's run page offers for
  download, so a downloaded or exported run folder has it in `files/`.
* `config.yaml`: `wandb_version: 1`, then each key as `{desc: ..., value: ...}` and `_wandb`
  (SDK internals); `wandb-metadata.json`: program, args, codePath, git {remote, commit}, python,
  os, host, startedAt, ... (the sender's `message_to_dict` of the environment record).

The unit is the run folder (`registry.directory_format`); one run, external id its folder. Rows are
stored on the x axis a fetch would use (`wandb_rows`). Incremental: the history file only grows,
so the offset is the byte after the last complete line; a last line without its newline that is not
valid JSON yet (being written) is left for the next ingest; config, summary and metadata are small
and re-read every time. Mapping: config = config.yaml unwrapped (`wandb_rows.unwrap_config`);
summary = wandb-summary.json without `_wandb`, nested keys dotted; metadata as `wandb_*` config keys
(`metadata_config`) and `created_at` (startedAt); state from the metadata's `state`; run id
(`wandb_run_id`) from the folder name.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from openrlb_cli.errors import InputError
from openrlb_cli.ingest.base import ReadOptions, ReadResult, open_to_resume, read_json
from openrlb_cli.ingest.wandb.local_rows import Piece, read_on_axis
from openrlb_cli.model import RunRecord

HISTORY, SUMMARY, CONFIG, METADATA = "wandb-history.jsonl", "wandb-summary.json", "config.yaml", "wandb-metadata.json"
RUN_FOLDER = re.compile(r"^(?:offline-run|run|dryrun)-\d{8}_\d{6}-(?P<id>[A-Za-z0-9]+)$")
PIECE_BYTES = 8 << 20  # rows as dicts take ~10x their bytes: pieces keep memory bounded
# wandb-metadata.json keys kept as config `wandb_<name>` (email is left out: it is personal). Older SDKs
# wrote JSON names (codePath, startedAt, git.remote), the 0.1x+ sender the proto's (code_path, started_at,
# git.remote_url): both are read.
METADATA_KEYS = {"program": "program", "codePath": "code_path", "code_path": "code_path", "args": "args",
                 "git": "git", "python": "python",
                 "os": "os", "host": "host", "executable": "executable", "root": "root", "username": "username",
                 "docker": "docker", "cuda": "cuda", "gpu": "gpu", "gpu_count": "gpu_count", "cpu_count": "cpu_count"}
STATES = {"running": "running", "finished": "finished", "failed": "crashed", "crashed": "crashed", "killed": "killed"}


def metadata_config(meta: dict[str, Any]) -> dict[str, Any]:
    """A run's environment (`wandb-metadata.json` / the log's environment record) as config keys."""
    out = {}
    for key, name in METADATA_KEYS.items():
        value = meta.get(key)
        if key == "git" and isinstance(value, dict):
            value = {k: v for k, v in (("remote", value.get("remote") or value.get("remote_url")),
                                       ("commit", value.get("commit"))) if v}
        if value not in (None, "", [], {}):
            out[f"wandb_{name}"] = value
    return out


def files_dir(folder: Path) -> Path:
    """Where the run's files are: `files/` (wandb >= 0.10) or the folder itself (older SDKs)."""
    return folder / "files" if (folder / "files").is_dir() else folder


def is_run_folder(path: Path) -> bool:
    """A W&B run folder: named `run-<time>-<id>` (or offline-run-, dryrun-) and holding W&B run files,
    or any folder with a `wandb-history.jsonl` next to a summary or metadata file."""
    where = files_dir(path)
    if RUN_FOLDER.match(path.name):
        return any((where / n).is_file() for n in (HISTORY, SUMMARY, METADATA, CONFIG)) or bool(wandb_logs(path))
    return (where / HISTORY).is_file() and ((where / SUMMARY).is_file() or (where / METADATA).is_file())


def wandb_logs(folder: Path) -> list[Path]:
    """The `.wandb` transaction logs in a run folder (the modern SDK's full record of the run)."""
    from openrlb_cli.ingest.wandb.offline import WANDB_OFFLINE

    try:
        return sorted(p for p in folder.glob("*.wandb") if WANDB_OFFLINE.detect(p))
    except OSError:
        return []


def load_json_object(path: Path) -> dict[str, Any]:
    value = read_json(path)
    if not isinstance(value, dict):
        raise InputError(f"{path}: expected a JSON object")
    return value


def _optional_object(path: Path, what: str, warnings: list[str]) -> dict[str, Any]:
    """A side file the history does not need: unreadable is a warning and an empty object."""
    try:
        return load_json_object(path)
    except InputError as e:
        warnings.append(f"{e}; {what} left out")
        return {}


def _started(text: Any) -> float | None:
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()


def _flatten_row(obj: dict[str, Any]) -> dict[str, Any]:
    from openrlb_cli.ingest.wandb.offline import _flatten

    row: dict[str, Any] = {}
    for key, value in obj.items():
        _flatten(key, value, row)
    return row


def run_record(folder: Path, warnings: list[str]) -> RunRecord:
    """The run fields from config.yaml, wandb-summary.json and wandb-metadata.json (each optional; an
    unreadable one is a warning, the history still ingests)."""
    from openrlb_cli.wandb_rows import unwrap_config

    where = files_dir(folder)
    rec = RunRecord(source="local", external_id="")
    m = RUN_FOLDER.match(folder.name)
    if m:
        rec.config["wandb_run_id"] = m["id"]
    config_path, summary_path, meta_path = where / CONFIG, where / SUMMARY, where / METADATA
    if config_path.is_file():
        from openrlb_cli.ingest import yaml_safe

        try:
            loaded = yaml_safe.load_path(config_path)
        except Exception as e:  # noqa: BLE001 - a half-written config.yaml must not stop the history
            warnings.append(f"{config_path}: not valid YAML ({e}); config left out")
            loaded = {}
        if isinstance(loaded, dict):
            rec.config.update(unwrap_config(loaded))
    if meta_path.is_file():
        meta = _optional_object(meta_path, "metadata", warnings)
        rec.config.update(metadata_config(meta))
        rec.created_at = _started(meta.get("startedAt") or meta.get("started_at"))
        rec.state = STATES.get(str(meta.get("state", "")).lower())
        if isinstance(meta.get("exitcode"), int):
            rec.config["wandb_exit_code"] = meta["exitcode"]
    if summary_path.is_file():
        summary = _optional_object(summary_path, "summary", warnings)
        summary.pop("_wandb", None)
        rec.summary = {k: v for k, v in _flatten_row(summary).items() if not isinstance(v, float) or math.isfinite(v)}
    return rec


def _rows_of(lines: list[bytes], start: int, path: Path) -> list[dict[str, Any]]:
    """Lines (the file's, from byte `start`) as JSON objects, blank lines skipped: all at once (one
    `json.loads` of the joined lines), else one at a time to name the bad one by its byte offset."""
    text = [line for line in lines if line.strip()]
    if not text:
        return []
    try:
        rows = json.loads(b"[" + b",".join(text) + b"]")
        if len(rows) == len(text) and all(type(r) is dict for r in rows):
            return rows
    except ValueError:
        pass
    rows, pos = [], start
    for line in lines:
        if line.strip():
            try:
                obj = json.loads(line)
            except ValueError as e:
                raise InputError(f"{path}: line at byte {pos} is not JSON ({e})") from None
            if not isinstance(obj, dict):
                raise InputError(f"{path}: line at byte {pos} is not a JSON object")
            rows.append(obj)
        pos += len(line) + 1
    return rows


def parse_lines(data: bytes, start: int, at_eof: bool, path: Path) -> tuple[list[dict[str, Any]], int, bool]:
    """Rows of the complete lines of `data` (the file from byte `start`): (rows, end offset, torn).
    A last line without a newline counts when it is a whole JSON object already."""
    cut = data.rfind(b"\n") + 1
    body, tail = data[:cut], data[cut:]
    rows = _rows_of(body.split(b"\n")[:-1], start, path)
    end, torn = start + cut, False
    if tail.strip() and at_eof:
        try:
            obj = json.loads(tail)
        except ValueError:
            torn = True  # being written: read it next time
        else:
            if isinstance(obj, dict):
                rows.append(obj)
                end += len(tail)
            else:
                torn = True
    return [_flatten_row(r) if any(type(v) is dict for v in r.values()) else r for r in rows], end, torn


class WandbFilesReader:
    """A W&B run folder without a `.wandb` log (see the module docstring)."""

    name = "wandb-files"

    def detect(self, path: Path) -> bool:
        return path.is_dir() and is_run_folder(path) and not wandb_logs(path)

    def read(self, path: Path, offset: int, state: dict[str, Any], options: ReadOptions) -> ReadResult:
        results = list(self.iter_read(path, offset, state, options))
        restarts = [i for i, r in enumerate(results) if r.replace]
        results = results[restarts[-1]:] if restarts else results
        merged = results[0]
        for res in results[1:]:
            for key, s in res.runs[0].series.items():
                merged.runs[0].add_points(key, s)
            merged.warnings += res.warnings
            merged.offset, merged.state, merged.complete = res.offset, res.state, res.complete
        return merged

    def iter_read(self, path: Path, offset: int, state: dict[str, Any], options: ReadOptions
                  ) -> Iterator[ReadResult]:
        if not path.is_dir():
            raise InputError(f"{path}: not a W&B run folder")
        return read_on_axis(files_dir(path) / HISTORY, offset, state, options, lambda start: self._pieces(path, start))

    def _pieces(self, folder: Path, offset: int) -> Iterator[Piece]:
        warnings: list[str] = []
        rec = run_record(folder, warnings)
        history = files_dir(folder) / HISTORY
        if not history.is_file():
            yield Piece(rec, [], 0, True, True, warnings)
            return
        with open_to_resume(history, offset) as (f, size):
            pos = offset
            while True:
                f.seek(pos)
                data = f.read(PIECE_BYTES)
                at_eof = pos + len(data) >= size
                if not at_eof and b"\n" not in data:  # one line longer than a piece
                    data += f.read(size - pos - len(data))
                    at_eof = True
                rows, end, torn = parse_lines(data, pos, at_eof, history)
                if rows:
                    stamps = [r["_timestamp"] for r in rows if type(r.get("_timestamp")) in (int, float)]
                    if stamps:
                        rec.updated_at = float(max(stamps))
                last = at_eof or end == pos
                yield Piece(rec, rows, end, not torn, last, warnings)
                if last:
                    return
                rec, warnings, pos = RunRecord(source="local", external_id=""), [], end


WANDB_FILES = WandbFilesReader()

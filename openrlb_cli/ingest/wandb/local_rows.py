"""Local W&B history rows (`.wandb` logs, `wandb-history.jsonl`) onto the x axis a fetch would use.

A run fetched from W&B is stored against `global_step` when it logs it, else against `_step`
(`wandb_rows.choose_x_axis`, rows joined by `rows_to_series`: a point exists only where its
row has a finite x, the rest are counted as dropped). Local readers apply the same two functions
to the same rows, so an offline run ingested before `wandb sync` and the same run fetched after it
give the same series. `--step-column KEY` picks another axis, as `--x-axis` does for a fetch.

The axis of a growing log is decided incrementally and kept in the unit's state (`x_axis`):

* the first rows read decide: `global_step` (or the wanted key) if any of them holds it, else `_step`;
* a run stored against `_step` whose new rows now hold the wanted key ("logs it" from then on, as
  W&B's `historyKeys` would say) is read again from byte 0 onto the new axis, the first result with
  `replace=True` (and an empty series for every key that has no point on it), so nothing is stored
  twice and nothing stays on the old axis. This happens at most once per run: the axis only ever
  moves from `_step` to the wanted key;
* a unit stored by an earlier openrlb (offset > 0, no `x_axis` in its state: its points are on
  `_step`) is read again from byte 0 the same way, once.

The axis is chosen when a unit is first read: a later `--step-column` for the same file does not move
its stored points (remove the run and ingest again for that). A wanted key the rows do not hold is
said in a warning, as a fetch says it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openrlb_cli.ingest.base import ReadOptions, ReadResult
from openrlb_cli.model import RunRecord, Series
from openrlb_cli.wandb_rows import STEP, choose_x_axis, rows_to_series

ALL_ROWS = -(2**62)  # floor below every _step: a local read never re-reads rows it stored


@dataclass
class Piece:
    """What a reader decoded from one stretch of its file: a run record without series, its rows."""

    record: RunRecord
    rows: list[dict[str, Any]]
    end: int  # offset after the last complete unit (record / line) of the piece
    complete: bool = True  # False: a torn tail was left for the next read
    last: bool = True  # no more pieces follow
    warnings: list[str] = field(default_factory=list)
    damage: str | None = None  # the file is damaged at `end` (see `ReadResult.damage`)


def axis_of(rows: list[dict[str, Any]], wanted: str | None) -> str:
    """The fetch rule (`choose_x_axis`) on the keys these rows hold."""
    keys: dict[str, Any] = {}
    for row in rows:
        keys.update(dict.fromkeys(row))
    return choose_x_axis({"historyKeys": {"keys": keys}}, wanted)[0]


def read_on_axis(path: Path, offset: int, state: dict[str, Any], options: ReadOptions,
                 pieces: Callable[[int], Iterator[Piece]]) -> Iterator[ReadResult]:
    """ReadResults of the pieces from `offset`, their rows on the run's x axis (module docstring).
    `pieces(start)` decodes the file from byte `start` (0 or a unit boundary) in pieces."""
    wanted = options.step_column
    axis = state.get("x_axis")
    replace = False
    if axis is None and offset > 0:  # stored by an openrlb before the axis rule: on _step
        offset, replace = 0, True
    while True:
        restart = False
        for piece in pieces(offset):
            if axis is None:
                axis = axis_of(piece.rows, wanted)
            elif axis == STEP and axis_of(piece.rows, wanted) != STEP:
                axis, offset, replace, restart = axis_of(piece.rows, wanted), 0, True, True
                break
            yield _result(path, piece, axis, replace, wanted)
            replace = False
        if not restart:
            return


def _result(path: Path, piece: Piece, axis: str, replace: bool, wanted: str | None = None) -> ReadResult:
    rec = piece.record
    rec.series, dropped = rows_to_series(piece.rows, {}, ALL_ROWS, axis)
    if replace and axis != STEP:  # keys whose every point was dropped: emptied, not left on _step
        for key in rows_to_series(piece.rows, {}, ALL_ROWS, STEP)[0]:
            rec.series.setdefault(key, Series.empty())
    warnings = list(piece.warnings)
    if wanted not in (None, STEP, axis) and piece.rows:
        warnings.append(f"{path}: no row logs {wanted!r} (yet): its points are stored against W&B's _step")
    if dropped:
        warnings.append(f"{path}: {dropped} points left out: their rows have no {axis!r} (stored against {axis})")
    return ReadResult([rec], piece.end, {"x_axis": axis}, replace=replace, warnings=warnings,
                      complete=piece.complete, damage=piece.damage)


"""TensorBoard event files as a `Reader`: streams batches so huge files keep memory bounded."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from openrlb_cli.errors import InputError
from openrlb_cli.ingest.base import ReadOptions, ReadResult
from openrlb_cli.ingest.tensorboard import batch as tfbatch
from openrlb_cli.ingest.tensorboard import events as tfevents
from openrlb_cli.ingest.tensorboard.protowire import HPARAMS_TAG
from openrlb_cli.model import RunRecord, Series

HPARAM_TAGS = ("hyperparameters/text_summary", "hyperparameters")


class TensorBoardReader:
    name = "tensorboard"
    READ_MANY_BYTES = tfbatch.MAX_FILE_BYTES  # files with at most this much new data go to read_many

    def detect(self, path: Path) -> bool:
        return tfevents.is_event_file(path)

    def read(self, path: Path, offset: int, state: dict[str, Any], options: ReadOptions) -> ReadResult:
        results = list(self.iter_read(path, offset, state, options))
        runs = [r for res in results for r in res.runs]
        merged = RunRecord(source="local", external_id="")
        for rec in runs:
            merged.config.update(rec.config)
            if rec.restart_at is not None:  # a marker in this batch preempts the earlier batches' points
                cut = rec.restart_at
                merged.series = {k: Series(s.steps[~(s.steps >= cut)], s.values[~(s.steps >= cut)],
                                           s.wall_times[~(s.steps >= cut)]) for k, s in merged.series.items()}
                merged.restart_at = cut if merged.restart_at is None else min(merged.restart_at, cut)
            for key, s in rec.series.items():
                merged.add_points(key, s)
        last = results[-1]
        return ReadResult([merged], offset=last.offset, state=last.state, complete=last.complete,
                          damage=last.damage)

    def read_many(self, files: list[tuple[Path, int]], options: ReadOptions) -> list[ReadResult | Exception]:
        """Small files read to their end together (`tfbatch`): per file its ReadResult, or its error."""
        out: list[ReadResult | Exception] = []
        for (path, start), got in zip(files, tfbatch.read_many(files), strict=True):
            if isinstance(got, tfevents.CorruptEventFile):  # read alone: the records before the damage
                try:
                    out.append(self.read(path, start, {}, options))
                except InputError as exc:
                    out.append(exc)
            elif isinstance(got, Exception):
                out.append(got)
            else:
                out.append(ReadResult([self._record(got)], offset=got.end_offset, state={}, complete=not got.torn_tail))
        return out

    @staticmethod
    def _record(batch: tfevents.ScalarBatch) -> RunRecord:
        rec = RunRecord(source="local", external_id="", restart_at=batch.restart_at)
        for tag, (steps, values, walls) in batch.tags.items():
            rec.series[tag] = Series(steps, values, walls)
        for tag in HPARAM_TAGS:
            if tag in batch.texts:
                rec.config.update(tfevents.parse_hparams_markdown(batch.texts[tag]))
        if HPARAMS_TAG in batch.texts:  # the hparams plugin's values win over a text table's strings
            rec.config.update(json.loads(batch.texts[HPARAMS_TAG]))
        return rec

    def iter_read(
        self, path: Path, offset: int, state: dict[str, Any], options: ReadOptions
    ) -> Iterator[ReadResult]:
        try:
            for batch in tfevents.iter_scalar_batches(path, start_offset=offset, keep_prefix=True):
                damage = None if batch.damage is None else f"corrupt event file: {batch.damage}"
                yield ReadResult([self._record(batch)], offset=batch.end_offset, state={},
                                 complete=not batch.torn_tail, damage=damage)
        except tfevents.CorruptEventFile as exc:
            raise InputError(f"{path}: corrupt event file: {exc}") from exc


TENSORBOARD = TensorBoardReader()

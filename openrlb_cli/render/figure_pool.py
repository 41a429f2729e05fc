"""Figure files drawn and saved in worker processes, started early so their imports overlap the statistics.

Why: `openrlb aggregate` on 55 Atari games spends about as long writing 4 figures × 3 formats
(matplotlib rendering, fontTools subsetting for every PDF) as computing its 50,000-replicate
intervals, and that writing is single-threaded Python. Every (figure, format) file is independent, so a
pool of processes writes them side by side. The pool is started before the statistics are computed: its
workers import matplotlib and the renderers (and warm matplotlib's font caches) while the parent imports
scipy and computes, instead of afterwards.

Workers are forked (they inherit the parent's imports and start in milliseconds), so the pool exists only
where ``fork`` is available (Linux); elsewhere, or with one process, `start` returns None and callers
write in-process. A file is drawn from the same data with the same rc settings either way, so its bytes
do not depend on where it was written (tests check this).
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

#: Most worker processes a pool starts (there are at most 4 figures × 3 formats to write).
MAX_PROCESSES = 4

#: ``("package.module:function", kwargs, path, dpi)``: ``function(**kwargs)`` returns the Figure to save at
#: ``path``. The drawing function is named, not passed, so the parent process never imports matplotlib.
FigureJob = tuple[str, dict[str, Any], Path, int]


def _warm() -> None:
    """Import the renderers and draw a tiny figure once, so the first real file pays no setup."""
    import io

    import matplotlib
    from matplotlib.figure import Figure

    from openrlb_cli.render import figures as fg
    from openrlb_cli.render import rliable_figures  # noqa: F401  (imports what the drawing needs)

    with matplotlib.rc_context(fg.RC):
        fig = Figure(figsize=(1, 1))
        fig.subplots().set_title("0")
        for fmt in ("png", "pdf", "svg"):
            fig.savefig(io.BytesIO(), format=fmt, metadata=fg.METADATA[fmt])


def resolve(draw: str) -> Any:
    """``"package.module:function"`` -> the function."""
    import importlib

    module, _, function = draw.partition(":")
    return getattr(importlib.import_module(module), function)


def save_one(draw: str, kwargs: dict[str, Any], path: Path, dpi: int) -> Path:
    """Draw one figure under the shared rc settings and write it to ``path`` (format from its suffix)."""
    import matplotlib

    from openrlb_cli.render import figures as fg

    with matplotlib.rc_context(fg.RC):
        return fg.save_figure(resolve(draw)(**kwargs), [path], dpi)[0]


def _cost(path: Path) -> int:
    return {".pdf": 0, ".png": 1, ".svg": 2}.get(path.suffix, 1)  # PDFs (font subsetting) first


def _write_share(jobs: Sequence[FigureJob], helpers: int) -> list[Path]:
    """In the leader worker: fork ``helpers`` warmed copies of itself and write the jobs together."""
    if helpers < 1 or len(jobs) < 2:
        return [save_one(*job) for job in jobs]
    order = sorted(range(len(jobs)), key=lambda k: _cost(jobs[k][2]))
    mine, theirs = order[:: helpers + 1], [k for k in order if k not in order[:: helpers + 1]]
    out: dict[int, Path] = {}
    with ProcessPoolExecutor(helpers, mp_context=multiprocessing.get_context("fork")) as pool:
        futures = {k: pool.submit(save_one, *jobs[k]) for k in theirs}
        for k in mine:
            out[k] = save_one(*jobs[k])
        for k, future in futures.items():
            out[k] = future.result()
    return [out[k] for k in range(len(jobs))]


class FigurePool:
    """Worker processes that write figure files; use `start` (None where a pool cannot help).

    One leader process is forked at once and warms up (imports, fonts) while the parent computes; when
    the files are due it forks the other ``processes - 1`` from its warmed self, so the import and
    warm-up are paid once, in otherwise idle time.
    """

    def __init__(self, processes: int):
        self.processes = processes
        self._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork"))
        self._warming = self._pool.submit(_warm)  # forks the leader now

    def write(self, jobs: Sequence[FigureJob]) -> list[Path]:
        """Write every job's file; returns the paths in the order of ``jobs``. Errors are re-raised."""
        try:
            return self._pool.submit(_write_share, list(jobs), self.processes - 1).result()
        except BrokenProcessPool:  # a worker died (out of memory, killed): write in-process instead
            return [save_one(*job) for job in jobs]

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> FigurePool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def start(workers: int | None = None) -> FigurePool | None:
    """A pool of ``min(workers or cores, MAX_PROCESSES)`` processes, or None (one core, no fork)."""
    n = min(MAX_PROCESSES, os.cpu_count() or 1) if workers is None else min(MAX_PROCESSES, int(workers))
    if n < 2 or not sys.platform.startswith("linux") or "fork" not in multiprocessing.get_all_start_methods():
        return None
    return FigurePool(n)

"""Read the next batch of a big file while the current one is written to the store.

Why: a large ingest alternates between numpy decoding (the reader) and SQLite writing (the store);
both release the GIL for most of their work, so on a machine with two cores running the reader one
batch ahead in a thread overlaps the two.  At most ``depth`` batches wait in the queue, so memory
stays bounded by a few batches.  Errors raised by the reader are raised to the consumer, in order.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterator
from typing import TypeVar

T = TypeVar("T")
_END = object()
_POLL = 0.05  # seconds between checks that the consumer still wants batches


def prefetched(items: Iterator[T], depth: int = 1) -> Generator[T, None, None]:
    """Yield ``items`` in order, producing each next one in a background thread.

    Closing the returned generator (or leaving it by an exception) stops the producer after the item
    it is producing, and closes ``items`` in that thread."""
    q: queue.Queue[tuple[object, BaseException | None]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(entry: tuple[object, BaseException | None]) -> bool:
        while not stop.is_set():
            try:
                q.put(entry, timeout=_POLL)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((item, None)):
                    break
            else:
                put((_END, None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, re-raised there
            put((_END, exc))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=produce, name="openrlb-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item, exc = q.get()
            if exc is not None:
                raise exc
            if item is _END:
                return
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        worker.join()

"""prefetched(): order, bounded read-ahead, errors in order, and a clean stop when the consumer leaves."""

from __future__ import annotations

import threading
import time

import pytest

from openrlb_cli.ingest.prefetch import prefetched


def test_yields_everything_in_order():
    assert list(prefetched(iter(range(1000)))) == list(range(1000))
    assert list(prefetched(iter([]))) == []


def test_read_ahead_is_bounded():
    produced: list[int] = []

    def source():
        for i in range(20):
            produced.append(i)
            yield i

    it = prefetched(source(), depth=1)
    for consumed in range(5):
        assert next(it) == consumed
        time.sleep(0.05)  # give the producer every chance to run ahead
        # one item in the queue, one being produced (blocked on the full queue), no more
        assert len(produced) <= consumed + 3
    it.close()


def test_errors_arrive_after_the_items_before_them():
    class Boom(ValueError):
        pass

    def source():
        yield 1
        yield 2
        raise Boom("bad batch")

    got = []
    with pytest.raises(Boom, match="bad batch"):
        for item in prefetched(source()):
            got.append(item)
    assert got == [1, 2]


def test_leaving_early_stops_the_producer_and_closes_the_source():
    closed = threading.Event()
    produced: list[int] = []

    def source():
        try:
            for i in range(10**9):
                produced.append(i)
                yield i
        finally:
            closed.set()

    it = prefetched(source())
    assert next(it) == 0
    it.close()  # what a for loop leaving by an exception does via contextlib.closing
    assert closed.wait(2)
    n = len(produced)
    time.sleep(0.1)
    assert len(produced) == n < 10
    assert not any(t.name == "openrlb-prefetch" for t in threading.enumerate())

"""Giving back the memory of closed charger connections (``sessions_app.ocpp.memory``): a full collection and a
trim after every ``EVERY_CLOSED`` closes (or as many as are still open, if more), and once none has closed for
``WHEN_QUIET`` seconds. The event loop's clock is moved by the test, never slept on."""

import asyncio
import gc
import sys
import weakref

import pytest

from sessions_app.ocpp import memory


class Clock:
    """An event loop's clock that only moves when the test says so."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.now = loop.time()
        loop.time = lambda: self.now  # type: ignore[method-assign]

    async def advance(self, seconds: float) -> None:
        """Move on and let the loop run what fell due (a timer runs on the loop's next turn)."""
        self.now += seconds
        for _ in range(3):
            await asyncio.sleep(0)


@pytest.fixture
def collections(monkeypatch) -> list[str]:
    """What the collector did, in order: "gc" for a full collection, "trim" for the hand-back to the system."""
    done: list[str] = []
    monkeypatch.setattr(memory.gc, "collect", lambda *args: done.append("gc") or 0)
    monkeypatch.setattr(memory, "_malloc_trim", lambda pad: done.append("trim") or 1)
    return done


def run(scenario):
    """Run ``scenario(collector, clock)`` on a fresh loop with a clock of the test's own."""

    async def main():
        return await scenario(memory._Collector(), Clock(asyncio.get_running_loop()))

    return asyncio.run(main())


def test_a_full_collection_then_a_trim_follow_the_thousandth_close_and_the_count_starts_again(collections):
    async def scenario(collector, clock):
        for _ in range(memory.EVERY_CLOSED - 1):
            collector.connection_closed(still_open=0)
        before = list(collections)
        collector.connection_closed(still_open=0)
        return before, list(collections), collector.closed

    before, after, closed = run(scenario)
    assert before == []
    assert after == ["gc", "trim"]
    assert closed == 0  # counted from nought again


def test_with_more_connections_open_than_the_count_it_waits_for_as_many_closes_as_are_open(collections):
    async def scenario(collector, clock):
        for _ in range(memory.EVERY_CLOSED):
            collector.connection_closed(still_open=3000)
        at_a_thousand = list(collections)
        for _ in range(3000 - memory.EVERY_CLOSED):
            collector.connection_closed(still_open=3000)
        return at_a_thousand, list(collections)

    at_a_thousand, at_three_thousand = run(scenario)
    assert at_a_thousand == []  # each collection pauses every open connection: not more often than they close
    assert at_three_thousand == ["gc", "trim"]


def test_a_few_closes_are_collected_once_none_has_closed_for_the_quiet_time(collections):
    async def scenario(collector, clock):
        for _ in range(3):
            collector.connection_closed(still_open=10)
        await clock.advance(memory.WHEN_QUIET - 0.1)
        before = list(collections)
        await clock.advance(0.2)
        return before, list(collections), collector.closed, collector.quiet

    before, after, closed, quiet = run(scenario)
    assert before == []
    assert after == ["gc", "trim"]
    assert (closed, quiet) == (0, None)


def test_each_close_restarts_the_quiet_time(collections):
    async def scenario(collector, clock):
        collector.connection_closed(still_open=0)
        first = collector.quiet
        await clock.advance(memory.WHEN_QUIET - 1)
        collector.connection_closed(still_open=0)  # a burst goes on: no collection in the middle of it
        await clock.advance(2)
        in_the_burst = list(collections)
        await clock.advance(memory.WHEN_QUIET - 2)
        return first.cancelled(), in_the_burst, list(collections)

    first_cancelled, in_the_burst, after = run(scenario)
    assert first_cancelled
    assert in_the_burst == []
    assert after == ["gc", "trim"]  # once, for both closes


def test_after_a_collection_by_count_what_the_burst_left_is_collected_once_it_goes_quiet(collections):
    """The connections closing with the thousandth are not garbage yet when it closes (their sockets are still
    closing): one more collection once nothing closes, not a thousand closes later."""

    async def scenario(collector, clock):
        for _ in range(memory.EVERY_CLOSED):
            collector.connection_closed(still_open=0)
        await clock.advance(memory.WHEN_QUIET - 0.1)
        by_count = list(collections)
        await clock.advance(0.2)
        when_quiet = list(collections)
        await clock.advance(memory.WHEN_QUIET * 10)
        return by_count, when_quiet, list(collections), collector.quiet

    by_count, when_quiet, much_later, quiet = run(scenario)
    assert by_count == ["gc", "trim"]
    assert when_quiet == ["gc", "trim"] * 2
    assert much_later == when_quiet and quiet is None  # quiet stays quiet: no timer re-arms itself


def test_a_collection_frees_what_only_reference_cycles_keep(monkeypatch):
    """The point of it all: a closed connection's objects sit in cycles, which only a full collection frees."""

    class Connection:
        pass

    gc.disable()  # nothing collects behind the test's back
    try:
        closed = Connection()
        closed.myself = closed  # type: ignore[attr-defined]
        alive = weakref.ref(closed)
        del closed
        assert alive() is not None
        memory._Collector().collect()
        assert alive() is None
    finally:
        gc.enable()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim: the server runs on Linux")
def test_on_glibc_freed_memory_is_handed_back_to_the_system():
    assert memory._malloc_trim is not None
    assert memory._malloc_trim(0) in (0, 1)  # 1: memory was released, 0: there was none to release

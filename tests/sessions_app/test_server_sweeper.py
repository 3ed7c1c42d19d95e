"""Without a broker there is no beat: the ASGI server sweeps itself while it runs (post-stop work, connections
left open)."""

import asyncio

import pytest
from asgiref.testing import ApplicationCommunicator

import chargeportal.asgi
from sessions_app import sweeper as server_sweeper
from sessions_app.post_stop import PostStopSweep
from sessions_app.sweeper import sweeper_start

SWEPT = PostStopSweep(requeued=0, done=0, failed=0)


@pytest.fixture
def sweeps(settings, monkeypatch):
    """Eager tasks, a sweep every second right from the start; each post-stop sweep recorded instead of run,
    the connection sweep finding nothing (the real sweeps in a server: tests/e2e/test_crash_safety.py).
    Returns the list of post-stop sweeps so far."""
    settings.CELERY_TASK_ALWAYS_EAGER, settings.POST_STOP_SWEEP_SECONDS = True, 1
    monkeypatch.setattr(server_sweeper, "FIRST_SWEEP_DELAY", 0.01)
    monkeypatch.setattr(chargeportal.asgi, "disconnect_all", _nothing)
    done = []
    monkeypatch.setattr(server_sweeper, "post_stop_sweep", lambda: done.append(SWEPT) or SWEPT)
    monkeypatch.setattr(server_sweeper, "charge_points_disconnect_silent", lambda: 0)
    return done


async def _nothing():
    pass


def _sweepers() -> list[asyncio.Task]:
    return [task for task in asyncio.all_tasks() if task.get_name() == "sweeper"]


async def _until(condition, timeout: float = 5) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


def test_the_lifespan_starts_the_sweeper_at_startup_and_cancels_it_at_shutdown(sweeps):
    async def serve():
        lifespan = ApplicationCommunicator(chargeportal.asgi.lifespan, {"type": "lifespan"})
        await lifespan.send_input({"type": "lifespan.startup"})
        assert await lifespan.receive_output(1) == {"type": "lifespan.startup.complete"}
        [sweeper] = _sweepers()
        await _until(lambda: len(sweeps) == 1)  # shortly after the start, not a whole interval later

        await lifespan.send_input({"type": "lifespan.shutdown"})
        assert await lifespan.receive_output(1) == {"type": "lifespan.shutdown.complete"}
        assert sweeper.cancelled() and not _sweepers()

    asyncio.run(serve())
    assert len(sweeps) == 1  # the next sweep was a second away when the server stopped


def test_a_failed_sweep_is_logged_and_the_next_one_comes_as_usual(sweeps, monkeypatch, caplog):
    failures = []

    def sweep():
        if not failures:
            failures.append(1)
            raise RuntimeError("database gone")
        sweeps.append(SWEPT)
        return SWEPT

    monkeypatch.setattr(server_sweeper, "post_stop_sweep", sweep)

    async def serve():
        sweeper = sweeper_start()
        await _until(lambda: sweeps, timeout=5)
        assert not sweeper.done()
        await server_sweeper.sweeper_stop(sweeper)

    asyncio.run(serve())
    assert failures and sweeps
    assert "The post-stop sweep failed" in caplog.text and "database gone" in caplog.text


def test_the_connection_sweep_runs_each_round_even_when_the_post_stop_sweep_fails(sweeps, monkeypatch, caplog):
    def broken():
        raise RuntimeError("a bug in a gap finder")

    connection_sweeps = []
    monkeypatch.setattr(server_sweeper, "post_stop_sweep", broken)
    monkeypatch.setattr(server_sweeper, "charge_points_disconnect_silent", lambda: connection_sweeps.append(2) or 2)

    async def serve():
        sweeper = sweeper_start()
        await _until(lambda: connection_sweeps, timeout=5)
        await server_sweeper.sweeper_stop(sweeper)

    with caplog.at_level("INFO", logger=server_sweeper.__name__):
        asyncio.run(serve())
    assert connection_sweeps == [2]
    assert "The post-stop sweep failed" in caplog.text and "Connection sweep: 2" in caplog.text


def test_with_a_broker_the_server_leaves_sweeping_to_the_beat(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    assert sweeper_start() is None

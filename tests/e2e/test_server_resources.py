"""Bounded resources, against the real server (uvicorn in its own process): database connections from the pool,
disconnect handling however a charger's socket ends, a stop (SIGTERM) with hundreds connected, the largest frame,
memory back within its budget after thousands of connections, and a stop that still works after them."""

import asyncio
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.request import urlopen

import pytest
import websockets
from django.urls import reverse

from sessions_app.models import ChargePoint, ChargerConnection, ChargerEvent
from sessions_app.ocpp import memory
from tests.e2e.conftest import ServerProcess
from tests.factories import make_organization, make_site

POOL_SIZE = 4
SERVER_APP_NAME = "cp-test-pooled-server"


def _chargers(count: int, prefix: str = "RES") -> list[ChargePoint]:
    site = make_site(make_organization("Resources"))
    return ChargePoint.objects.bulk_create(
        [
            ChargePoint(
                organization=site.organization,
                site=site,
                ocpp_id=f"{prefix}-{n:04d}",
                registration_status=ChargePoint.RegistrationStatus.ACCEPTED,
            )
            for n in range(count)
        ]
    )


async def _open(server_url: str, ocpp_id: str, **options) -> websockets.ClientConnection:
    return await websockets.connect(
        f"{server_url}/ocpp/{ocpp_id}", subprotocols=["ocpp1.6"], ping_interval=None, **options
    )


def _call(unique_id: str, action: str, payload: dict) -> str:
    return json.dumps([2, unique_id, action, payload])


def _wait_until(condition, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _connected(charge_points: list[ChargePoint]) -> tuple[int, int]:
    """Chargers with a channel, and connection records still open."""
    ids = [cp.pk for cp in charge_points]
    return (
        ChargePoint.objects.filter(pk__in=ids).exclude(channel_name="").count(),
        ChargerConnection.objects.filter(charge_point_id__in=ids, disconnected_at__isnull=True).count(),
    )


def _server_connections() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = %s",
            [SERVER_APP_NAME],
        )
        return cursor.fetchone()[0]


def test_database_connections_stay_within_the_pool_under_many_requests(server_process):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("Counts PostgreSQL's connections: set DATABASE_URL to a PostgreSQL database (CI does).")
    server = server_process(DATABASE_POOL_SIZE=str(POOL_SIZE), PGAPPNAME=SERVER_APP_NAME, API_RATE_ANON="100000/min")
    server.start()
    url = server.url.replace("ws://", "http://") + reverse("api:signup_operators")

    def get(_n: int) -> int:
        with urlopen(url, timeout=30) as response:  # noqa: S310 - our own server on loopback
            return response.status

    with ThreadPoolExecutor(max_workers=12) as requests:
        answers = [requests.submit(get, n) for n in range(150)]
        most = 0
        while not all(answer.done() for answer in answers):
            most = max(most, _server_connections())
            time.sleep(0.02)
        statuses = [answer.result() for answer in answers]
    most = max(most, _server_connections())
    assert statuses == [200] * 150
    assert 0 < most <= POOL_SIZE, f"{most} connections for a pool of {POOL_SIZE}"
    assert _server_connections() <= POOL_SIZE


@pytest.mark.parametrize("ending", ["dropped", "closed with 1011"])
def test_disconnect_is_stored_when_a_charger_goes_in_the_middle_of_many_pipelined_calls(server_process, ending):
    [charge_point] = _chargers(1)
    server = server_process()
    server.start()

    async def pipeline_then_go() -> None:
        ws = await _open(server.url, charge_point.ocpp_id, close_timeout=2)
        for n in range(2000):
            await ws.send(_call(f"hb-{n}", "Heartbeat", {}))
        if ending == "dropped":
            ws.transport.abort()
        else:
            await ws.close(code=1011)

    asyncio.run(pipeline_then_go())
    assert _wait_until(lambda: _connected([charge_point]) == (0, 0)), (
        f"still connected: {_connected([charge_point])}\n{server.log_tail()}"
    )


@pytest.mark.parametrize("refused_by", ["uvicorn", "consumer"])
def test_a_frame_over_the_limit_is_closed_with_1009_and_nothing_is_stored(server_process, refused_by):
    [charge_point] = _chargers(1)
    server = server_process()
    if refused_by == "consumer":  # a server that reads large frames itself (not uvicorn with --ws-max-size)
        server.env["UVICORN_WS_MAX_SIZE"] = str(16 * 1024 * 1024)
    server.start()
    huge = _call("big-1", "DataTransfer", {"vendorId": "Huge", "data": "x" * 2 * 1024 * 1024})

    async def send_huge() -> int:
        ws = await _open(server.url, charge_point.ocpp_id)
        try:
            await ws.send(huge)
            await ws.recv()
        except websockets.ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else None
        return None

    assert asyncio.run(send_huge()) == 1009
    assert not ChargerEvent.objects.filter(charge_point=charge_point).exists()
    assert _wait_until(lambda: _connected([charge_point]) == (0, 0))


def test_a_stop_with_hundreds_connected_tells_them_to_reconnect_ends_their_connections_and_frees_the_port(
    server_process,
):
    charge_points = _chargers(300, prefix="STOP")
    server = server_process()
    server.start()

    async def open_all() -> list[websockets.ClientConnection]:
        limit = asyncio.Semaphore(50)

        async def one(cp: ChargePoint) -> websockets.ClientConnection:
            async with limit:
                return await _open(server.url, cp.ocpp_id)

        return await asyncio.gather(*(one(cp) for cp in charge_points))

    async def close_codes(sockets: list[websockets.ClientConnection]) -> list[int | None]:
        await asyncio.wait_for(asyncio.gather(*(ws.wait_closed() for ws in sockets)), 10)
        return [ws.close_code for ws in sockets]

    # One loop, run only while the chargers talk: the database is read in between, from this thread.
    loop = asyncio.new_event_loop()
    try:
        sockets = loop.run_until_complete(open_all())
        assert _connected(charge_points) == (300, 300)
        took = server.terminate(20)
        codes = loop.run_until_complete(close_codes(sockets))
    finally:
        loop.close()
    assert server.process.returncode != -9, "killed: it did not stop by itself"
    assert took < 8, f"the stop took {took:.1f} s"
    assert codes == [1012] * 300  # service restart: come back
    assert _connected(charge_points) == (0, 0)
    server.start()  # the same port, at once

    async def reconnects() -> None:
        ws = await _open(server.url, charge_points[0].ocpp_id)
        await ws.close()

    asyncio.run(reconnects())


def _rss_mb(pid: int) -> float:
    """The server process's resident memory (VmRSS), in MB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")) / 1024


async def _booted(server_url: str, ocpp_id: str, limit: asyncio.Semaphore) -> websockets.ClientConnection:
    """A charger's connection after its BootNotification was answered (the server's whole state for it is built)."""
    async with limit:
        ws = await _open(server_url, ocpp_id, close_timeout=2, compression=None)
        await ws.send(_call("boot", "BootNotification", {"chargePointVendor": "Soak", "chargePointModel": "E2E"}))
        answer = json.loads(await asyncio.wait_for(ws.recv(), 30))
        assert answer[:2] == [3, "boot"], answer
        return ws


async def _hold(server_url: str, ids: list[str], concurrency: int = 50) -> list[websockets.ClientConnection]:
    limit = asyncio.Semaphore(concurrency)
    return list(await asyncio.gather(*(_booted(server_url, ocpp_id, limit) for ocpp_id in ids)))


async def _close(sockets: list[websockets.ClientConnection]) -> None:
    await asyncio.gather(*(ws.close() for ws in sockets))


async def _close_codes(sockets: list[websockets.ClientConnection]) -> list[int | None]:
    await asyncio.wait_for(asyncio.gather(*(ws.wait_closed() for ws in sockets)), 10)
    return [ws.close_code for ws in sockets]


async def _cycles(server_url: str, ids: list[str], count: int, concurrency: int = 50) -> None:
    """``count`` times: connect, BootNotification, close."""
    limit = asyncio.Semaphore(concurrency)

    async def one(number: int) -> None:
        ws = await _booted(server_url, ids[number % len(ids)], limit)
        await ws.close()

    await asyncio.gather(*(one(number) for number in range(count)))


def _settled_rss(server: ServerProcess, charge_points: list[ChargePoint]) -> float:
    """The server's memory once every disconnect is stored and the collector's quiet time has passed (what a
    burst of closes left is collected and trimmed then)."""
    assert _wait_until(lambda: _connected(charge_points) == (0, 0)), _connected(charge_points)
    time.sleep(memory.WHEN_QUIET + 1.5)
    return _rss_mb(server.process.pid)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the server's memory from /proc (Linux)")
def test_memory_returns_within_budget_after_thousands_of_connections_close_and_a_stop_still_takes_seconds(
    server_process,
):
    """A small soak (bench/soak.py is the large one): the server on the C allocator as `make serve` runs it,
    ``HELD`` chargers connected at once then closed, then ``CYCLES`` connect/close cycles; its memory against the
    budgets in ``sessions_app.ocpp.memory``. Then, after those thousands of closed connections (the original
    failure: the server no longer stopped), a stop with chargers connected, and a restart on the same port."""
    held, cycles, at_the_stop = 1000, 1000, 200
    charge_points = _chargers(held, prefix="MEM")
    ids = [cp.ocpp_id for cp in charge_points]
    server = server_process()
    assert server.env["PYTHONMALLOC"] == "malloc"
    server.start()
    pid = server.process.pid

    loop = asyncio.new_event_loop()  # one loop for the held sockets; the database is read between its runs
    try:
        loop.run_until_complete(_cycles(server.url, ids, 200))  # warm-up: the thread pool, database connections
        baseline = _settled_rss(server, charge_points)

        sockets = loop.run_until_complete(_hold(server.url, ids))
        assert _connected(charge_points) == (held, held)
        peak = _rss_mb(pid)
        loop.run_until_complete(_close(sockets))
        del sockets
        after_held = _settled_rss(server, charge_points)

        began = time.monotonic()
        loop.run_until_complete(_cycles(server.url, ids, cycles, concurrency=100))
        cycle_rate = cycles / (time.monotonic() - began)
        after_cycles = _settled_rss(server, charge_points)

        sockets = loop.run_until_complete(_hold(server.url, ids[:at_the_stop]))
        took = server.terminate(20)
        codes = loop.run_until_complete(_close_codes(sockets))
    finally:
        loop.close()
    print(  # the figures, for README's soak section (pytest -s)
        f"baseline {baseline:.0f} MB; {held} held: peak {peak:.0f} MB ({(peak - baseline) * 1024 / held:.0f} KB "
        f"each), after closing {after_held:.0f} MB; {cycles} cycles at {cycle_rate:.0f}/s: after {after_cycles:.0f} "
        f"MB; stop with {at_the_stop} connected: {took:.1f} s"
    )

    assert (peak - baseline) * 1024 <= held * memory.CONNECTION_BUDGET_KB, f"{peak - baseline:.0f} MB for {held}"
    assert after_held - baseline <= memory.AFTER_CLOSE_ALLOWANCE_MB, f"{after_held - baseline:.0f} MB left"
    assert after_cycles - baseline <= memory.AFTER_CLOSE_ALLOWANCE_MB, f"{after_cycles - baseline:.0f} MB left"
    assert after_cycles - after_held <= memory.CYCLES_GROWTH_ALLOWANCE_MB, "connections coming and going leak"

    assert server.process.returncode != -9, f"killed: it did not stop by itself\n{server.log_tail()}"
    assert took < 8, f"the stop took {took:.1f} s"
    assert codes == [1012] * at_the_stop  # service restart: come back
    assert _connected(charge_points) == (0, 0)
    server.start()  # the same port, at once

    async def reconnects() -> None:
        ws = await _booted(server.url, ids[0], asyncio.Semaphore(1))
        await ws.close()

    asyncio.run(reconnects())

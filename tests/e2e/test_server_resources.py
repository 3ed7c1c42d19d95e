"""Bounded resources, against the real server (uvicorn in its own process): database connections from the pool,
disconnect handling however a charger's socket ends, a stop (SIGTERM) with hundreds connected, the largest frame."""

import asyncio
import json
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.request import urlopen

import pytest
import websockets
from django.urls import reverse

from sessions_app.models import ChargePoint, ChargerConnection, ChargerEvent
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

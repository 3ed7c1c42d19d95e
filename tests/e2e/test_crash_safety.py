"""Crash safety end to end: chargers storm the real server while it is killed (SIGKILL) and started again, or
while PostgreSQL restarts under it. The chargers resend whatever went unanswered, as real ones do; afterwards
every acknowledged message is stored once and every completed session is priced and charged exactly once.

Each charger speaks OCPP 1.6 or, every other one, 2.0.1 (its transaction as TransactionEvents) over its own
websocket (the ``ocpp`` package's client) and keeps a record of every CALL it sent and whether it was answered.
A lost connection is reopened with back-off; an unanswered CALL (no answer before the connection dropped, a
CALLERROR or a timeout) is sent again with a new message id and the same payload, and the charger goes on only
once it is answered, as OCPP asks of transaction messages. Random choices come from a seeded generator, so a
failure can be replayed.
"""

import asyncio
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import time_machine
import websockets
from django.core.management import call_command
from django.db.models import Sum
from django.utils import timezone
from ocpp.exceptions import OCPPError
from ocpp.v16 import call
from ocpp.v201 import ChargePoint as Client201
from ocpp.v201 import call as call201

from accounts.models import IdTag
from billing.models import LedgerEntry, SessionPrice
from billing.services import tariff_assignment_create
from reporting.models import ConnectorHour
from sessions_app.models import (
    ChargePoint,
    ChargerConnection,
    ChargerEvent,
    ChargingSession,
    MeterValue,
    PostStopWork,
    SessionFlag,
    StatusEvent,
    offline_after,
)
from sessions_app.post_stop import CLAIM
from tests.e2e.conftest import ServerProcess
from tests.e2e.ocpp_client import TestCharger, iso
from tests.factories import (
    make_charge_point,
    make_driver,
    make_organization,
    make_session,
    make_site,
    make_tag,
    make_tariff,
)
from tests.threads import in_thread

pytestmark = pytest.mark.django_db(transaction=True)

CHARGERS = 12
SESSIONS = 3  # per charger, one after the other
READINGS = 4  # MeterValues messages per session, 1 kWh apart
PRICE_PER_KWH = Decimal("4.00")  # incl. VAT
PACE = (0.0, 0.05)  # seconds a charger waits before each message
RESPONSE_TIMEOUT = 10  # seconds a charger waits for an answer before it sends the CALL again
BACKOFF = (0.2, 2.0)  # first and longest wait before reconnecting or resending
STORM_LIMIT = 75  # seconds: a storm still running then has lost messages for good


@pytest.fixture(autouse=True)
def _postgresql_only():
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip(
            "The crash tests run against PostgreSQL (as CI does): set DATABASE_URL to a PostgreSQL "
            "database. SQLite is for the one-command demo, with one server process."
        )


def run(coroutine):
    return asyncio.run(coroutine)


@dataclass
class Fleet:
    """One operator's chargers, each with a driver's card, and a tariff of 4.00 per kWh on all of them."""

    charge_points: list[ChargePoint]
    tags: list[IdTag]


@pytest.fixture
def fleet(transactional_db) -> Fleet:
    organization = make_organization("Storm")
    site = make_site(organization)
    tariff_assignment_create(tariff=make_tariff(organization, energy=str(PRICE_PER_KWH)))
    return Fleet(
        charge_points=[make_charge_point(site, f"STORM-{n:02d}") for n in range(CHARGERS)],
        tags=[make_tag(make_driver(organization).customer_account, uid=f"57A0{n:04X}") for n in range(CHARGERS)],
    )


@dataclass
class PlannedSession:
    """What a charger will report about one session; ``transaction_id`` is the server's answer to its start."""

    connector: int
    started_at: datetime
    meter_start: int
    transaction_id: int | None = None
    #: A 2.0.1 charger names its transactions itself; the server's session id is looked up afterwards.
    charger_transaction_id: str = ""

    def reading_at(self, n: int) -> datetime:
        return self.started_at + timedelta(minutes=3 * n)

    @property
    def stopped_at(self) -> datetime:
        return self.reading_at(READINGS + 1)

    @property
    def meter_stop(self) -> int:
        return self.meter_start + 1000 * (READINGS + 1)

    @property
    def note(self) -> str:
        """What the charger tells of the session by DataTransfer (vendor data the server keeps as it is)."""
        return f"transaction {self.charger_transaction_id or self.transaction_id} on connector {self.connector}"


@dataclass
class Sent:
    """One CALL as the charger's record keeps it: how often it went out, and its answer once there was one."""

    action: str
    attempts: int = 0
    answer: Any = None


class ConnectionLost(Exception):
    pass


@dataclass
class StormCharger:
    """A charger working through its plan of sessions, one CALL at a time, with a record of every CALL sent."""

    url: str
    ocpp_id: str
    uid: str
    plan: list[PlannedSession]
    rng: random.Random
    ocpp: str = "1.6"
    sent: list[Sent] = field(default_factory=list)
    failures: Counter = field(default_factory=Counter)
    _client: TestCharger | Client201 | None = None
    _receiving: asyncio.Task | None = None

    async def _connected(self) -> TestCharger:
        backoff = BACKOFF[0]
        while self._client is None:
            try:
                ws = await websockets.connect(
                    f"{self.url}/ocpp/{self.ocpp_id}", subprotocols=[f"ocpp{self.ocpp}"], open_timeout=RESPONSE_TIMEOUT
                )
            except (OSError, TimeoutError, websockets.exceptions.WebSocketException) as error:
                self.failures[f"connect: {type(error).__name__}"] += 1
                await asyncio.sleep(backoff * self.rng.uniform(0.5, 1.5))
                backoff = min(2 * backoff, BACKOFF[1])
                continue
            client_class = Client201 if self.ocpp == "2.0.1" else TestCharger
            self._client = client_class(self.ocpp_id, ws, response_timeout=RESPONSE_TIMEOUT)
            self._receiving = asyncio.create_task(self._client.start())
        return self._client

    async def _disconnect(self) -> None:
        if self._client is None:
            return
        self._receiving.cancel()
        await asyncio.gather(self._receiving, return_exceptions=True)
        await self._client._connection.close()
        self._client = self._receiving = None

    async def _call(self, payload) -> Any:
        """One attempt: the answer, or ConnectionLost as soon as the socket drops (not after a timeout)."""
        client = await self._connected()
        attempt = asyncio.create_task(client.call(payload, suppress=False))
        await asyncio.wait({attempt, self._receiving}, return_when=asyncio.FIRST_COMPLETED)
        if not attempt.done():
            attempt.cancel()
            await asyncio.gather(attempt, return_exceptions=True)
            raise ConnectionLost
        try:
            return attempt.result()
        except websockets.exceptions.ConnectionClosed as error:
            raise ConnectionLost from error

    async def send(self, payload, label: str = "") -> Any:
        """Send a CALL until it is answered: after a CALLERROR or a timeout on the same connection, after a
        lost connection on a new one; each time with a new message id, as the package gives every call."""
        sent = Sent(label or type(payload).__name__)
        self.sent.append(sent)
        await asyncio.sleep(self.rng.uniform(*PACE))
        backoff = BACKOFF[0]
        while True:
            sent.attempts += 1
            try:
                sent.answer = await self._call(payload)
                return sent.answer
            except ConnectionLost:
                self.failures["connection lost"] += 1
                await self._disconnect()
            except (OCPPError, TimeoutError) as error:
                self.failures[f"{sent.action}: {type(error).__name__}"] += 1
            await asyncio.sleep(backoff * self.rng.uniform(0.5, 1.5))
            backoff = min(2 * backoff, BACKOFF[1])

    async def charge(self, planned: PlannedSession) -> None:
        """Authorize, start, report the meter while charging, stop, with the connector's status on the way."""
        if self.ocpp == "2.0.1":
            await self.charge_201(planned)
            return
        connector = planned.connector
        await self.send(call.Authorize(id_tag=self.uid))
        start = await self.send(
            call.StartTransaction(
                connector_id=connector,
                id_tag=self.uid,
                meter_start=planned.meter_start,
                timestamp=iso(planned.started_at),
            )
        )
        planned.transaction_id = start.transaction_id
        await self.send(
            call.StatusNotification(
                connector_id=connector, error_code="NoError", status="Charging", timestamp=iso(planned.started_at)
            )
        )
        await self.send(call.DataTransfer(vendor_id="org.storm", message_id="Session", data=planned.note))
        for n in range(1, READINGS + 1):
            await self.send(
                call.MeterValues(
                    connector_id=connector, transaction_id=planned.transaction_id, meter_value=[_reading(planned, n)]
                )
            )
        await self.send(
            call.StopTransaction(
                transaction_id=planned.transaction_id,
                id_tag=self.uid,
                meter_stop=planned.meter_stop,
                timestamp=iso(planned.stopped_at),
                reason="EVDisconnected",
                transaction_data=[
                    {
                        "timestamp": iso(planned.stopped_at),
                        "sampledValue": [{"value": str(planned.meter_stop), "context": "Transaction.End"}],
                    }
                ],
            )
        )
        await self.send(
            call.StatusNotification(
                connector_id=connector, error_code="NoError", status="Available", timestamp=iso(planned.stopped_at)
            )
        )

    async def charge_201(self, planned: PlannedSession) -> None:
        """The same session as ``charge`` in OCPP 2.0.1: Started, an Updated per reading, Ended, numbered by seqNo."""
        token, at = {"id_token": self.uid, "type": "ISO14443"}, planned.started_at
        status = {"evse_id": planned.connector, "connector_id": 1}

        def event(kind: str, seq_no: int, moment: datetime, readings: list[dict], **fields):
            return call201.TransactionEvent(
                event_type=kind,
                timestamp=iso(moment),
                trigger_reason={"Started": "Authorized", "Ended": "EVCommunicationLost"}.get(
                    kind, "MeterValuePeriodic"
                ),
                seq_no=seq_no,
                transaction_info={"transaction_id": planned.charger_transaction_id, **fields.pop("info", {})},
                meter_value=readings,
                **fields,
            )

        await self.send(call201.Authorize(id_token=token))
        begin = _register(at, planned.meter_start, "Transaction.Begin")
        evse = {"id": planned.connector, "connector_id": 1}
        await self.send(event("Started", 0, at, [begin], id_token=token, evse=evse))
        await self.send(call201.StatusNotification(timestamp=iso(at), connector_status="Occupied", **status))
        await self.send(call201.DataTransfer(vendor_id="org.storm", message_id="Session", data=planned.note))
        for n in range(1, READINGS + 1):
            register = _register(planned.reading_at(n), planned.meter_start + 1000 * n, "Sample.Periodic")
            power = {"value": 11.0, "measurand": "Power.Active.Import", "unitOfMeasure": {"unit": "kW"}}
            register["sampledValue"].append(power)
            await self.send(event("Updated", n, planned.reading_at(n), [register]))
        end = _register(planned.stopped_at, planned.meter_stop, "Transaction.End")
        info = {"stopped_reason": "EVDisconnected"}
        ended = event("Ended", READINGS + 1, planned.stopped_at, [end], id_token=token, info=info)
        await self.send(ended, label="TransactionEvent(Ended)")
        await self.send(
            call201.StatusNotification(timestamp=iso(planned.stopped_at), connector_status="Available", **status)
        )

    async def run(self) -> None:
        if self.ocpp == "2.0.1":
            station = {"vendor_name": "Storm", "model": "Crash"}
            await self.send(call201.BootNotification(charging_station=station, reason="PowerUp"))
        else:
            await self.send(call.BootNotification(charge_point_vendor="Storm", charge_point_model="Crash"))
        for planned in self.plan:
            await self.charge(planned)
        await self._disconnect()

    @property
    def resent(self) -> int:
        return sum(sent.attempts - 1 for sent in self.sent)


def _register(at: datetime, wh: int, context: str) -> dict:
    """A 2.0.1 reading of the energy register alone."""
    return {"timestamp": iso(at), "sampledValue": [{"value": wh, "context": context}]}


def _reading(planned: PlannedSession, n: int) -> dict:
    return {
        "timestamp": iso(planned.reading_at(n)),
        "sampledValue": [
            {"value": str(planned.meter_start + 1000 * n), "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
            {"value": "11.0", "measurand": "Power.Active.Import", "unit": "kW"},
        ],
    }


def _storm_chargers(url: str, fleet: Fleet, rng: random.Random) -> list[StormCharger]:
    """Every charger's sessions, in the past hours (charger clocks are right), 20 minutes apart; every other
    charger speaks 2.0.1."""
    first = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    return [
        StormCharger(
            url=url,
            ocpp_id=cp.ocpp_id,
            uid=tag.uid,
            rng=random.Random(rng.random()),
            ocpp="2.0.1" if n % 2 else "1.6",
            plan=[
                PlannedSession(
                    connector=1 + k % 2,
                    started_at=first + timedelta(minutes=20 * k + n),
                    meter_start=1_000_000 * (n + 1) + 10_000 * k,
                    charger_transaction_id=f"{cp.ocpp_id}-{k}" if n % 2 else "",
                )
                for k in range(SESSIONS)
            ],
        )
        for n, (cp, tag) in enumerate(zip(fleet.charge_points, fleet.tags, strict=True))
    ]


async def _storm(chargers: list[StormCharger], disrupt) -> Any:
    """Run every charger to the end of its plan while ``disrupt(storm)`` does its worst; its result."""
    storm = asyncio.gather(*(charger.run() for charger in chargers))
    disruption = asyncio.create_task(disrupt(storm))
    try:
        async with asyncio.timeout(STORM_LIMIT):
            await asyncio.wait({storm, disruption}, return_when=asyncio.FIRST_EXCEPTION)
            if disruption.done() and disruption.exception() is not None:
                raise disruption.exception()  # e.g. the server did not start again
            await storm
            return await disruption
    except TimeoutError:
        unanswered = [
            (charger.ocpp_id, sent.action, sent.attempts)
            for charger in chargers
            for sent in charger.sent
            if sent.answer is None
        ]
        pytest.fail(f"The chargers did not finish in {STORM_LIMIT} s; still unanswered: {unanswered}")
    finally:
        storm.cancel()
        disruption.cancel()


def _answered(chargers: list[StormCharger]) -> int:
    return sum(sent.answer is not None for charger in chargers for sent in charger.sent)


async def _answers_after(chargers: list[StormCharger], count: int, storm: asyncio.Future) -> None:
    """Wait until the chargers have had ``count`` more answers (or the storm is over): a moment picked by
    progress, not by the clock, so it falls in the storm however fast this machine runs it."""
    goal = _answered(chargers) + count
    while _answered(chargers) < goal and not storm.done():
        await asyncio.sleep(0.02)


async def _stop_in_flight(chargers: list[StormCharger], storm: asyncio.Future) -> None:
    """Wait until some charger has sent a StopTransaction and waits for its answer (or the storm is over)."""

    def waiting(charger: StormCharger) -> bool:
        last = charger.sent[-1] if charger.sent else None
        stopping = last is not None and last.action in ("StopTransaction", "TransactionEvent(Ended)")
        return stopping and last.attempts and last.answer is None

    while not any(waiting(charger) for charger in chargers) and not storm.done():
        await asyncio.sleep(0.005)


def _storm_report(fleet: Fleet, chargers: list[StormCharger]) -> str:
    """What the storm did: CALLs resent per action, the chargers' failures, sessions left unpriced so far."""
    resent = Counter()
    for charger in chargers:
        for sent in charger.sent:
            resent[sent.action] += sent.attempts - 1
    failures = sum((charger.failures for charger in chargers), Counter())
    unpriced = ChargingSession.objects.filter(charge_point__in=fleet.charge_points, price__isnull=True).count()
    return f"resent: {dict(+resent)}; failures: {dict(failures)}; sessions unpriced before the sweep: {unpriced}"


def _post_stop_sweep() -> None:
    """The periodic sweeper, once a run the crash interrupted has lost its claim: it completes what a crash
    left of a stop's work (price, charge, rollups)."""
    with time_machine.travel(timezone.now() + CLAIM + timedelta(seconds=1), tick=True):
        call_command("post_stop_sweep")


def _connection_sweep(fleet: Fleet) -> dict[int, datetime]:
    """The periodic connection sweep, once the chargers have been silent past their heartbeat rule: it ends the
    connections a killed server process left open (a charger that closed its socket just before the kill, and
    never came back). Returns the last message time of each charger it found still "connected"."""
    left = dict(
        ChargePoint.objects.filter(pk__in=[cp.pk for cp in fleet.charge_points])
        .exclude(channel_name="")
        .values_list("pk", "last_seen_at")
    )
    silent = max(offline_after(cp.heartbeat_interval) for cp in fleet.charge_points)
    with time_machine.travel(timezone.now() + silent + timedelta(seconds=1), tick=True):
        call_command("connection_sweep")
    return left


def _assert_swept_connections_ended_at_the_last_message(left: dict[int, datetime]) -> None:
    """Each charger the sweep found "connected" has its last connection ended at its last message (not when
    the sweep ran: it was offline from then on)."""
    last_ended = {
        pk: max(ChargerConnection.objects.filter(charge_point_id=pk).values_list("disconnected_at", flat=True))
        for pk in left
    }
    assert last_ended == left


def _session_ids_of_2_0_1(chargers: list[StormCharger]) -> None:
    """The server's session of each 2.0.1 transaction, found by the charger's own transaction id."""
    for charger in chargers:
        for p in charger.plan:
            if p.charger_transaction_id:
                p.transaction_id = ChargingSession.objects.get(charger_transaction_id=p.charger_transaction_id).pk


def _assert_every_acknowledged_message_stored_once(fleet: Fleet, chargers: list[StormCharger]) -> None:
    _session_ids_of_2_0_1(chargers)
    planned = {(charger.ocpp_id, p.transaction_id): p for charger in chargers for p in charger.plan}
    assert all(sent.answer is not None for charger in chargers for sent in charger.sent)

    sessions = ChargingSession.objects.filter(charge_point__in=fleet.charge_points)
    # One session per start, the one the start's answer named, completed as its stop said.
    assert Counter(sessions.values_list("charge_point__ocpp_id", "pk")) == Counter(planned.keys())
    assert {
        (ocpp_id, pk): (connector, started_at, meter_start, state, stopped_at, meter_stop)
        for ocpp_id, pk, connector, started_at, meter_start, state, stopped_at, meter_stop in sessions.values_list(
            "charge_point__ocpp_id",
            "pk",
            "connector__number",
            "started_at",
            "meter_start_wh",
            "state",
            "stopped_at",
            "meter_stop_wh",
        )
    } == {
        key: (p.connector, p.started_at, p.meter_start, ChargingSession.State.COMPLETED, p.stopped_at, p.meter_stop)
        for key, p in planned.items()
    }
    assert not SessionFlag.objects.filter(session__in=sessions).exists()  # e.g. a second start on a busy connector

    # Each reading once: per (session, time, measurand), the MeterValues' and the stop's transaction data.
    readings = Counter(
        MeterValue.objects.filter(charge_point__in=fleet.charge_points).values_list(
            "session_id", "timestamp", "measurand"
        )
    )
    expected = Counter()
    for (_ocpp_id, tx), p in planned.items():
        for n in range(1, READINGS + 1):
            expected[(tx, p.reading_at(n), "Energy.Active.Import.Register")] += 1
            expected[(tx, p.reading_at(n), "Power.Active.Import")] += 1
        expected[(tx, p.stopped_at, "Energy.Active.Import.Register")] += 1
        if p.charger_transaction_id:  # 2.0.1 also reports the register at the start, inside its Started event
            expected[(tx, p.started_at, "Energy.Active.Import.Register")] += 1
    assert {key: count for key, count in readings.items() if count > 1} == {}, "readings stored more than once"
    assert readings == expected

    # Each StatusNotification once.
    statuses = Counter(
        StatusEvent.objects.filter(charge_point__in=fleet.charge_points).values_list(
            "charge_point__ocpp_id", "connector__number", "timestamp", "status"
        )
    )
    assert {key: count for key, count in statuses.items() if count > 1} == {}, "statuses stored more than once"
    assert statuses == Counter(
        (ocpp_id, p.connector, at, status)
        for (ocpp_id, _tx), p in planned.items()
        # 2.0.1's Occupied is our Preparing: it tells charging by its transaction events
        for at, status in (
            (p.started_at, "Preparing" if p.charger_transaction_id else "Charging"),
            (p.stopped_at, "Available"),
        )
    )

    # No charger is left "connected", no connection open (the killed processes' ones ended on reconnect, or
    # by the connection sweep for a charger that never came back).
    assert not ChargePoint.objects.filter(pk__in=[cp.pk for cp in fleet.charge_points]).exclude(channel_name="")
    assert not ChargerConnection.objects.filter(charge_point__in=fleet.charge_points, disconnected_at=None)

    # Each DataTransfer once.
    notes = Counter(
        ChargerEvent.objects.filter(charge_point__in=fleet.charge_points).values_list(
            "charge_point__ocpp_id", "kind", "data"
        )
    )
    assert notes == Counter((ocpp_id, ChargerEvent.Kind.DATA_TRANSFER, p.note) for (ocpp_id, _tx), p in planned.items())


def _assert_every_session_priced_and_charged_once(fleet: Fleet, chargers: list[StormCharger]) -> None:
    owed = {
        p.transaction_id: (PRICE_PER_KWH * (p.meter_stop - p.meter_start) / 1000).quantize(Decimal("0.01"))
        for charger in chargers
        for p in charger.plan
    }
    sessions = ChargingSession.objects.filter(charge_point__in=fleet.charge_points)
    assert not PostStopWork.objects.filter(session__in=sessions, done_at=None).exists()
    assert dict(SessionPrice.objects.filter(session__in=sessions).values_list("session_id", "gross_total")) == owed
    charges = LedgerEntry.objects.filter(session__in=sessions, kind=LedgerEntry.Kind.CHARGE)
    assert Counter(charges.values_list("session_id", "idempotency_key", "receivable")) == Counter(
        (pk, f"charge:{pk}", amount) for pk, amount in owed.items()
    )
    # The rollups count each session once, with its revenue (they are summed again after pricing).
    rolled = ConnectorHour.objects.filter(charge_point__in=fleet.charge_points).aggregate(
        sessions=Sum("sessions"), energy=Sum("energy_wh"), revenue=Sum("revenue")
    )
    assert rolled == {
        "sessions": len(owed),
        "energy": sum(p.meter_stop - p.meter_start for c in chargers for p in c.plan),
        "revenue": sum(owed.values()),
    }


def _server_without_redis(server_process, **env: str) -> ServerProcess:
    """The server as started without Redis: a stop's follow-up work (price, charge, rollups) runs in the server
    itself right after the stop commits, where a kill can cut it short. Its cache is then a database table."""
    server = server_process(REDIS_URL="", **env)
    server.manage("createcachetable")
    server.start()
    return server


def test_chargers_storming_a_server_killed_three_times_lose_nothing_and_nothing_is_billed_twice(fleet, server_process):
    rng = random.Random(20261203)
    server = _server_without_redis(server_process)
    chargers = _storm_chargers(server.url, fleet, rng)

    async def kill_three_times(storm: asyncio.Future) -> int:
        kills = 0
        for _ in range(3):
            await _answers_after(chargers, rng.randint(20, 60), storm)
            await _stop_in_flight(chargers, storm)  # the riskiest moments: between its commit and its answer
            await asyncio.sleep(rng.uniform(0.0, 0.15))
            if storm.done():
                break
            server.kill()
            kills += 1
            await asyncio.sleep(rng.uniform(0.0, 0.5))
            await in_thread(server.start)
        return kills

    kills = run(_storm(chargers, kill_three_times))
    server.terminate()
    left_connected = _connection_sweep(fleet)

    assert kills == 3, "the storm ended before the server was killed three times: make it longer"
    assert sum(charger.resent for charger in chargers) > 0, "no CALL went unanswered: the kills hit nothing"
    _assert_every_acknowledged_message_stored_once(fleet, chargers)
    _assert_swept_connections_ended_at_the_last_message(left_connected)
    print(_storm_report(fleet, chargers), f"connections swept: {len(left_connected)}")  # shown when the test fails
    _post_stop_sweep()
    _assert_every_session_priced_and_charged_once(fleet, chargers)
    _post_stop_sweep()  # a second sweep finds nothing left to do
    _assert_every_session_priced_and_charged_once(fleet, chargers)


def test_a_charger_gone_for_good_after_a_crash_is_offline_from_its_last_message(fleet, server_process):
    """The process holding a charger's socket is killed and the charger never comes back: nobody stores its
    disconnect, so it looks connected until the connection sweep ends its connection, at its last message."""
    server = _server_without_redis(server_process)
    charger = _storm_chargers(server.url, fleet, random.Random(1))[0]

    async def boot_then_crash() -> None:
        await charger.send(call.BootNotification(charge_point_vendor="Storm", charge_point_model="Crash"))
        server.kill()
        await charger._disconnect()

    run(boot_then_crash())
    gone = ChargePoint.objects.get(ocpp_id=charger.ocpp_id)
    assert gone.channel_name and ChargerConnection.objects.filter(charge_point=gone, disconnected_at=None)

    left_connected = _connection_sweep(fleet)

    assert left_connected == {gone.pk: gone.last_seen_at}
    _assert_swept_connections_ended_at_the_last_message(left_connected)
    assert not ChargePoint.objects.filter(pk__in=[cp.pk for cp in fleet.charge_points]).exclude(channel_name="")


def test_a_server_outlives_postgresql_restarting_mid_storm_and_loses_nothing(fleet, request):
    cluster = request.getfixturevalue("private_postgres")  # a copy of the fleet, on a cluster of this test's own
    server = _server_without_redis(request.getfixturevalue("server_process"))
    rng = random.Random(20261204)
    chargers = _storm_chargers(server.url, fleet, rng)

    async def restart_postgresql(storm: asyncio.Future) -> int | None:
        """PostgreSQL stops (ending every connection of the server) and is back 2 s later; how many answers
        the chargers had then, or None if the storm was over first."""
        await _answers_after(chargers, rng.randint(60, 120), storm)
        if storm.done():
            return None
        await in_thread(cluster.stop)
        await asyncio.sleep(2)  # meanwhile handshakes fail and CALLs wait or get a CALLERROR
        await in_thread(cluster.start)
        return _answered(chargers)

    answered_at_restart = run(_storm(chargers, restart_postgresql))
    print(_storm_report(fleet, chargers))  # shown when the test fails

    assert answered_at_restart is not None, "the storm ended before PostgreSQL was restarted: make it longer"
    assert _answered(chargers) - answered_at_restart > 50, "the storm was nearly over when PostgreSQL came back"
    assert server.alive(), f"the server died:\n{server.log_tail()}"
    # And new messages go through at once on a new connection: one more session on the first charger.
    [latecomer] = _storm_chargers(server.url, fleet, random.Random(1))[:1]
    latecomer.plan = [
        PlannedSession(
            connector=1,
            started_at=datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30),
            meter_start=9_000_000,
        )
    ]
    run(latecomer.run())
    assert latecomer.resent == 0 and latecomer.failures == Counter()
    chargers[0].plan += latecomer.plan
    server.terminate()
    _assert_every_acknowledged_message_stored_once(fleet, chargers)
    _post_stop_sweep()
    _assert_every_session_priced_and_charged_once(fleet, chargers)


def test_a_server_without_redis_sweeps_itself_what_a_crash_left_unpriced(fleet, server_process):
    """No broker, so no beat: the server's own sweeper prices and charges a session the crash left without its
    work record, and one whose attempt is due, within its sweep interval, with no command run from cron."""
    connector = fleet.charge_points[0].connectors.get(number=1)
    unrecorded = make_session(connector, fleet.tags[0], energy_wh=12_000)
    pending = make_session(connector, fleet.tags[1], energy_wh=5_000)
    PostStopWork.objects.create(session=pending, attempts=1, next_attempt_at=timezone.now(), last_error="crash")
    owed = {unrecorded.pk: Decimal("48.00"), pending.pk: Decimal("20.00")}

    _server_without_redis(server_process, POST_STOP_SWEEP_SECONDS="1")
    deadline = time.monotonic() + 20
    charges = LedgerEntry.objects.filter(session__in=owed, kind=LedgerEntry.Kind.CHARGE)
    done = PostStopWork.objects.filter(session__in=owed, done_at__isnull=False)
    # A session's work is marked done once all its handlers ran, a moment after its charge.
    while (charges.count() < len(owed) or done.count() < len(owed)) and time.monotonic() < deadline:
        time.sleep(0.2)

    assert dict(SessionPrice.objects.filter(session__in=owed).values_list("session_id", "gross_total")) == owed
    assert Counter(charges.values_list("session_id", "receivable")) == Counter(owed.items())
    assert done.count() == len(owed)

"""OCPP 1.6J end to end: the `ocpp` package's client as the charger, uvicorn serving the real application."""

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
import websockets
from django.conf import global_settings
from django.utils import timezone
from ocpp.exceptions import NotSupportedError as OcppNotSupported
from ocpp.v16 import call

from accounts.models import IdTag
from accounts.services import id_tag_block
from sessions_app.models import (
    ChargePoint,
    ChargerEvent,
    ChargingSession,
    Connector,
    MeterValue,
    SecurityEvent,
    SessionFlag,
    StatusEvent,
)
from tests.e2e.ocpp_client import connected, iso, raw_exchange
from tests.threads import in_thread

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def charger_password(world, settings):
    """Give ALPHA-1 a password, hashed the way the server process (default hashers) can check."""
    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS
    world.cp_a.set_password("a-long-charger-secret-42")
    world.cp_a.save()
    return "a-long-charger-secret-42"


def run(coroutine):
    return asyncio.run(coroutine)


def flags(session_id: int) -> set[str]:
    return set(SessionFlag.objects.filter(session_id=session_id).values_list("code", flat=True))


def test_accepted_charger_boots_with_the_servers_interval_and_its_connection_is_tracked(asgi_server, world):
    ChargePoint.objects.filter(pk=world.cp_a.pk).update(heartbeat_interval=120)

    async def scenario():
        async with connected(asgi_server, "ALPHA-1") as charger:
            boot = await charger.boot()
            heartbeat = await charger.call(call.Heartbeat())
            online = await in_thread(lambda: ChargePoint.objects.get(pk=world.cp_a.pk).channel_name)
            return boot, heartbeat, online

    boot, heartbeat, channel_while_connected = run(scenario())

    assert boot.status == "Accepted" and boot.interval == 120
    assert heartbeat.current_time
    assert channel_while_connected
    cp = ChargePoint.objects.get(pk=world.cp_a.pk)
    assert (cp.vendor, cp.model) == ("Test", "E2E") and cp.last_boot_at is not None
    for _ in range(50):  # the server clears it as the socket closes
        if not ChargePoint.objects.get(pk=world.cp_a.pk).channel_name:
            break
        run(asyncio.sleep(0.1))
    assert ChargePoint.objects.get(pk=world.cp_a.pk).channel_name == ""


def _refused(url, ocpp_id, status: int = 401, **kwargs) -> bool:
    async def attempt():
        try:
            async with connected(url, ocpp_id, **kwargs):
                return False
        except websockets.exceptions.InvalidStatus as refusal:
            return refusal.response.status_code == status

    return run(attempt())


def test_handshake_offering_no_ocpp_version_of_ours_is_refused(asgi_server, world):
    assert _refused(asgi_server, "ALPHA-1", status=403, subprotocols=("ocpp2.0", "ocpp1.5"))


def test_unknown_charger_is_refused_and_logged(asgi_server, world):
    assert _refused(asgi_server, "NOBODY-1")
    event = SecurityEvent.objects.get(ocpp_id="NOBODY-1")
    assert event.kind == SecurityEvent.Kind.UNKNOWN_CHARGER and event.remote_address == "127.0.0.1"
    assert not ChargePoint.objects.filter(ocpp_id="NOBODY-1").exists()


def test_charger_with_a_password_must_present_it(asgi_server, world, charger_password):
    assert _refused(asgi_server, "ALPHA-1")
    assert _refused(asgi_server, "ALPHA-1", password="wrong-password-000000")

    async def with_password():
        async with connected(asgi_server, "ALPHA-1", password="a-long-charger-secret-42") as charger:
            return (await charger.boot()).status

    assert run(with_password()) == "Accepted"
    assert list(
        SecurityEvent.objects.filter(kind=SecurityEvent.Kind.BAD_PASSWORD)
        .order_by("created_at")
        .values_list("detail", flat=True)
    ) == ["missing", "wrong"]
    assert "a-long-charger-secret" not in "".join(SecurityEvent.objects.values_list("detail", flat=True))


def test_auto_registration_creates_a_pending_charger_only_for_an_operator_that_allows_it(asgi_server, world):
    world.org_a.auto_register_chargers = True
    world.org_a.save()

    async def boot_new(path):
        async with connected(asgi_server, path) as charger:
            return (await charger.boot()).status

    assert run(boot_new(f"{world.org_a.slug}/NEW-CP-1")) == "Pending"
    new = ChargePoint.objects.get(ocpp_id="NEW-CP-1")
    assert new.organization == world.org_a and new.site is None
    assert new.registration_status == ChargePoint.RegistrationStatus.PENDING
    assert _refused(asgi_server, f"{world.org_b.slug}/NEW-CP-2")
    assert _refused(asgi_server, f"{world.org_b.slug}/ALPHA-1")  # a known charger under the wrong operator

    async def authorize_while_pending():
        async with connected(asgi_server, "NEW-CP-1") as charger:
            return (await charger.call(call.Authorize(id_tag=world.alice_card.uid))).id_tag_info["status"]

    assert run(authorize_while_pending()) == "Invalid"


def test_a_second_connection_never_takes_over_a_live_unauthenticated_one(asgi_server, world):
    async def scenario():
        async with connected(asgi_server, "ALPHA-1") as first:
            await first.boot()
            try:
                async with connected(asgi_server, "ALPHA-1"):
                    return "taken over"
            except websockets.exceptions.InvalidStatus:
                return (await first.call(call.Heartbeat())).current_time and "kept"

    assert run(scenario()) == "kept"
    assert SecurityEvent.objects.filter(kind=SecurityEvent.Kind.HIJACK_REFUSED, charge_point=world.cp_a).exists()


def test_a_connection_left_behind_by_a_dead_server_process_does_not_lock_the_charger_out(asgi_server, world):
    ChargePoint.objects.filter(pk=world.cp_a.pk).update(
        channel_name="specific.deadprocess!gone", last_seen_at=timezone.now()
    )

    async def scenario():
        async with connected(asgi_server, "ALPHA-1") as charger:
            return (await charger.boot()).status

    assert run(scenario()) == "Accepted"
    assert SecurityEvent.objects.filter(kind=SecurityEvent.Kind.CONNECTION_REPLACED, charge_point=world.cp_a).exists()
    assert not SecurityEvent.objects.filter(kind=SecurityEvent.Kind.HIJACK_REFUSED).exists()


def test_an_authenticated_reconnect_replaces_the_old_connection(asgi_server, world, charger_password):
    async def scenario():
        async with connected(asgi_server, "ALPHA-1", password="a-long-charger-secret-42") as first:
            await first.boot()
            async with connected(asgi_server, "ALPHA-1", password="a-long-charger-secret-42") as second:
                await asyncio.wait_for(first._connection.wait_closed(), 5)
                return (await second.boot()).status

    assert run(scenario()) == "Accepted"
    assert SecurityEvent.objects.filter(kind=SecurityEvent.Kind.CONNECTION_REPLACED, charge_point=world.cp_a).exists()


def test_a_whole_session_is_stored_as_the_charger_reports_it(asgi_server, world):
    start_at = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)

    async def scenario():
        async with connected(asgi_server, "ALPHA-1") as charger:
            await charger.boot()
            auth = await charger.call(call.Authorize(id_tag="04:a1:b2:c3"))
            await charger.call(
                call.StatusNotification(
                    connector_id=1, error_code="NoError", status="Charging", timestamp=iso(start_at)
                )
            )
            start = await charger.call(
                call.StartTransaction(connector_id=1, id_tag="04A1B2C3", meter_start=1000, timestamp=iso(start_at))
            )
            again = await charger.call(
                call.StartTransaction(connector_id=1, id_tag="04A1B2C3", meter_start=1000, timestamp=iso(start_at))
            )
            tx = start.transaction_id
            await charger.call(
                call.MeterValues(
                    connector_id=1,
                    transaction_id=tx,
                    meter_value=[
                        {
                            "timestamp": iso(start_at + timedelta(minutes=30)),
                            "sampledValue": [
                                {"value": "6000", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                                {"value": "11.04", "measurand": "Power.Active.Import", "unit": "kW"},
                                {"value": "231.5", "measurand": "Voltage", "unit": "V", "phase": "L1-N"},
                            ],
                        }
                    ],
                )
            )
            await charger.call(
                call.MeterValues(
                    connector_id=1,
                    transaction_id=tx,
                    meter_value=[
                        {
                            "timestamp": iso(start_at + timedelta(minutes=45)),
                            "sampledValue": [
                                {"value": "8.5", "measurand": "Energy.Active.Import.Register", "unit": "kWh"}
                            ],
                        }
                    ],
                )
            )
            stop = await charger.call(
                call.StopTransaction(
                    transaction_id=tx,
                    id_tag="04A1B2C3",
                    meter_stop=9500,
                    timestamp=iso(start_at + timedelta(hours=1)),
                    reason="EVDisconnected",
                    transaction_data=[
                        {
                            "timestamp": iso(start_at + timedelta(hours=1)),
                            "sampledValue": [{"value": "9500", "context": "Transaction.End"}],
                        }
                    ],
                )
            )
            stop_again = await charger.call(
                call.StopTransaction(
                    transaction_id=tx, id_tag="04A1B2C3", meter_stop=9999, timestamp=iso(start_at + timedelta(hours=2))
                )
            )
            return auth, start, again, stop, stop_again

    auth, start, again, stop, stop_again = run(scenario())

    assert auth.id_tag_info["status"] == "Accepted"
    assert start.id_tag_info["status"] == "Accepted"
    assert again.transaction_id == start.transaction_id
    assert stop.id_tag_info["status"] == stop_again.id_tag_info["status"] == "Accepted"
    session = ChargingSession.objects.get(pk=start.transaction_id)
    assert session.state == ChargingSession.State.COMPLETED
    assert (session.started_at, session.stopped_at) == (start_at, start_at + timedelta(hours=1))
    assert (session.meter_start_wh, session.meter_stop_wh, session.energy_wh) == (1000, 9500, 8500)
    assert session.stop_reason == "EVDisconnected" and session.id_tag == world.alice_card
    assert session.customer_account == world.alice.customer_account
    registers = MeterValue.objects.filter(session=session, measurand="Energy.Active.Import.Register")
    assert sorted(registers.values_list("value", flat=True)) == [6000, 8500, 9500]
    assert MeterValue.objects.get(session=session, measurand="Power.Active.Import").value == 11040
    assert MeterValue.objects.get(session=session, measurand="Voltage").phase == "L1-N"
    assert ChargingSession.objects.count() == 1 and flags(session.pk) == set()
    connector = Connector.objects.get(charge_point=world.cp_a, number=1)
    assert connector.status == "Charging" and StatusEvent.objects.filter(connector=connector).count() == 1


def test_each_card_status_reaches_the_charger(asgi_server, world):
    id_tag_block(id_tag=world.bob_card)
    IdTag.objects.filter(pk=world.alice_card.pk).update(expires_at=timezone.now() + timedelta(days=3))

    async def scenario():
        async with connected(asgi_server, "ALPHA-1") as charger:
            return [
                (await charger.call(call.Authorize(id_tag=uid))).id_tag_info
                for uid in (world.alice_card.uid, world.bob_card.uid, "DEADBEEF")
            ]

    alice, bob, unknown = run(scenario())
    assert alice["status"] == "Accepted" and alice["expiry_date"]
    assert bob["status"] == "Blocked" and unknown["status"] == "Invalid"


def test_sessions_that_happened_offline_are_recorded_at_their_own_times(asgi_server, world):
    id_tag_block(id_tag=world.bob_card)
    yesterday = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)

    async def scenario():
        async with connected(asgi_server, "ALPHA-1") as charger:
            start = await charger.call(
                call.StartTransaction(
                    connector_id=2, id_tag=world.bob_card.uid, meter_start=500, timestamp=iso(yesterday)
                )
            )
            await charger.call(
                call.StopTransaction(
                    transaction_id=start.transaction_id,
                    meter_stop=4500,
                    timestamp=iso(yesterday + timedelta(minutes=40)),
                )
            )
            return start

    start = run(scenario())
    assert start.id_tag_info["status"] == "Blocked"
    session = ChargingSession.objects.get(pk=start.transaction_id)
    assert session.started_at == yesterday and session.energy_wh == 4000
    assert session.auth_status == "Blocked" and flags(session.pk) == {SessionFlag.Code.UNAUTHORIZED_START}


def test_odd_reports_are_stored_and_flagged_never_dropped(asgi_server, world):
    now = datetime.now(UTC).replace(microsecond=0)

    async def scenario():
        async with connected(asgi_server, "ALPHA-1") as alpha_1:
            unknown = await alpha_1.call(
                call.StopTransaction(transaction_id=999_999, meter_stop=100, timestamp=iso(now))
            )
            minus_one = await alpha_1.call(call.StopTransaction(transaction_id=-1, meter_stop=200, timestamp=iso(now)))
            backwards = await alpha_1.call(
                call.StartTransaction(connector_id=1, id_tag=world.alice_card.uid, meter_start=5000, timestamp=iso(now))
            )
            await alpha_1.call(
                call.MeterValues(
                    connector_id=1,
                    transaction_id=backwards.transaction_id,
                    meter_value=[{"timestamp": iso(now + timedelta(minutes=5)), "sampledValue": [{"value": "4000"}]}],
                )
            )
            future = await alpha_1.call(
                call.StartTransaction(
                    connector_id=2, id_tag=world.bob_card.uid, meter_start=0, timestamp=iso(now + timedelta(days=2))
                )
            )
            return unknown, minus_one, backwards.transaction_id, future.transaction_id

    unknown, minus_one, backwards, future = run(scenario())

    orphans = ChargingSession.objects.filter(charge_point=world.cp_a, connector__isnull=True)
    assert orphans.count() == 2
    assert all(flags(pk) == {SessionFlag.Code.UNKNOWN_TRANSACTION} for pk in orphans.values_list("pk", flat=True))
    assert flags(backwards) == {SessionFlag.Code.METER_BACKWARDS}
    assert flags(future) == {SessionFlag.Code.FUTURE_TIMESTAMP}


def test_a_station_cannot_stop_another_stations_transaction(asgi_server, world):
    make_cp = world.cp_a.site.charge_points.create  # a second station of the same operator
    other = make_cp(organization=world.org_a, ocpp_id="ALPHA-2", registration_status="accepted")
    now = datetime.now(UTC).replace(microsecond=0)

    async def scenario():
        async with connected(asgi_server, "ALPHA-1") as alpha_1:
            start = await alpha_1.call(
                call.StartTransaction(connector_id=1, id_tag=world.alice_card.uid, meter_start=0, timestamp=iso(now))
            )
        async with connected(asgi_server, "ALPHA-2") as alpha_2:
            await alpha_2.call(
                call.StopTransaction(
                    transaction_id=start.transaction_id, meter_stop=50_000, timestamp=iso(now + timedelta(minutes=1))
                )
            )
        return start.transaction_id

    tx = run(scenario())
    victim = ChargingSession.objects.get(pk=tx)
    assert victim.state == ChargingSession.State.ACTIVE and victim.meter_stop_wh is None
    record = ChargingSession.objects.get(charge_point=other)
    assert flags(record.pk) == {SessionFlag.Code.FOREIGN_STATION_STOP}
    assert SecurityEvent.objects.filter(kind=SecurityEvent.Kind.FOREIGN_STOP, charge_point=other).exists()


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("this is not json", "FormationViolation"),
        ('{"not": "a list"}', "ProtocolError"),
        (
            '[2, "m-1", "BootNotification", {"chargePointVendor": 42, "chargePointModel": "x"}]',
            "TypeConstraintViolation",
        ),
        ('[2, "m-2", "BootNotification", {"chargePointModel": "x"}]', "ProtocolError"),
        (
            '[2, "m-3", "StartTransaction", {"connectorId": 1, "idTag": "04A1B2C3", "meterStart": 0, '
            '"timestamp": "yesterday"}]',
            "TypeConstraintViolation",
        ),
        ('[2, "m-4", "FlyToTheMoon", {}]', "NotImplemented"),
    ],
)
def test_bad_frames_get_a_call_error_and_nothing_is_written(asgi_server, world, frame, code):
    answer = run(raw_exchange(asgi_server, "ALPHA-1", frame))
    assert answer[0] == 4 and answer[2] == code
    assert ChargingSession.objects.count() == 0
    assert ChargePoint.objects.get(pk=world.cp_a.pk).vendor == ""


def test_the_connection_stays_open_after_a_bad_frame(asgi_server, world):
    async def scenario():
        async with websockets.connect(f"{asgi_server}/ocpp/ALPHA-1", subprotocols=["ocpp1.6"]) as ws:
            await ws.send("[2, broken")
            error = json.loads(await ws.recv())
            await ws.send('[2, "hb-1", "Heartbeat", {}]')
            return error, json.loads(await ws.recv())

    error, heartbeat = run(scenario())
    assert error[2] == "FormationViolation"
    assert heartbeat[0] == 3 and heartbeat[1] == "hb-1" and "currentTime" in heartbeat[2]


def test_an_action_a_charger_may_not_send_is_not_supported(asgi_server, world):
    async def scenario():
        async with connected(asgi_server, "ALPHA-1") as charger:
            try:
                await charger.call(call.GetLocalListVersion(), suppress=False, skip_schema_validation=True)
            except OcppNotSupported:
                return "NotSupported"

    assert run(scenario()) == "NotSupported"


def test_vendor_firmware_and_diagnostics_notifications_are_stored(asgi_server, world):
    async def scenario():
        async with connected(asgi_server, "ALPHA-1") as charger:
            transfer = await charger.call(call.DataTransfer(vendor_id="com.example", message_id="temp", data="41C"))
            await charger.call(call.FirmwareStatusNotification(status="Installed"))
            await charger.call(call.DiagnosticsStatusNotification(status="Uploaded"))
            return transfer

    assert run(scenario()).status == "UnknownVendorId"
    events = {(e.kind, e.status, e.data) for e in ChargerEvent.objects.filter(charge_point=world.cp_a)}
    assert events == {
        (ChargerEvent.Kind.DATA_TRANSFER, "", "41C"),
        (ChargerEvent.Kind.FIRMWARE_STATUS, "Installed", ""),
        (ChargerEvent.Kind.DIAGNOSTICS_STATUS, "Uploaded", ""),
    }

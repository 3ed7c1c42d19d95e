"""SetChargingProfile sent for real: the ``ocpp`` package's client as the charger on the server subprocess. The
profile is built by its typed builder (or the operator API over HTTP), the charger's frame holds exactly those fields
in OCPP's JSON (limits as numbers, times as ISO 8601 strings in UTC), and every outcome is kept on the charger's
command history: Accepted, Rejected, NotSupported, and offline when no charger is connected.
"""

import asyncio
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import requests
from ocpp.routing import on
from ocpp.v16 import call, call_result
from ocpp.v16.enums import Action

from accounts.api_tokens import api_token_create
from sessions_app.models import ChargePoint, ChargerCommand, ChargingSession
from sessions_app.ocpp import command_payloads
from tests.e2e.ocpp_client import TestCharger, connected, iso
from tests.e2e.test_ocpp_commands import needs_redis, send, send_from_thread
from tests.threads import in_thread

pytestmark = pytest.mark.django_db(transaction=True)

STOCKHOLM = ZoneInfo("Europe/Stockholm")


class ProfileCharger(TestCharger):
    """Takes charging profiles, answering each with the next of ``answers``, and keeps every CALL's raw frame."""

    __test__ = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.answers = ["Accepted"]
        self.frames: list[list] = []

    async def route_message(self, raw_msg):
        message = json.loads(raw_msg)
        if message[0] == 2:
            self.frames.append(message)
        await super().route_message(raw_msg)

    @on(Action.set_charging_profile)
    async def on_set_charging_profile(self, connector_id, cs_charging_profiles):
        self.commands.append(("SetChargingProfile", {"connector_id": connector_id, **cs_charging_profiles}))
        return call_result.SetChargingProfile(status=self.answers.pop(0) if self.answers else "Accepted")


def default_profile() -> tuple[str, dict]:
    """A TxDefaultProfile for every connector: 16 A, 10.5 A on one phase after an hour, from 08:00 Stockholm."""
    return command_payloads.command_payload(
        command_payloads.set_charging_profile(
            connector_id=0,
            charging_profile_id=101,
            stack_level=2,
            charging_profile_purpose="TxDefaultProfile",
            charging_profile_kind="Absolute",
            valid_from=datetime(2026, 6, 1, 0, 0, tzinfo=STOCKHOLM),
            valid_to=datetime(2026, 12, 1, 0, 0, tzinfo=STOCKHOLM),
            charging_rate_unit="A",
            schedule_periods=[(0, Decimal("16")), (3600, Decimal("10.5"), 1)],
            duration=7200,
            start_schedule=datetime(2026, 6, 1, 8, 0, tzinfo=STOCKHOLM),
            min_charging_rate=Decimal("6.0"),
        )
    )


@needs_redis
def test_a_default_profile_reaches_the_charger_with_exactly_its_fields_and_its_answer_is_kept(asgi_server, world):
    action, payload = default_profile()

    async def scenario():
        async with connected(asgi_server, "ALPHA-1", charger_class=ProfileCharger) as charger:
            await charger.boot()
            result = await send_from_thread("ALPHA-1", action, payload)
            return result, charger.frames, charger.commands

    result, frames, received = asyncio.run(scenario())

    assert (result.outcome, result.status) == ("answered", "Accepted")
    [frame] = [frame for frame in frames if frame[2] == "SetChargingProfile"]
    assert frame[3] == {
        "connectorId": 0,
        "csChargingProfiles": {
            "chargingProfileId": 101,
            "stackLevel": 2,
            "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Absolute",
            "validFrom": "2026-05-31T22:00:00Z",  # midnight in Stockholm (summer time), in UTC
            "validTo": "2026-11-30T23:00:00Z",
            "chargingSchedule": {
                "chargingRateUnit": "A",
                "duration": 7200,
                "startSchedule": "2026-06-01T06:00:00Z",
                "minChargingRate": 6.0,
                "chargingSchedulePeriod": [
                    {"startPeriod": 0, "limit": 16.0},
                    {"startPeriod": 3600, "limit": 10.5, "numberPhases": 1},
                ],
            },
        },
    }
    periods = frame[3]["csChargingProfiles"]["chargingSchedule"]["chargingSchedulePeriod"]
    assert all(type(period["limit"]) is float and type(period["startPeriod"]) is int for period in periods)
    assert received[0][1]["charging_schedule"]["charging_schedule_period"][1] == {
        "start_period": 3600,
        "limit": 10.5,
        "number_phases": 1,
    }
    row = ChargerCommand.objects.get(charge_point=world.cp_a, action="SetChargingProfile")
    assert (row.outcome, row.status, row.request, row.answer) == (
        "answered",
        "Accepted",
        payload,
        {"status": "Accepted"},
    )


def test_a_tx_profile_for_the_running_transaction_from_the_operator_api(asgi_server, world):
    """The whole way: the charger starts a transaction, the operator's system limits it over HTTP."""
    _token, key = api_token_create(user=world.carol, name="Load balancer")
    base = asgi_server.replace("ws://", "http://")

    def post(body: dict) -> requests.Response:
        return requests.post(
            f"{base}/api/v1/operator/stations/{world.cp_a.pk}/charging-profiles/",
            json=body,
            headers={"Authorization": f"Bearer {key}"},
            timeout=40,
        )

    async def scenario():
        async with connected(asgi_server, "ALPHA-1", charger_class=ProfileCharger) as charger:
            await charger.boot()
            started = await charger.call(
                call.StartTransaction(connector_id=2, id_tag=world.alice_card.uid, meter_start=1000, timestamp=iso()),
                suppress=False,
            )
            body = {
                "connector": 2,
                "charging_profile_id": 5,
                "stack_level": 1,
                "charging_profile_purpose": "TxProfile",
                "charging_profile_kind": "Relative",
                "transaction_id": started.transaction_id,
                "valid_to": (datetime.now(UTC) + timedelta(hours=2)).isoformat(),
                "charging_rate_unit": "W",
                "periods": [{"start_period": 0, "limit": 7400}, {"start_period": 900, "limit": 3700.5}],
            }
            answer = await in_thread(post, body)
            wrong = await in_thread(post, {**body, "connector": 0})
            return started, answer, wrong, charger.frames

    started, answer, wrong, frames = asyncio.run(scenario())

    assert started.id_tag_info["status"] == "Accepted"
    session = ChargingSession.objects.get(pk=started.transaction_id)
    assert session.state == ChargingSession.State.ACTIVE
    assert answer.status_code == 200, answer.text
    assert (answer.json()["outcome"], answer.json()["status"]) == ("answered", "Accepted")
    [frame] = [frame for frame in frames if frame[2] == "SetChargingProfile"]
    profile = frame[3]["csChargingProfiles"]
    assert frame[3]["connectorId"] == 2
    assert (profile["chargingProfilePurpose"], profile["transactionId"]) == ("TxProfile", session.pk)
    assert isinstance(profile["validTo"], str) and profile["validTo"].endswith("Z")
    assert profile["chargingSchedule"]["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 7400.0},
        {"startPeriod": 900, "limit": 3700.5},
    ]
    # A TxProfile on connector 0 is refused before anything is sent.
    assert wrong.status_code == 400 and "connector" in wrong.json()["error"]["fields"]
    history = ChargerCommand.objects.filter(charge_point=world.cp_a, action="SetChargingProfile")
    assert [(row.outcome, row.status) for row in history] == [("answered", "Accepted")]


@needs_redis
def test_a_charger_rejecting_or_not_supporting_profiles_is_reported_and_kept(asgi_server, world):
    action, payload = default_profile()

    async def scenario():
        async with connected(asgi_server, "ALPHA-1", charger_class=ProfileCharger) as charger:
            charger.answers = ["Rejected", "NotSupported"]
            await charger.boot()
            return [await send_from_thread("ALPHA-1", action, payload) for _ in range(2)]

    results = asyncio.run(scenario())

    assert [(result.outcome, result.status) for result in results] == [
        ("answered", "Rejected"),
        ("answered", "NotSupported"),
    ]
    history = ChargerCommand.objects.filter(charge_point=world.cp_a).order_by("sent_at", "pk")
    assert [(row.action, row.outcome, row.status, row.request) for row in history] == [
        ("SetChargingProfile", "answered", "Rejected", payload),
        ("SetChargingProfile", "answered", "NotSupported", payload),
    ]


def test_a_profile_for_an_offline_charger_is_offline_and_kept_so(world):
    assert not ChargePoint.objects.get(pk=world.cp_a.pk).channel_name
    action, payload = default_profile()

    result = send("ALPHA-1", action, payload)

    assert result.outcome == "offline"
    row = ChargerCommand.objects.get(charge_point=world.cp_a)
    assert (row.action, row.outcome, row.request, row.answer) == ("SetChargingProfile", "offline", payload, {})

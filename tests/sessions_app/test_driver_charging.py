"""Drivers start and stop charging remotely, and watch their running session's figures.

Only the transport is replaced: ``commands.command_send`` records what it was asked to
send and returns the charger's answer the test chooses.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import IdTag
from sessions_app.models import ChargePoint, ChargingSession, Connector, MeterValue, offline_after
from sessions_app.ocpp.commands import CommandResult
from sessions_app.selectors import session_live_figures
from tests.factories import make_charge_point, make_session, make_site, make_tag

pytestmark = pytest.mark.django_db


def online(*charge_points: ChargePoint, status: str = "Available") -> None:
    now = timezone.now()
    for cp in charge_points:
        ChargePoint.objects.filter(pk=cp.pk).update(channel_name=f"specific.test!{cp.pk}", last_seen_at=now)
        Connector.objects.filter(charge_point=cp).update(status=status)


def connector(cp: ChargePoint, number: int = 1) -> Connector:
    return cp.connectors.get(number=number)


def start(client, cp: ChargePoint, card: IdTag, number: int = 1):
    return client.post(reverse("charging_start"), {"connector": connector(cp, number).pk, "card": card.pk})


def messages_of(response) -> str:
    return " ".join(str(message) for message in response.context["messages"])


def test_driver_starts_charging_with_their_card_at_a_free_connector(client, world, transport):
    online(world.cp_a)
    client.force_login(world.alice)
    response = start(client, world.cp_a, world.alice_card, number=2)
    assert response.status_code == 302 and response.url == reverse("dashboard")
    assert transport.sent == [("ALPHA-1", "RemoteStartTransaction", {"connector_id": 2, "id_tag": "04A1B2C3"})]
    assert "will start when you plug in" in messages_of(client.get(reverse("dashboard")))


@pytest.mark.parametrize(
    ("result", "shown"),
    [
        (CommandResult("answered", {"status": "Rejected"}), "declined to start charging (Rejected)"),
        (CommandResult("offline"), "The charger was offline, so nothing was sent. Please try again later."),
        (CommandResult("timeout"), "The charger did not answer in time. Please try again later."),
        (CommandResult("no_answer"), "The charger's connection ended before it answered. Please try again later."),
        (
            CommandResult("error", code="InternalError"),
            "The charger returned an error: InternalError. Please try again later.",
        ),
    ],
)
def test_each_answer_to_a_start_is_told_to_the_driver(client, world, transport, result, shown):
    online(world.cp_a)
    transport.result = result
    client.force_login(world.alice)
    response = start(client, world.cp_a, world.alice_card)
    assert shown in messages_of(client.get(response.url))


def test_start_page_offers_only_free_connectors_at_online_stations_of_the_drivers_operator(client, world):
    other_site_cp = make_charge_point(make_site(world.org_a, "Alpha Harbour"), "ALPHA-2")
    offline_cp = make_charge_point(world.site_a, "ALPHA-OFF")
    pending = make_charge_point(world.site_a, "ALPHA-PENDING")
    ChargePoint.objects.filter(pk=pending.pk).update(registration_status="pending")
    online(world.cp_a, other_site_cp, pending, world.cp_b)
    Connector.objects.filter(charge_point=world.cp_a, number=1).update(status="Charging")
    Connector.objects.filter(charge_point=other_site_cp, number=2).update(status="Preparing")
    Connector.objects.filter(charge_point=offline_cp).update(status="Available")
    client.force_login(world.alice)
    form = client.get(reverse("charging_start")).context["form"]
    offered = {(c.charge_point.ocpp_id, c.number) for c in form.fields["connector"].queryset}
    assert offered == {("ALPHA-1", 2), ("ALPHA-2", 1), ("ALPHA-2", 2)}
    assert list(form.fields["card"].queryset) == [world.alice_card]


def test_a_stale_connection_does_not_count_as_online(client, world, transport):
    online(world.cp_a)
    stale = timezone.now() - offline_after(world.cp_a.heartbeat_interval) - timedelta(seconds=1)
    ChargePoint.objects.filter(pk=world.cp_a.pk).update(last_seen_at=stale)
    client.force_login(world.alice)
    response = start(client, world.cp_a, world.alice_card)
    assert response.status_code == 200 and "connector" in response.context["form"].errors
    assert transport.sent == []


def test_driver_cannot_use_another_drivers_card(client, world, transport):
    online(world.cp_a)
    client.force_login(world.alice)
    response = start(client, world.cp_a, world.bob_card)
    assert response.status_code == 200 and "card" in response.context["form"].errors
    assert transport.sent == []


def test_driver_cannot_use_a_blocked_card(client, world, transport):
    online(world.cp_a)
    IdTag.objects.filter(pk=world.alice_card.pk).update(status=IdTag.Status.BLOCKED, blocked_at=timezone.now())
    client.force_login(world.alice)
    assert "card" in start(client, world.cp_a, world.alice_card).context["form"].errors
    assert transport.sent == []


def test_driver_cannot_start_at_another_operators_station(client, world, transport):
    online(world.cp_a, world.cp_b)
    client.force_login(world.alice)
    response = start(client, world.cp_b, world.alice_card)
    assert response.status_code == 200 and "connector" in response.context["form"].errors
    assert transport.sent == []


def test_a_card_already_charging_cannot_start_a_second_session(client, world, transport):
    online(world.cp_a)
    make_session(connector(world.cp_a, 1), world.alice_card, energy_wh=None)
    client.force_login(world.alice)
    response = start(client, world.cp_a, world.alice_card, number=2)
    assert "already charging" in " ".join(response.context["form"].non_field_errors())
    assert transport.sent == []


def test_staff_have_no_stations_or_cards_to_start_with(client, world):
    online(world.cp_a)
    client.force_login(world.carol)
    form = client.get(reverse("charging_start")).context["form"]
    assert not form.fields["connector"].queryset.exists() and not form.fields["card"].queryset.exists()


def test_driver_stops_their_own_running_session(client, world, transport):
    session = make_session(connector(world.cp_a), world.alice_card, energy_wh=None)
    client.force_login(world.alice)
    response = client.post(reverse("charging_stop", args=[session.pk]))
    assert response.status_code == 302
    assert transport.sent == [("ALPHA-1", "RemoteStopTransaction", {"transaction_id": session.pk})]
    assert "is stopping your session" in messages_of(client.get(response.url))


def test_driver_cannot_stop_another_drivers_or_a_finished_session(client, world, transport):
    bobs = make_session(connector(world.cp_a), world.bob_card, energy_wh=None)
    finished = make_session(connector(world.cp_a, 2), world.alice_card)
    client.force_login(world.alice)
    assert client.post(reverse("charging_stop", args=[bobs.pk])).status_code == 404
    assert client.post(reverse("charging_stop", args=[finished.pk])).status_code == 404
    assert client.get(reverse("charging_stop", args=[bobs.pk])).status_code == 405
    assert transport.sent == []


def test_stop_told_when_the_charger_is_offline(client, world, transport):
    transport.result = CommandResult("offline")
    session = make_session(connector(world.cp_a), world.alice_card, energy_wh=None)
    client.force_login(world.alice)
    response = client.post(reverse("charging_stop", args=[session.pk]))
    assert "offline" in messages_of(client.get(response.url))


def meter(
    session: ChargingSession,
    seconds: int,
    value: str,
    measurand: str = "Energy.Active.Import.Register",
    unit: str = "Wh",
    phase: str = "",
) -> MeterValue:
    return MeterValue.objects.create(
        charge_point=session.charge_point,
        connector=session.connector,
        session=session,
        timestamp=session.started_at + timedelta(seconds=seconds),
        measurand=measurand,
        value=Decimal(value),
        unit=unit,
        phase=phase,
    )


def test_live_figures_come_from_the_newest_readings(world):
    started = timezone.now() - timedelta(minutes=75)
    session = make_session(connector(world.cp_a), world.alice_card, started_at=started, energy_wh=None)
    meter(session, 60, "1001000")
    meter(session, 600, "1004250")
    meter(session, 300, "1002000")  # arrived late, older: not the newest
    meter(session, 600, "1500000", phase="L1")  # a per-phase register is not the total
    meter(session, 60, "7200", measurand="Power.Active.Import", unit="W")
    meter(session, 600, "11040", measurand="Power.Active.Import", unit="W")

    figures = session_live_figures(session=session, now=started + timedelta(minutes=75, seconds=30))

    assert figures["energy_wh"] == 4250 and figures["power_w"] == 11040
    assert figures["duration"] == timedelta(minutes=75, seconds=30)
    assert figures["state"] == "active" and figures["state_display"] == "Charging"
    assert figures["measured_at"] == started + timedelta(minutes=10)


def test_live_figures_before_any_reading_and_after_the_stop(world):
    session = make_session(connector(world.cp_a), world.alice_card, energy_wh=None)
    figures = session_live_figures(session=session, now=session.started_at + timedelta(minutes=5))
    assert (figures["energy_wh"], figures["power_w"], figures["measured_at"]) == (0, None, None)

    done = make_session(connector(world.cp_a, 2), world.alice_card, energy_wh=12_345, minutes=95)
    meter(done, 60, "7000", measurand="Power.Active.Import", unit="W")
    figures = session_live_figures(session=done, now=timezone.now())
    assert figures["energy_wh"] == 12_345 and figures["duration"] == timedelta(minutes=95)
    assert figures["state"] == "completed" and figures["power_w"] is None


def test_live_json_is_the_drivers_own(client, world):
    mine = make_session(connector(world.cp_a), world.alice_card, energy_wh=None)
    meter(mine, 60, "1002500")
    meter(mine, 60, "7400", measurand="Power.Active.Import", unit="W")
    bobs = make_session(connector(world.cp_a, 2), world.bob_card, energy_wh=None)
    client.force_login(world.alice)
    response = client.get(reverse("session_live", args=[mine.pk]))
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    live = response.json()
    assert (live["energy_wh"], live["energy_kwh_display"], live["power_w"], live["power_kw_display"]) == (
        2500,
        "2.50",
        7400.0,
        "7.4",
    )
    assert live["state"] == "active" and live["duration_seconds"] >= 3 * 3600
    assert client.get(reverse("session_live", args=[bobs.pk])).status_code == 404
    client.logout()
    assert client.get(reverse("session_live", args=[mine.pk])).status_code == 302


def test_dashboard_shows_the_running_sessions_figures_and_a_stop_button(client, world):
    session = make_session(connector(world.cp_a), world.alice_card, energy_wh=None)
    meter(session, 60, "1003210")
    meter(session, 60, "7400", measurand="Power.Active.Import", unit="W")
    client.force_login(world.alice)
    page = client.get(reverse("dashboard")).content.decode()
    assert reverse("session_live", args=[session.pk]) in page and reverse("charging_stop", args=[session.pk]) in page
    assert "3.21" in page and "7.4" in page and "js/live-session.js" in page


def test_dashboard_offers_start_when_not_charging(client, world):
    make_tag(world.alice.customer_account, world.alice)
    client.force_login(world.alice)
    assert reverse("charging_start") in client.get(reverse("dashboard")).content.decode()

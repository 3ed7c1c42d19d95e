"""The live operations board in the admin: scoped to the operator, staff only, a fixed number of queries,
and commands from a row reach the transport (``commands.command_send``, replaced by the ``transport`` fixture)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from sessions_app.board import board_stations
from sessions_app.models import ChargePoint, ConnectorStatus, MeterValue, StatusEvent
from tests.factories import make_charge_point, make_session, make_site

pytestmark = pytest.mark.django_db

BOARD, ROWS = reverse("admin:sessions_app_board"), reverse("admin:sessions_app_board_rows")


def command_url(cp: ChargePoint) -> str:
    return reverse("admin:sessions_app_board_command", args=[cp.pk])


def test_an_operator_sees_only_their_own_stations(client, world):
    client.force_login(world.dave)
    page = client.get(BOARD).content.decode()
    rows = client.get(ROWS).content.decode()
    assert "BETA-1" in page and "BETA-1" in rows
    assert "ALPHA-1" not in page and "ALPHA-1" not in rows
    assert "Alpha Depot" not in page  # nor the other's sites in the filter or on the map


def test_the_board_shows_the_running_session_with_its_driver_energy_and_power(client, world):
    connector = world.cp_a.connectors.get(number=1)
    session = make_session(
        connector, world.alice_card, energy_wh=None, started_at=timezone.now() - timedelta(minutes=65)
    )
    for measurand, value, unit in (
        ("Energy.Active.Import.Register", "1004250", "Wh"),
        ("Power.Active.Import", "7350", "W"),
    ):
        MeterValue.objects.create(
            charge_point=world.cp_a,
            connector=connector,
            session=session,
            timestamp=timezone.now(),
            measurand=measurand,
            value=Decimal(value),
            unit=unit,
        )
    client.force_login(world.carol)
    rows = client.get(ROWS).content.decode()
    assert "alice@example.com" in rows or world.alice.get_full_name() in rows
    assert "4.25 kWh" in rows and "7.4 kW" in rows and "1:05" in rows
    assert 'class="board-stop"' in rows


def test_the_last_error_and_the_status_filter(client, world):
    connector = world.cp_a.connectors.get(number=2)
    connector.status = ConnectorStatus.FAULTED
    connector.save()
    StatusEvent.objects.create(
        charge_point=world.cp_a,
        connector=connector,
        status=ConnectorStatus.FAULTED,
        error_code="GroundFailure",
        timestamp=timezone.now(),
    )
    client.force_login(world.carol)
    faulted = client.get(ROWS, {"status": "Faulted"}).content.decode()
    assert "Ground failure" in faulted and f'data-connector="{connector.pk}"' in faulted
    assert faulted.count("data-connector=") == 1
    assert "No station matches." in client.get(ROWS, {"status": "online"}).content.decode()  # never connected


def test_drivers_and_staff_without_an_organization_are_refused(client, world, django_user_model):
    client.force_login(world.alice)
    assert client.get(ROWS).status_code == 302  # the admin's login: not staff
    loose = django_user_model.objects.create_user(email="loose@example.com", password="x", is_staff=True)
    client.force_login(loose)
    assert client.get(ROWS).status_code == 403
    assert client.post(command_url(world.cp_a), {"target": "reset"}).status_code == 403


def test_the_board_is_on_the_admin_index(client, world):
    client.force_login(world.carol)
    assert BOARD in client.get(reverse("admin:index")).content.decode()


def test_a_stop_from_the_board_sends_remote_stop_for_the_running_session(client, world, transport):
    session = make_session(world.cp_a.connectors.first(), world.alice_card, energy_wh=None)
    client.force_login(world.carol)
    response = client.post(
        command_url(world.cp_a), {"target": f"stop:{session.pk}", "next": BOARD + "?status=Charging"}
    )
    assert response.status_code == 302 and response["Location"] == BOARD + "?status=Charging"
    assert transport.sent == [("ALPHA-1", "RemoteStopTransaction", {"transaction_id": session.pk})]


def test_unlock_and_reset_from_the_board(client, world, transport):
    connector = world.cp_a.connectors.get(number=2)
    client.force_login(world.carol)
    client.post(command_url(world.cp_a), {"target": f"unlock:{connector.pk}"})
    client.post(command_url(world.cp_a), {"target": "reset", "next": "https://elsewhere.example/"})
    assert transport.sent == [
        ("ALPHA-1", "UnlockConnector", {"connector_id": 2}),
        ("ALPHA-1", "Reset", {"type": "Soft"}),
    ]


def test_no_command_reaches_another_operators_station_or_session(client, world, transport):
    other = make_session(world.cp_b.connectors.first(), None, energy_wh=None)
    client.force_login(world.carol)
    assert client.post(command_url(world.cp_b), {"target": "reset"}).status_code == 404
    assert client.post(command_url(world.cp_a), {"target": f"stop:{other.pk}"}).status_code == 404
    assert transport.sent == []


def test_the_board_reads_fifty_stations_in_a_fixed_number_of_queries(world):
    site = make_site(world.org_a, "Big Depot")
    for number in range(50):
        cp = make_charge_point(site, f"BIG-{number:02d}")
        make_session(cp.connectors.first(), world.alice_card, energy_wh=None)
    now = timezone.now()
    with CaptureQueriesContext(connection) as queries:
        stations = board_stations(organization=world.org_a, now=now)
        sessions = [row.session for station in stations for row in station.connectors if row.session]
        assert [s.who for s in sessions]  # the drivers are loaded with the sessions
    assert len(stations) == 51 and len(sessions) == 50
    assert len(queries) == 3


def test_the_board_page_answers_for_fifty_stations_within_a_bounded_number_of_queries(client, world):
    site = make_site(world.org_a, "Big Depot")
    for number in range(50):
        make_charge_point(site, f"BIG-{number:02d}")
    client.force_login(world.carol)
    client.get(ROWS)  # the session and permission caches warm up
    with CaptureQueriesContext(connection) as queries:
        assert client.get(ROWS).status_code == 200
    assert len(queries) <= 10

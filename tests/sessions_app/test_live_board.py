"""The live operations board in the admin: scoped to the operator, staff only, a fixed number of queries,
and commands from a row reach the transport (``commands.command_send``, replaced by the ``transport`` fixture)."""

import html
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from sessions_app.board import board_stations
from sessions_app.models import ChargePoint, Connector, ConnectorStatus, MeterValue, StatusEvent
from tests.factories import make_charge_point, make_organization, make_session, make_site, make_staff

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
    said = [str(message) for message in client.get(BOARD).context["messages"]]
    assert said == ["Stop to ALPHA-1: the charger answered Accepted"]  # commands.outcome_text's words


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


# --- partial refresh (a push named some stations) ------------------------------------------------------


def _station_ids(html: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'<tbody data-station="(\d+)"', html)]


def test_a_partial_refresh_has_the_stations_asked_for_with_the_whole_boards_counts_and_map(client, world):
    other = make_charge_point(world.site_a, "ALPHA-2")
    connector = other.connectors.get(number=1)
    connector.status = ConnectorStatus.CHARGING
    connector.save()
    client.force_login(world.carol)
    full = client.get(ROWS).content.decode()
    part = client.get(ROWS, {"only": f"{world.cp_a.pk},{other.pk},x"}).content.decode()
    alone = client.get(ROWS, {"only": str(other.pk)}).content.decode()
    assert _station_ids(full) == _station_ids(part) == [world.cp_a.pk, other.pk]
    assert _station_ids(alone) == [other.pk]
    # the counts and the map are the whole board's, in a partial refresh too
    summary = full[full.index('<ul class="counts"') : full.index("<table")].strip()
    assert all(summary in fragment for fragment in (part, alone))
    assert "<strong>2</strong>stations offline" in alone and "<strong>1</strong>connectors charging" in alone


def test_a_partial_refresh_leaves_out_other_operators_and_filtered_out_stations(client, world):
    client.force_login(world.carol)
    assert _station_ids(client.get(ROWS, {"only": str(world.cp_b.pk)}).content.decode()) == []
    assert _station_ids(client.get(ROWS, {"only": str(world.cp_a.pk), "status": "Faulted"}).content.decode()) == []
    client.force_login(world.admin)
    assert _station_ids(client.get(ROWS, {"only": f"{world.cp_a.pk},{world.cp_b.pk}"}).content.decode()) == [
        world.cp_a.pk,
        world.cp_b.pk,
    ]


def _partial_queries(client, stations: int) -> int:
    site = make_site(make_organization("Sized"), "Sized Depot")
    staff = make_staff(site.organization)
    charge_points = [make_charge_point(site, f"SIZED-{stations}-{n:02d}") for n in range(stations)]
    for cp in charge_points:
        make_session(cp.connectors.first(), None, energy_wh=None)
    client.force_login(staff)
    only = {"only": ",".join(str(cp.pk) for cp in charge_points[:2])}
    client.get(ROWS, only)  # the session and permission caches warm up
    with CaptureQueriesContext(connection) as queries:
        html = client.get(ROWS, only).content.decode()
    assert len(_station_ids(html)) == 2 and f"<strong>{stations}</strong>stations offline" in html
    return len(queries)


def test_a_partial_refresh_costs_the_same_queries_for_a_small_and_a_large_board(client, db):
    assert _partial_queries(client, 3) == _partial_queries(client, 40) <= 12


# --- start from a row ----------------------------------------------------------------------------------


def test_a_free_connector_offers_a_start_that_opens_the_command_page_with_the_connector_chosen(client, world):
    first, second = world.cp_a.connectors.get(number=1), world.cp_a.connectors.get(number=2)
    Connector.objects.filter(pk__in=[first.pk, second.pk]).update(status=ConnectorStatus.AVAILABLE)
    make_session(first, world.alice_card, energy_wh=None)
    client.force_login(world.carol)
    rows = client.get(ROWS).content.decode()
    starts = re.findall(r'<a href="([^"]+)" class="board-start button">', rows)
    assert starts == [
        f"/admin/sessions_app/chargepoint/{world.cp_a.pk}/commands/?action=RemoteStartTransaction&amp;connector_id=2"
    ]  # not on the connector that charges
    page = client.get(html.unescape(starts[0])).content.decode()
    assert re.search(r'<option value="RemoteStartTransaction" selected>', page)
    assert re.search(r'<input type="number" name="connector_id" value="2"', page)


def test_the_command_page_ignores_a_prefill_that_is_no_command_or_connector(client, world):
    client.force_login(world.carol)
    url = reverse("admin:sessions_app_chargepoint_commands", args=[world.cp_a.pk])
    page = client.get(url, {"action": "DropDatabase", "connector_id": "1; x"}).content.decode()
    assert "DropDatabase" not in page and " selected>" not in page.split('name="action"')[1].split("</select>")[0]
    assert 'name="connector_id" value=' not in page

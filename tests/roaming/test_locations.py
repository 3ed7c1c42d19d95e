"""OCPI Locations (CPO sender): the operator's sites as Locations with their EVSEs, a page at a time or one by its
ids, and each EVSE's status pushed to the partners as a charger reports it or goes offline."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from billing.models import TariffAssignment
from roaming.models import PushItem
from roaming.ocpi import ocpi_datetime
from sessions_app.models import ChargePoint, Connector, ConnectorStatus, Site
from sessions_app.services import (
    StatusReport,
    charge_point_disconnect,
    charge_point_seen,
    connector_status_record_many,
)
from tests.factories import REGISTERED_AT, make_charge_point, make_partner, make_site, make_tariff
from tests.roaming.conftest import auth

pytestmark = pytest.mark.django_db

LOCATIONS = "/ocpi/2.2.1/locations"
RECEIVER = "https://emsp.example/ocpi/2.2.1/locations"


def online(charge_point: ChargePoint) -> ChargePoint:
    now = timezone.now()
    charge_point.channel_name, charge_point.connected_at, charge_point.last_seen_at = "channel-1", now, now
    charge_point.save(update_fields=["channel_name", "connected_at", "last_seen_at"])
    return charge_point


def test_a_partner_gets_the_operators_sites_as_locations_with_an_evse_per_connector(client, world, partner):
    response = client.get(LOCATIONS, **auth(partner))

    assert response.status_code == 200
    body = response.json()
    assert body["status_code"] == 1000
    [location] = body["data"]  # operator B's site is not listed
    assert location["id"] == str(world.site_a.pk)
    assert (location["country_code"], location["party_id"], location["publish"]) == ("SE", "CPO", True)
    assert (location["address"], location["city"], location["postal_code"]) == ("Storgatan 1", "Stockholm", "111 22")
    assert location["country"] == "SWE"
    assert location["coordinates"] == {"latitude": "59.329300", "longitude": "18.068600"}
    assert location["time_zone"] == "Europe/Stockholm"
    assert location["operator"] == {"name": world.org_a.name}
    assert [evse["uid"] for evse in location["evses"]] == ["ALPHA-1-1", "ALPHA-1-2"]
    evse = location["evses"][0]
    assert evse["evse_id"] == "SE*CPO*EALPHA*1*1"
    assert evse["status"] == "UNKNOWN"  # the charger is offline
    assert evse["physical_reference"] == "ALPHA-1/1"
    assert "REMOTE_START_STOP_CAPABLE" in evse["capabilities"]
    [connector] = evse["connectors"]
    assert connector == {
        "id": "1",
        "standard": "IEC_62196_T2",
        "format": "SOCKET",
        "power_type": "AC_3_PHASE",
        "max_voltage": 230,
        "max_amperage": 32,
        "max_electric_power": 22000,
        "last_updated": "2020-01-01T00:00:00Z",
    }
    assert location["last_updated"] == ocpi_datetime(world.site_a.updated_at)  # newer than its EVSEs (2020)


def test_an_evse_status_is_its_connectors_while_the_charger_is_online(client, world, partner):
    online(world.cp_a)
    Connector.objects.filter(charge_point=world.cp_a, number=1).update(status=ConnectorStatus.SUSPENDED_EV)
    Connector.objects.filter(charge_point=world.cp_a, number=2).update(status=ConnectorStatus.FAULTED)

    [location] = client.get(LOCATIONS, **auth(partner)).json()["data"]

    assert [evse["status"] for evse in location["evses"]] == ["CHARGING", "OUTOFORDER"]


def test_a_dc_connector_and_a_one_phase_one(client, world, partner):
    Connector.objects.filter(charge_point=world.cp_a, number=1).update(
        connector_type=Connector.ConnectorType.CCS2, max_power_kw=Decimal("150.0")
    )
    Connector.objects.filter(charge_point=world.cp_a, number=2).update(phases=1, max_power_kw=Decimal("7.4"))

    [location] = client.get(LOCATIONS, **auth(partner)).json()["data"]

    dc, ac = (evse["connectors"][0] for evse in location["evses"])
    assert (dc["standard"], dc["format"], dc["power_type"], dc["max_electric_power"]) == (
        "IEC_62196_T2_COMBO",
        "CABLE",
        "DC",
        150000,
    )
    assert (ac["power_type"], ac["max_amperage"], ac["max_electric_power"]) == ("AC_1_PHASE", 32, 7400)


def test_sites_without_an_accepted_charger_are_not_locations(client, world, partner):
    make_site(world.org_a, "Empty lot")
    make_charge_point(make_site(world.org_a, "No plugs"), "BARE-1", connectors=0)
    pending = make_charge_point(make_site(world.org_a, "Pending"), "PENDING-1")
    ChargePoint.objects.filter(pk=pending.pk).update(registration_status=ChargePoint.RegistrationStatus.PENDING)

    response = client.get(LOCATIONS, **auth(partner))

    assert [location["id"] for location in response.json()["data"]] == [str(world.site_a.pk)]
    assert response["X-Total-Count"] == "1"


def test_connectors_name_the_tariff_the_partners_drivers_are_priced_with(client, world, partner):
    everyone = make_tariff(world.org_a, "Everyone")
    TariffAssignment.objects.create(tariff=everyone)
    roaming = make_tariff(world.org_a, "Roaming")
    TariffAssignment.objects.create(tariff=roaming, site=world.site_a, customer_group=partner.customer_group)

    [location] = client.get(LOCATIONS, **auth(partner)).json()["data"]

    assert [evse["connectors"][0]["tariff_ids"] for evse in location["evses"]] == [[str(roaming.pk)]] * 2


def test_the_list_costs_the_same_queries_however_many_connectors_it_names(client, world, partner):
    TariffAssignment.objects.create(tariff=make_tariff(world.org_a, "Everyone"))

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(LOCATIONS, **auth(partner)).status_code == 200
        return len(captured)

    few = queries()
    for _ in range(3):
        make_charge_point(make_site(world.org_a), connectors=4)
    assert queries() == few


def test_the_list_is_paginated_with_the_headers_and_filtered_by_last_updated(client, world, partner):
    sites = [world.site_a] + [make_site(world.org_a) for _ in range(2)]
    for site in sites[1:]:
        make_charge_point(site, connectors=1)
    Site.objects.update(created_at=REGISTERED_AT, updated_at=REGISTERED_AT)
    changed = Connector.objects.get(charge_point__site=sites[2])
    changed.status_changed_at = datetime(2024, 5, 1, tzinfo=UTC)
    changed.save()

    first = client.get(LOCATIONS, {"limit": 2}, **auth(partner))
    second = client.get(LOCATIONS, {"limit": 2, "offset": 2}, **auth(partner))
    recent = client.get(LOCATIONS, {"date_from": "2024-01-01T00:00:00Z"}, **auth(partner))
    older = client.get(LOCATIONS, {"date_to": "2024-01-01T00:00:00Z"}, **auth(partner))

    assert (first["X-Total-Count"], first["X-Limit"]) == ("3", "100")
    assert [loc["id"] for loc in first.json()["data"]] == [str(sites[0].pk), str(sites[1].pk)]
    assert first["Link"] == f'<http://testserver{LOCATIONS}?limit=2&offset=2>; rel="next"'
    assert [loc["id"] for loc in second.json()["data"]] == [str(sites[2].pk)]
    assert "Link" not in second
    assert [loc["id"] for loc in recent.json()["data"]] == [str(sites[2].pk)]
    assert recent.json()["data"][0]["last_updated"] == "2024-05-01T00:00:00Z"
    assert [loc["id"] for loc in older.json()["data"]] == [str(sites[0].pk), str(sites[1].pk)]


def test_without_a_token_the_locations_are_refused(client, world, partner):
    assert client.get(LOCATIONS).status_code == 401
    assert client.get(LOCATIONS, HTTP_AUTHORIZATION="Token bm9wZQ==").status_code == 401


def test_one_location_evse_or_connector_by_its_ids(client, world, partner):
    site = world.site_a.pk

    location = client.get(f"{LOCATIONS}/{site}", **auth(partner)).json()["data"]
    evse = client.get(f"{LOCATIONS}/{site}/ALPHA-1-2", **auth(partner)).json()["data"]
    connector = client.get(f"{LOCATIONS}/{site}/ALPHA-1-2/1", **auth(partner)).json()["data"]

    assert location["id"] == str(site) and len(location["evses"]) == 2
    assert evse["uid"] == "ALPHA-1-2" and evse["evse_id"] == "SE*CPO*EALPHA*1*2"
    assert connector["id"] == "1" and connector["standard"] == "IEC_62196_T2"


@pytest.mark.parametrize(
    "path",
    ["{other}", "{other}/BETA-1-1", "{site}/BETA-1-1", "{site}/ALPHA-1-3", "{site}/ALPHA-1-1/2", "x", "{site}/nope"],
)
def test_unknown_or_another_operators_ids_are_2003_not_found(client, world, partner, path):
    url = f"{LOCATIONS}/" + path.format(site=world.site_a.pk, other=world.site_b.pk)

    response = client.get(url, **auth(partner))

    assert response.status_code == 404
    assert response.json()["status_code"] == 2003


def test_a_long_ocpp_identity_gets_a_short_evse_uid_that_finds_it(client, world, partner):
    long_id = "A" * 40
    make_charge_point(world.site_a, long_id, connectors=1)

    [location] = client.get(LOCATIONS, **auth(partner)).json()["data"]
    [listed] = [evse for evse in location["evses"] if not evse["uid"].startswith("ALPHA-1-")]
    evse = client.get(f"{LOCATIONS}/{world.site_a.pk}/{listed['uid']}", **auth(partner)).json()["data"]

    assert len(listed["uid"]) <= 36 and listed["uid"].startswith("~")
    assert "evse_id" not in listed  # too long for eMI3
    assert evse == listed


# --- status pushed ---------------------------------------------------------------------------------------------


def status(charge_point: ChargePoint, connector: int, value: str, at: datetime) -> StatusReport:
    return StatusReport(
        charge_point=charge_point, connector_id=connector, status=value, error_code="NoError", timestamp=at
    )


@pytest.fixture
def unsent(monkeypatch):
    """Pushes stay in the outbox (as when the partner is slow to be reached)."""
    monkeypatch.setattr("roaming.push._send_soon", lambda ids: None)


def test_a_burst_of_status_changes_leaves_one_push_per_evse_and_partner(
    world, partner, unsent, django_capture_on_commit_callbacks
):
    other = make_partner(world.org_a, "Second eMSP", country_code="DE", party_id="EMX")
    make_partner(world.org_b, "B's eMSP")  # not the operator's partner
    online(world.cp_a)
    at = timezone.now()

    with django_capture_on_commit_callbacks(execute=True):
        connector_status_record_many(reports=[status(world.cp_a, 1, "Preparing", at)], now=at)
    with django_capture_on_commit_callbacks(execute=True):
        connector_status_record_many(reports=[status(world.cp_a, 1, "Charging", at + timedelta(seconds=1))], now=at)

    evse_pushes = PushItem.objects.filter(key=f"evse:{world.cp_a.ocpp_id}-1")
    assert sorted(evse_pushes.values_list("partner_id", flat=True)) == sorted([partner.pk, other.pk])
    assert {item.body["status"] for item in evse_pushes} == {"CHARGING"}
    assert not PushItem.objects.exclude(partner__in=[partner, other]).exists()


def test_a_status_that_did_not_change_pushes_nothing(world, partner, unsent, django_capture_on_commit_callbacks):
    online(world.cp_a)
    Connector.objects.filter(charge_point=world.cp_a, number=1).update(status=ConnectorStatus.AVAILABLE)
    at = timezone.now()

    with django_capture_on_commit_callbacks(execute=True):
        connector_status_record_many(reports=[status(world.cp_a, 1, "Available", at)], now=at)

    assert not PushItem.objects.exists()


def test_the_status_is_sent_to_the_partners_locations_receiver(
    world, partner, emsp, django_capture_on_commit_callbacks
):
    online(world.cp_a)
    at = (timezone.now() + timedelta(seconds=1)).replace(microsecond=0)  # after it connected

    with django_capture_on_commit_callbacks(execute=True):
        connector_status_record_many(reports=[status(world.cp_a, 2, "Faulted", at)], now=at)

    site = world.site_a.pk
    assert emsp.calls == [
        ("PATCH", f"{RECEIVER}/SE/CPO/{site}/ALPHA-1-2", {"status": "OUTOFORDER", "last_updated": ocpi_datetime(at)})
    ]
    assert PushItem.objects.get().status == PushItem.Status.SENT


def test_a_charger_going_offline_pushes_its_evses_unknown(world, partner, unsent, django_capture_on_commit_callbacks):
    online(world.cp_a)

    with django_capture_on_commit_callbacks(execute=True):
        charge_point_disconnect(charge_point_id=world.cp_a.pk, channel_name="channel-1")

    pushes = PushItem.objects.order_by("key")
    assert [(item.key, item.body["status"]) for item in pushes] == [
        ("evse:ALPHA-1-1", "UNKNOWN"),
        ("evse:ALPHA-1-2", "UNKNOWN"),
    ]


def test_a_charger_back_online_pushes_its_evses_status(world, partner, unsent, django_capture_on_commit_callbacks):
    Connector.objects.filter(charge_point=world.cp_a).update(status=ConnectorStatus.AVAILABLE)

    with django_capture_on_commit_callbacks(execute=True):
        charge_point_seen(charge_point_id=world.cp_a.pk, at=timezone.now(), channel_name="channel-2")

    assert sorted((item.key, item.body["status"]) for item in PushItem.objects.all()) == [
        ("evse:ALPHA-1-1", "AVAILABLE"),
        ("evse:ALPHA-1-2", "AVAILABLE"),
    ]


def test_a_partner_without_a_locations_receiver_gets_no_push(world, unsent, django_capture_on_commit_callbacks):
    partner = make_partner(world.org_a)
    partner.endpoints = {"credentials": partner.endpoints["credentials"]}
    partner.save()
    online(world.cp_a)

    with django_capture_on_commit_callbacks(execute=True):
        charge_point_disconnect(charge_point_id=world.cp_a.pk, channel_name="channel-1")

    assert not PushItem.objects.exists()


def test_times_are_ocpi_datetimes_of_25_characters_at_most():
    moment = datetime(2026, 1, 31, 12, 0, 0, 123456, tzinfo=UTC)

    assert ocpi_datetime(moment) == "2026-01-31T12:00:00.123Z"
    assert ocpi_datetime(moment.replace(microsecond=999)) == "2026-01-31T12:00:00Z"
    assert ocpi_datetime(moment.astimezone(timezone.get_fixed_timezone(60))) == "2026-01-31T12:00:00.123Z"


# --- a site edited ----------------------------------------------------------------------------------------------------


def admin_save(rf, user, site: Site, changed: list[str]) -> None:
    """The site saved from its admin page with ``changed`` fields changed (what the admin's save does after its form
    is valid)."""
    request = rf.post("/")
    request.user = user
    admin.site._registry[Site].save_model(request, site, SimpleNamespace(changed_data=changed), change=True)


def test_an_edited_site_is_sent_whole_to_the_partners_locations_receiver(
    client, rf, world, partner, emsp, django_capture_on_commit_callbacks
):
    make_partner(world.org_b, "B's eMSP")  # another operator's partner
    site = Site.objects.get(pk=world.site_a.pk)
    site.street, site.name = "Hamngatan 2", "Alpha Harbour"

    with django_capture_on_commit_callbacks(execute=True):
        admin_save(rf, world.carol, site, ["street", "name"])

    [(method, url, body)] = emsp.calls
    assert (method, url) == ("PUT", f"{RECEIVER}/SE/CPO/{site.pk}")
    assert (body["address"], body["name"], body["last_updated"]) == (
        "Hamngatan 2",
        "Alpha Harbour",
        ocpi_datetime(Site.objects.get(pk=site.pk).updated_at),
    )
    assert [evse["uid"] for evse in body["evses"]] == ["ALPHA-1-1", "ALPHA-1-2"]
    pulled = client.get(f"{LOCATIONS}/{site.pk}", **auth(partner)).json()["data"]
    assert pulled == body
    since = client.get(LOCATIONS, {"date_from": body["last_updated"]}, **auth(partner)).json()["data"]
    assert [location["id"] for location in since] == [str(site.pk)]


def test_a_site_saved_unchanged_or_without_a_published_charger_sends_nothing(
    rf, world, partner, emsp, django_capture_on_commit_callbacks
):
    bare = make_site(world.org_a, "Empty lot")
    with django_capture_on_commit_callbacks(execute=True):
        admin_save(rf, world.carol, world.site_a, [])
        admin_save(rf, world.carol, bare, ["street"])

    assert emsp.calls == []

"""The driver's history from the app: the report's filters, totals, one session with its price and curve."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from billing.services import credit_note_issue, session_price_freeze, tariff_assignment_create
from sessions_app.models import MeterValue
from tests.factories import make_charge_point, make_session, make_site, make_tag, make_tariff

pytestmark = pytest.mark.django_db


def _at(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def priced(world):
    tariff_assignment_create(tariff=make_tariff(world.org_a, energy="4.00"))
    return lambda session: session_price_freeze(session=session)


def as_driver(user) -> APIClient:
    api = APIClient()
    api.force_authenticate(user)
    return api


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def test_a_session_in_the_history_with_site_local_times_and_its_price(world, priced):
    session = make_session(
        world.cp_a.connectors.get(number=2),
        world.alice_card,
        started_at=_at(2024, 3, 31, 0, 30),
        minutes=60,
        energy_wh=6_000,
    )
    priced(session)
    (row,) = as_driver(world.alice).get(reverse("api:history")).json()["results"]
    assert row == {
        "id": session.pk,
        "state": "completed",
        "started_at": "2024-03-31T01:30:00+01:00",
        "stopped_at": "2024-03-31T03:30:00+02:00",  # DST change
        "time_zone": "Europe/Stockholm",
        "station": "ALPHA-1",
        "site": "Alpha Depot",
        "address": "Storgatan 1, 111 22 Stockholm",
        "connector": 2,
        "card": "04A1B2C3",
        "card_label": "",
        "duration_seconds": 3600,
        "energy_wh": 6_000,
        "average_power_kw": "6.00",
        "cost": "24.00",
        "currency": "SEK",
        "cost_estimated": False,
        "payment": ["invoice"],
    }


def test_the_history_filters_by_site_local_days_station_card_and_state(world):
    connector = world.cp_a.connectors.first()
    other_cp = make_charge_point(make_site(world.org_a, "Alpha Harbour"), "ALPHA-2", connectors=1)
    spare = make_tag(world.alice.customer_account, world.alice, "04A1A1A1")
    late_evening = make_session(connector, world.alice_card, started_at=_at(2024, 4, 1, 22, 30))  # 2 April, 00:30
    at_harbour = make_session(other_cp.connectors.get(), world.alice_card, started_at=_at(2024, 4, 5, 9))
    with_spare = make_session(connector, spare, started_at=_at(2024, 4, 6, 9))
    running = make_session(connector, spare, started_at=timezone.now() - timedelta(minutes=5), energy_wh=None)
    api, url = as_driver(world.alice), reverse("api:history")
    assert ids(api.get(url)) == [running.pk, with_spare.pk, at_harbour.pk, late_evening.pk]
    assert ids(api.get(url, {"date_from": "2024-04-02", "date_to": "2024-04-02"})) == [late_evening.pk]
    assert ids(api.get(url, {"station": other_cp.pk})) == [at_harbour.pk]
    assert ids(api.get(url, {"card": spare.pk})) == [running.pk, with_spare.pk]
    assert ids(api.get(url, {"state": "active"})) == [running.pk]
    assert ids(api.get(url, {"ordering": "started_at", "state": "completed"})) == [
        late_evening.pk,
        at_harbour.pk,
        with_spare.pk,
    ]
    page = api.get(url, {"page_size": 3, "page": 2}).json()
    assert page["count"] == 4 and [r["id"] for r in page["results"]] == [late_evening.pk]


def test_bad_filters_are_a_400_naming_them(world):
    api, url = as_driver(world.alice), reverse("api:history")
    response = api.get(url, {"date_from": "2024-04-03", "date_to": "2024-04-02"})
    assert response.status_code == 400 and "date_to" in response.json()["error"]["fields"]
    assert "date_from" in api.get(url, {"date_from": "yesterday"}).json()["error"]["fields"]
    assert api.get(url, {"ordering": "cost"}).status_code == 400


def test_the_totals_follow_the_same_filters(world, priced):
    connector = world.cp_a.connectors.first()
    for day, kwh in ((1, 10), (2, 5), (10, 1)):
        priced(make_session(connector, world.alice_card, started_at=_at(2024, 4, day, 9), energy_wh=kwh * 1000))
    make_session(connector, world.bob_card, started_at=_at(2024, 4, 3, 9))
    totals = as_driver(world.alice).get(reverse("api:history_totals"), {"date_to": "2024-04-05"}).json()
    assert totals == {
        "sessions": 2,
        "energy_wh": 15_000,
        "duration_seconds": 7200,
        "costs": [{"currency": "SEK", "amount": "60.00"}],
    }


def test_a_running_session_shows_its_cost_so_far(world, priced):
    connector = world.cp_a.connectors.first()
    running = make_session(
        connector, world.alice_card, started_at=timezone.now() - timedelta(minutes=30), energy_wh=None
    )
    MeterValue.objects.create(
        charge_point=world.cp_a,
        connector=connector,
        session=running,
        timestamp=timezone.now() - timedelta(minutes=1),
        value=Decimal(running.meter_start_wh + 5_000),
    )
    body = as_driver(world.alice).get(reverse("api:history_session", args=[running.pk])).json()
    assert body["state"] == "active" and body["energy_wh"] == 5_000
    assert body["cost"] == "20.00" and body["cost_estimated"] is True and body["price"] is None


def test_one_session_with_its_price_breakdown_credit_notes_and_meter_curve(world, priced):
    connector = world.cp_a.connectors.first()
    session = make_session(connector, world.alice_card, started_at=_at(2024, 4, 2, 8), minutes=60, energy_wh=11_000)
    for minute in range(0, 61, 10):
        MeterValue.objects.create(
            charge_point=world.cp_a,
            connector=connector,
            session=session,
            timestamp=session.started_at + timedelta(minutes=minute),
            value=Decimal(session.meter_start_wh + minute * 11_000 // 60),
        )
        MeterValue.objects.create(
            charge_point=world.cp_a,
            connector=connector,
            session=session,
            timestamp=session.started_at + timedelta(minutes=minute),
            measurand="Power.Active.Import",
            value=Decimal(11_000),
            unit="W",
        )
    priced(session)
    note = credit_note_issue(session=session, net_amount=Decimal("8.00"), reason="Slow charging", user=world.carol)
    body = as_driver(world.alice).get(reverse("api:history_session", args=[session.pk])).json()
    assert body["id"] == session.pk and body["cost"] == "44.00" and body["payment"] == ["invoice"]
    price = body["price"]
    assert price["lines"] == [
        {
            "component": "ENERGY",
            "label": "Energy",
            "starts_at": "2024-04-02T10:00:00+02:00",
            "ends_at": "2024-04-02T11:00:00+02:00",
            "quantity": "11.000000",
            "unit": "kWh",
            "unit_price": "3.2000",
            "amount": "35.20",
        }
    ]
    assert (price["net_total"], price["vat_amount"], price["gross_total"], price["after_credit"]) == (
        "35.20",
        "8.80",
        "44.00",
        "34.00",
    )
    assert price["vat_rate"] == "0.2500" and price["adjustment"] == "0.00" and price["currency"] == "SEK"
    assert price["credit_notes"] == [
        {
            "id": note.pk,
            "issued_at": price["credit_notes"][0]["issued_at"],
            "reason": "Slow charging",
            "net_amount": "8.00",
            "vat_amount": "2.00",
            "gross_amount": "10.00",
        }
    ]
    curve = body["curve"]
    assert curve[0] == {"at": "2024-04-02T10:00:00+02:00", "energy_kwh": 0.0, "power_kw": 11.0}
    assert curve[-1]["energy_kwh"] == 11.0 and len(curve) == 7


def test_a_session_without_meter_values_or_price_has_an_empty_curve_and_no_price(world):
    session = make_session(world.cp_a.connectors.first(), world.alice_card)
    body = as_driver(world.alice).get(reverse("api:history_session", args=[session.pk])).json()
    assert body["curve"] == [] and body["price"] is None and body["cost"] is None


def test_alice_never_sees_bobs_sessions(world):
    bobs = make_session(world.cp_a.connectors.first(), world.bob_card)
    assert ids(as_driver(world.alice).get(reverse("api:history"))) == []
    assert ids(as_driver(world.alice).get(reverse("api:history"), {"card": world.bob_card.pk})) == []
    response = as_driver(world.alice).get(reverse("api:history_session", args=[bobs.pk]))
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    assert as_driver(world.alice).get(reverse("api:history_totals")).json()["sessions"] == 0


@pytest.mark.parametrize(
    "query",
    [
        {"station": 10**20},
        {"card": 10**20},
        {"date_to": "9999-12-31"},
        {"date_from": "0001-01-01"},
    ],
)
def test_history_filters_beyond_what_can_exist_are_a_400_not_a_server_error(query, world):
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(world.alice)
    for name in ("api:history", "api:history_totals"):
        response = api.get(reverse(name), query)
        assert response.status_code == 400 and set(response.json()["error"]["fields"]) == set(query)

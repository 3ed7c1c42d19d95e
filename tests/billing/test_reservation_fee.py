"""The reservation fee end to end in billing: which reservations are billed, frozen once, charged once through the
ledger (invoice and wallet), completed by the sweep after a crash, on the driver's statement and in revenue; the
tariff's reservation elements validated (services, operator API, admin) and shown to drivers."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from billing.admin import TariffElementForm
from billing.balances import account_balance
from billing.ledger import payment_method_set, payment_record, wallet_top_up
from billing.models import LedgerEntry, PaymentAccount, ReservationPrice
from billing.quotes import connector_price
from billing.reservation_fees import (
    reservation_fee_by_id,
    reservation_fee_gaps,
    reservation_fee_offers_for_driver,
    reservation_fees_sweep,
    reservation_price_freeze,
)
from billing.revenue import revenue_report
from billing.services import tariff_assignment_create, tariff_create
from billing.statement_content import statement_content
from billing.statement_pdf import statement_context
from billing.statements import statement_create
from sessions_app import hooks
from sessions_app.models import Reservation
from sessions_app.reservations import reservations_expire
from tests.factories import make_session, make_tariff

pytestmark = pytest.mark.django_db

D = Decimal
Status = Reservation.Status


def fee_tariff(world, *, flat="10.00", time="12.00", time_step=60, expires_time=None, currency=None):
    """Alpha's tariff for everyone: charging 4.00/kWh; reservations FLAT ``flat`` + TIME ``time``/h (incl. 25 % VAT),
    and, if given, ``expires_time``/h for expired ones."""
    elements = [{"components": [{"type": "ENERGY", "price": D("4.00")}]}]
    reservation = [{"type": "FLAT", "price": D(flat)}] if flat else []
    if time:
        reservation.append({"type": "TIME", "price": D(time), "step_size": time_step})
    elements.append({"reservation": "RESERVATION", "components": reservation})
    if expires_time:
        elements.append(
            {"reservation": "RESERVATION_EXPIRES", "components": [{"type": "TIME", "price": D(expires_time)}]}
        )
    values = {"name": "With reservation fee", "valid_from": datetime(2020, 1, 1, tzinfo=UTC)}
    if currency:
        values["currency"] = currency
    tariff = tariff_create(organization=world.org_a, values=values, elements=elements)
    tariff_assignment_create(tariff=tariff)
    return tariff


def reservation(world, *, status=Status.EXPIRED, minutes=30, used_after=None, answer="Accepted", **fields):
    """One of alice's reservations of ALPHA-1 #1, made an hour ago, for ``minutes``, ended as ``status``."""
    made = timezone.now().replace(microsecond=0) - timedelta(hours=1)
    expires = made + timedelta(minutes=minutes)
    connector = world.cp_a.connectors.get(number=1)
    ended = expires
    session = None
    if used_after is not None:
        ended = made + used_after
        session = make_session(connector, world.alice_card, started_at=ended, energy_wh=1000)
    return Reservation.objects.create(
        charge_point=world.cp_a,
        connector=connector,
        id_tag=world.alice_card,
        created_by=world.alice,
        status=status,
        charger_answer=answer,
        created_at=made,
        expires_at=expires,
        ended_at=fields.pop("ended_at", ended),
        session=session,
        **fields,
    )


def charges(reservation_id):
    return list(
        LedgerEntry.objects.filter(reservation_id=reservation_id, kind=LedgerEntry.Kind.CHARGE).values_list(
            "receivable", flat=True
        )
    )


# --- which reservations are billed -------------------------------------------------------------------


def test_an_expired_reservation_pays_the_flat_fee_and_its_whole_reserved_time_once(world):
    fee_tariff(world)
    expired = reservation(world, minutes=30)

    reservation_fee_by_id(expired.pk)
    reservation_fee_by_id(expired.pk)  # the handler called twice

    price = ReservationPrice.objects.get(reservation=expired)
    # 10.00 flat + 30 min at 12.00/h, both incl. 25 % VAT: 16.00
    assert (price.gross_total, price.net_total, price.vat_amount) == (D("16.00"), D("12.80"), D("3.20"))
    assert (price.reserved_from, price.reserved_until) == (expired.created_at, expired.expires_at)
    assert [line["component"] for line in price.breakdown] == ["FLAT", "TIME"]
    assert charges(expired.pk) == [D("16.00")]
    assert account_balance(world.alice.customer_account).owed == D("16.00")


def test_a_used_reservation_pays_for_the_minutes_until_the_start(world):
    fee_tariff(world, flat=None, time="60.00", time_step=300)  # 60 SEK/h per started 5 minutes
    used = reservation(world, status=Status.USED, minutes=30, used_after=timedelta(minutes=12))

    price = reservation_price_freeze(reservation=used)

    assert price.reserved_until == used.session.started_at
    assert price.breakdown[0]["quantity"] == "0.2500"  # 12 min -> 15 min
    assert price.gross_total == D("15.00")
    assert charges(used.pk) == [D("15.00")]


def test_an_expired_reservation_uses_the_reservation_expires_time_price(world):
    fee_tariff(world, flat="5.00", time="12.00", expires_time="24.00")

    price = reservation_price_freeze(reservation=reservation(world, minutes=30))

    assert price.gross_total == D("17.00")  # 5.00 + 30 min x 24.00/h


def test_a_driver_cancelling_pays_until_the_cancel_an_operator_cancelling_costs_nothing(world):
    fee_tariff(world, flat="10.00", time="12.00")
    by_driver = reservation(world, status=Status.CANCELLED, cancelled_by=world.alice)
    by_driver.ended_at = by_driver.created_at + timedelta(minutes=10)
    by_driver.save()
    by_operator = reservation(world, status=Status.CANCELLED, cancelled_by=world.carol)
    unknown = reservation(world, status=Status.CANCELLED)

    assert reservation_price_freeze(reservation=by_driver).gross_total == D("12.00")  # 10 + 10 min at 12/h
    assert reservation_price_freeze(reservation=by_operator) is None
    assert reservation_price_freeze(reservation=unknown) is None
    assert charges(by_operator.pk) == charges(unknown.pk) == []


@pytest.mark.parametrize(
    ("status", "answer"),
    [(Status.REFUSED, "Occupied"), (Status.FAULTED, "Accepted"), (Status.EXPIRED, "timeout")],
)
def test_refused_faulted_and_never_accepted_reservations_are_never_billed(world, status, answer):
    fee_tariff(world)
    ended = reservation(world, status=status, answer=answer)

    reservation_fee_by_id(ended.pk)

    assert not ReservationPrice.objects.filter(reservation=ended).exists()
    assert reservation_fee_gaps(since=timezone.now() - timedelta(days=1)) == []


def test_without_a_reservation_element_the_fee_is_zero_decided_and_not_charged(world):
    tariff_assignment_create(tariff=make_tariff(world.org_a, energy="4.00"))
    expired = reservation(world)

    price = reservation_price_freeze(reservation=expired)

    assert price.gross_total == 0 and charges(expired.pk) == []
    assert reservation_fee_gaps(since=timezone.now() - timedelta(days=1)) == []  # decided: the sweep leaves it


def test_the_fee_is_in_the_tariffs_currency_yen_in_whole_units(world):
    fee_tariff(world, flat="333", time="100", currency="JPY")

    price = reservation_price_freeze(reservation=reservation(world, minutes=50))

    assert (price.currency, price.gross_total) == ("JPY", D("416"))  # 333 + 83 incl. VAT


# --- exactly once ---------------------------------------------------------------------------------------


def test_ending_a_reservation_prices_and_charges_it_after_the_commit(world, django_capture_on_commit_callbacks):
    from billing.reservation_fees import reservation_fee_by_id as handler

    assert handler in hooks.reservation_ended_handlers
    fee_tariff(world)
    open_one = reservation(world, status=Status.ACTIVE, ended_at=None)

    with django_capture_on_commit_callbacks(execute=True):
        assert reservations_expire(now=open_one.expires_at) == 1

    assert charges(open_one.pk) == [D("16.00")]


def test_a_crash_between_price_and_charge_is_completed_by_the_sweep_once(world):
    fee_tariff(world)
    expired = reservation(world)
    with mock.patch("billing.reservation_fees.reservation_charge_book"):  # the charge is lost
        reservation_price_freeze(reservation=expired)
    assert charges(expired.pk) == []

    assert reservation_fee_gaps(since=timezone.now() - timedelta(days=1)) == [expired.pk]
    assert reservation_fees_sweep() == 1
    assert reservation_fees_sweep() == 0
    reservation_fee_by_id(expired.pk)

    assert charges(expired.pk) == [D("16.00")]


def test_a_handler_that_failed_leaves_a_gap_the_sweep_prices(world):
    fee_tariff(world)
    expired = reservation(world)
    with mock.patch("billing.reservation_fees.tariff_for", side_effect=RuntimeError("database went away")):
        failures = hooks.reservation_ended(expired.pk)
    assert failures and not ReservationPrice.objects.filter(reservation=expired).exists()

    reservation_fees_sweep()

    assert charges(expired.pk) == [D("16.00")]


# --- how it is paid -----------------------------------------------------------------------------------


def test_a_prepaid_wallet_pays_the_fee_at_once_and_a_later_top_up_pays_what_it_could_not(world):
    fee_tariff(world)
    account = world.alice.customer_account
    payment_method_set(customer_account=account, method=PaymentAccount.Method.WALLET)
    wallet_top_up(customer_account=account, amount="10.00", method="stripe", reference="pi_1", key="t1")

    first = reservation(world)
    reservation_price_freeze(reservation=first)
    assert account_balance(account) == account_balance(account).__class__("SEK", D("6.00"), D("0.00"))

    wallet_top_up(customer_account=account, amount="20.00", method="stripe", reference="pi_2", key="t2")

    balance = account_balance(account)
    assert (balance.owed, balance.wallet) == (D("0.00"), D("14.00"))
    paid = LedgerEntry.objects.filter(reservation=first, kind=LedgerEntry.Kind.PAYMENT, method="wallet")
    assert sum(entry.receivable for entry in paid) == D("-16.00")


def test_an_invoice_payment_pays_sessions_then_reservation_fees(world):
    fee_tariff(world)
    account = world.alice.customer_account
    expired = reservation(world)
    reservation_price_freeze(reservation=expired)

    payment_record(customer_account=account, amount="16.00", method="bank", reference="OCR 1", key="bank-1")

    assert account_balance(account).owed == 0
    assert LedgerEntry.objects.get(kind=LedgerEntry.Kind.PAYMENT).reservation_id == expired.pk


# --- statement and revenue ------------------------------------------------------------------------------


def test_the_drivers_statement_has_a_reservation_fee_line_counted_in_its_totals(world):
    fee_tariff(world)
    expired = reservation(world)
    reservation_price_freeze(reservation=expired)
    start, end = timezone.now() - timedelta(days=1), timezone.now() + timedelta(days=1)

    content = statement_content(customer_account=world.alice.customer_account, start=start, end=end)

    (line,) = content["reservation_fees"]
    assert (line["id"], line["label"], line["gross"], line["status"]) == (
        expired.pk,
        "Reservation fee",
        "16.00",
        "expired",
    )
    assert content["totals"]["gross"] == "16.00" and content["totals"]["owed_end"] == "16.00"
    assert content["totals"]["reservation_fees"] == "16.00" and content["totals"]["charges"] == "0.00"
    statement = statement_create(customer_account=world.alice.customer_account, start=start, end=end, kind="on_demand")
    context = statement_context(statement)
    assert "Reservation fee (expired unused)" in str(context["reservation_fees"])
    assert "Reservation fees" in str(context["account"])


def test_revenue_counts_reservation_fees_in_the_totals_and_the_site_row(world):
    fee_tariff(world)
    reservation_price_freeze(reservation=reservation(world))
    session = make_session(world.cp_a.connectors.get(number=2), world.bob_card, energy_wh=10_000)
    from billing.services import session_price_freeze

    session_price_freeze(session=session)
    start, end = timezone.now() - timedelta(days=1), timezone.now() + timedelta(days=1)

    report = revenue_report(organization=world.org_a, start=start, end=end, group_by="site")
    (total,) = report.totals
    (site,) = report.rows

    assert (total.sessions, total.reservations, total.reservation_gross, total.gross) == (1, 1, D("16.00"), D("56.00"))
    assert (site.label, site.reservations, site.gross, site.outstanding) == ("Alpha Depot", 1, D("56.00"), D("56.00"))
    by_day = revenue_report(organization=world.org_a, start=start, end=end, group_by="day", time_zone="UTC")
    assert sum(row.gross for row in by_day.rows) == D("56.00")
    assert revenue_report(organization=world.org_b, start=start, end=end, group_by="site").totals == []


# --- tariffs: validation, operator API, admin, drivers ------------------------------------------------


def test_a_reservation_element_takes_only_flat_and_time_and_no_energy_or_duration_restriction(world):
    with pytest.raises(ValidationError) as refused:
        tariff_create(
            organization=world.org_a,
            values={"name": "Bad"},
            elements=[
                {"reservation": "RESERVATION", "components": [{"type": "ENERGY", "price": D("1")}]},
                {
                    "reservation": "RESERVATION_EXPIRES",
                    "min_kwh": D("1"),
                    "components": [{"type": "FLAT", "price": D("1")}],
                },
            ],
        )
    problems = " ".join(refused.value.message_dict["elements"])
    assert "ENERGY: a reservation element has a flat fee and a price per hour reserved only." in problems
    assert "A reservation element is restricted by time of day and days only." in problems


def test_an_unrestricted_charging_element_does_not_shadow_the_reservation_element(world):
    tariff = fee_tariff(world)  # ENERGY unrestricted first, then the RESERVATION element with FLAT and TIME

    assert list(tariff.elements.values_list("reservation", flat=True)) == ["", "RESERVATION"]


def test_the_operator_api_takes_and_shows_reservation_elements(world, carol_api):
    body = {
        "name": "Reserve",
        "elements": [
            {"components": [{"type": "ENERGY", "price": "4.00"}]},
            {"reservation": "RESERVATION", "components": [{"type": "FLAT", "price": "10.00"}]},
        ],
    }
    created = carol_api.post(reverse("api:operator_tariffs"), body, format="json")
    assert created.status_code == 201, created.content
    assert [element["reservation"] for element in created.json()["elements"]] == [None, "RESERVATION"]

    body["elements"][1]["components"] = [{"type": "PARKING_TIME", "price": "1.00"}]
    refused = carol_api.post(reverse("api:operator_tariffs"), body, format="json")
    assert refused.status_code == 400


def test_the_admin_element_form_refuses_an_energy_price_on_a_reservation_element():
    form = TariffElementForm(data={"position": 0, "reservation": "RESERVATION", "energy_price": "1.00"})

    assert not form.is_valid()
    assert "A reservation element has a flat fee and a price per hour reserved only." in form.errors["energy_price"]


def test_drivers_see_the_reservation_fee_with_the_connectors_price_and_on_the_reserve_page(world, client):
    fee_tariff(world)
    connector = world.cp_a.connectors.get(number=1)

    price = connector_price(connector=connector, customer_account=world.alice.customer_account, at=timezone.now())
    offers = reservation_fee_offers_for_driver(user=world.alice, connectors=[connector], now=timezone.now())

    assert price["reservation_lines"] == ["Reservation fee 10.00 SEK", "Reserved time 12.00 SEK/h"]
    assert all(line in price["lines"] for line in price["reservation_lines"])
    assert "Start fee" not in " ".join(price["lines"])  # the reservation's FLAT is not a charging start fee
    assert offers == {connector.pk: "Reservation fee 10.00 SEK; Reserved time 12.00 SEK/h"}

    reservation_price_freeze(reservation=reservation(world))
    client.force_login(world.alice)
    page = client.get(reverse("reservations")).content.decode()
    assert "16.00 SEK" in page


def test_a_driver_without_a_fee_sees_none(world):
    tariff_assignment_create(tariff=make_tariff(world.org_a, energy="4.00"))
    connector = world.cp_a.connectors.get(number=1)

    assert reservation_fee_offers_for_driver(user=world.alice, connectors=[connector], now=timezone.now()) == {}
    assert reservation_fee_offers_for_driver(user=world.carol, connectors=[connector], now=timezone.now()) == {}


def test_the_admin_lists_reservation_fees_to_their_operator_only(world, client):
    fee_tariff(world)
    price = reservation_price_freeze(reservation=reservation(world))
    url = reverse("admin:billing_reservationprice_changelist")

    client.force_login(world.carol)
    assert client.get(url).status_code == 200
    assert client.get(reverse("admin:billing_reservationprice_change", args=[price.pk])).status_code == 200
    assert str(price.reservation) in client.get(url).content.decode()
    client.force_login(world.dave)
    listed = client.get(url)
    assert listed.status_code == 200 and str(price.reservation) not in listed.content.decode()
    assert client.get(reverse("admin:billing_reservationprice_change", args=[price.pk])).status_code in (302, 404)


def test_the_app_api_shows_the_fee_before_reserving_and_on_the_ended_reservation(world):
    from rest_framework.test import APIClient

    fee_tariff(world)
    expired = reservation(world)
    reservation_price_freeze(reservation=expired)
    api = APIClient()
    api.force_authenticate(world.alice)

    stations = api.get(reverse("api:stations")).json()
    prices = [
        connector["price"]
        for site in stations["results"]
        for station in site.get("stations", [site])
        for connector in station.get("connectors", [])
        if connector.get("price")
    ]
    listed = api.get(reverse("api:reservations")).json()["results"]

    assert prices and prices[0]["reservation_lines"] == ["Reservation fee 10.00 SEK", "Reserved time 12.00 SEK/h"]
    assert [(item["id"], item["fee"]) for item in listed] == [(expired.pk, "16.00 SEK")]


def test_the_revenue_page_and_its_csv_show_the_reservation_fees(world, client):
    import csv
    import io

    fee_tariff(world)
    reservation_price_freeze(reservation=reservation(world))
    client.force_login(world.carol)
    params = {"organization": world.org_a.pk, "period": "month", "day": timezone.localdate().isoformat()}

    response = client.get(reverse("admin:billing_revenue"), {**params, "format": "csv"})
    header, *body = list(csv.reader(io.StringIO(response.content.decode())))
    total = next(row for row in body if row[0] == "Total")

    assert header[-2:] == ["Reservation fees", "Reservation fees incl. VAT"]
    assert (total[6], total[-2], total[-1]) == ("16.00", "1", "16.00")


@pytest.mark.parametrize(
    "group_by", ["site", "charge_point", "connector", "tariff", "customer_group", "roaming_partner", "week", "month"]
)
def test_every_revenue_grouping_counts_the_fee_once_in_its_group(world, group_by):
    fee_tariff(world)
    reservation_price_freeze(reservation=reservation(world))
    start, end = timezone.now() - timedelta(days=40), timezone.now() + timedelta(days=1)

    report = revenue_report(organization=world.org_a, start=start, end=end, group_by=group_by, time_zone="UTC")

    assert [(row.reservations, row.reservation_gross, row.gross) for row in report.rows] == [
        (1, D("16.00"), D("16.00"))
    ]
    assert report.rows[0].label


def test_without_a_broker_the_servers_own_sweeper_runs_the_reservation_fee_sweep(monkeypatch):
    """The sweep itself: the tests above; here, that a server without beat runs it (in its worker thread)."""
    import asyncio

    from sessions_app import sweeper

    assert ("reservation fee", reservation_fees_sweep) in hooks.server_sweeps
    ran: list[str] = []
    monkeypatch.setattr(sweeper, "post_stop_sweep", lambda: None)
    monkeypatch.setattr(sweeper, "charge_points_disconnect_silent", lambda: 0)
    monkeypatch.setattr(hooks, "server_sweeps", [("reservation fee", lambda: ran.append("fees"))])

    asyncio.run(sweeper._sweep_all())

    assert ran == ["fees"]

"""A session priced and billed end to end in SEK and in JPY (whole yen everywhere); KWD (3 decimals) is refused.

Through the real services: StartTransaction and StopTransaction, the post-stop work on commit
(price frozen, charge booked), the monthly statement and a Stripe checkout for what is owed.
"""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib.admin.sites import site as admin_site
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import RequestFactory
from django.urls import reverse

from accounts.models import Organization
from billing.admin import TariffForm
from billing.ledger import payment_record
from billing.models import LedgerEntry, SessionPrice, StripeCheckout, Tariff
from billing.services import tariff_assignment_create
from billing.statements import statement_create
from billing.stripe_payments import checkout_start
from core.money import default_currency_check, quantize, stored_currencies_check
from core.timeutil import month_period
from sessions_app.services import session_start, session_stop
from tests.billing.test_stripe import fake_stripe  # noqa: F401 (a fixture)
from tests.factories import make_tariff

pytestmark = pytest.mark.django_db

D = Decimal
START = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
STOP = START + timedelta(hours=2)
MARCH = month_period(date(2026, 3, 1), "Europe/Stockholm")


def bill_a_session(world, django_capture_on_commit_callbacks, *, currency: str, vat_rate: str, **prices):
    """Alice charges 12.345 kWh at ALPHA-1 under a tariff in ``currency``; returns (price, charge, statement)."""
    world.org_a.currency = currency
    world.org_a.save(update_fields=["currency"])
    tariff_assignment_create(tariff=make_tariff(world.org_a, currency=currency, vat_rate=D(vat_rate), **prices))
    session = session_start(
        charge_point=world.cp_a,
        connector_id=1,
        raw_uid=world.alice_card.uid,
        meter_start_wh=100_000,
        timestamp=START,
        now=START,
    )
    with django_capture_on_commit_callbacks(execute=True):
        session_stop(
            charge_point=world.cp_a,
            transaction_id=session.pk,
            raw_uid=world.alice_card.uid,
            meter_stop_wh=112_345,
            timestamp=STOP,
            reason="EVDisconnected",
            transaction_data=[],
            now=STOP + timedelta(seconds=1),
        )
    price = SessionPrice.objects.get(session=session)
    charge = LedgerEntry.objects.get(session=session, kind=LedgerEntry.Kind.CHARGE)
    SessionPrice.objects.filter(session=session).update(priced_at=STOP)  # billed in March
    LedgerEntry.objects.filter(session=session).update(booked_at=STOP)
    statement = statement_create(
        customer_account=world.alice.customer_account,
        start=MARCH[0],
        end=MARCH[1],
        now=datetime(2026, 4, 1, 6, tzinfo=UTC),
    )
    return price, charge, statement


def pay_online(world, fake_stripe, currency: str) -> dict:  # noqa: F811
    checkout = checkout_start(
        customer_account=world.alice.customer_account,
        purpose=StripeCheckout.Purpose.PAY_BALANCE,
        amount=None,
        request_key="k" * 32,
        user=world.alice,
        success_url="https://x.example/ok",
        cancel_url="https://x.example/cancel",
    )
    [request] = fake_stripe.requests
    assert request["form"]["line_items[0][price_data][currency]"] == currency.lower()
    return {"amount": checkout.amount, "unit_amount": request["form"]["line_items[0][price_data][unit_amount]"]}


def test_a_session_in_sek_is_rounded_per_line_with_vat_once_on_the_net(
    world,
    django_capture_on_commit_callbacks,
    fake_stripe,  # noqa: F811
):
    price, charge, statement = bill_a_session(
        world, django_capture_on_commit_callbacks, currency="SEK", vat_rate="0.25", energy="3.33"
    )

    # 3.33 incl. 25 % VAT is 2.664 net per kWh; 12.345 kWh * 2.664 = 32.88708 -> 32.89;
    # VAT 32.89 * 0.25 = 8.2225 -> 8.22, once on the net; gross 41.11.
    assert (price.currency, price.net_total, price.vat_amount, price.gross_total) == (
        "SEK",
        D("32.89"),
        D("8.22"),
        D("41.11"),
    )
    assert [D(line["net_amount"]) for line in price.breakdown] == [D("32.89")]
    assert (charge.currency, charge.receivable) == ("SEK", D("41.11"))
    totals = statement.content["totals"]
    assert (totals["net"], totals["vat"], totals["gross"], totals["owed_end"]) == ("32.89", "8.22", "41.11", "41.11")
    assert statement.gross_total == statement.amount_due == D("41.11")
    assert pay_online(world, fake_stripe, "SEK") == {"amount": D("41.11"), "unit_amount": "4111"}


def test_a_session_in_yen_is_whole_yen_in_the_price_the_ledger_the_statement_and_stripe(
    world,
    django_capture_on_commit_callbacks,
    fake_stripe,  # noqa: F811
):
    price, charge, statement = bill_a_session(
        world, django_capture_on_commit_callbacks, currency="JPY", vat_rate="0.10", energy="55", flat="99"
    )

    # 55 yen incl. 10 % VAT is 50 net per kWh: 12.345 kWh -> 617.25 -> 617 yen; the 99 yen start fee is 90 net;
    # net 707, VAT 70.7 -> 71 (once, on the net), gross 778.
    assert (price.currency, price.net_total, price.vat_amount, price.gross_total) == ("JPY", 707, 71, 778)
    assert sorted(D(line["net_amount"]) for line in price.breakdown) == [90, 617]
    amounts = [
        price.net_total,
        price.vat_amount,
        price.gross_total,
        charge.receivable,
        statement.gross_total,
        statement.amount_due,
        *(D(line["net_amount"]) for line in price.breakdown),
        *(D(value) for value in statement.content["totals"].values() if isinstance(value, str)),
    ]
    assert all(amount == quantize(amount, "JPY") for amount in amounts), amounts  # no fraction of a yen anywhere
    assert (charge.currency, charge.receivable) == ("JPY", 778)
    assert (D(statement.content["totals"]["gross"]), statement.amount_due) == (778, 778)
    assert pay_online(world, fake_stripe, "JPY") == {"amount": 778, "unit_amount": "778"}


def test_a_payment_of_a_fraction_of_a_yen_is_refused(world, django_capture_on_commit_callbacks):
    bill_a_session(world, django_capture_on_commit_callbacks, currency="JPY", vat_rate="0.10", energy="55")
    with pytest.raises(ValidationError, match="JPY amounts have at most 0 decimals"):
        payment_record(
            customer_account=world.alice.customer_account,
            amount="100.50",
            method=LedgerEntry.Method.BANK,
            reference="x",
            key="half-yen",
        )
    assert not LedgerEntry.objects.filter(kind=LedgerEntry.Kind.PAYMENT).exists()


def test_a_tariff_minimum_price_finer_than_the_currency_is_refused(world):
    form = TariffForm(
        data={
            "organization": world.org_a.pk,
            "name": "Yen",
            "valid_from": "2026-01-01 00:00",
            "currency": "JPY",
            "vat_rate": "10",
            "prices_include_vat": "on",
            "min_price": "10.50",
            "parking_grace_minutes": "0",
        }
    )
    assert form.errors == {"min_price": ["JPY amounts have at most 0 decimals."]}


# --- 3-decimal currencies: money columns hold 2, so KWD is refused, never truncated ---------------------


def test_the_tariff_admin_form_refuses_kwd(world):
    form = TariffForm(
        data={
            "organization": world.org_a.pk,
            "name": "Kuwait",
            "valid_from": "2026-01-01 00:00",
            "currency": "KWD",
            "vat_rate": "0",
            "parking_grace_minutes": "0",
        }
    )
    assert form.errors["currency"] == [
        "KWD has 3 decimals, but amounts are stored with 2: this currency is not supported."
    ]


def test_the_operator_api_refuses_a_kwd_tariff(world, carol_api):
    response = carol_api.post(
        reverse("api:operator_tariffs"),
        {"name": "Kuwait", "currency": "KWD", "elements": [{"components": [{"type": "ENERGY", "price": "0.125"}]}]},
        format="json",
    )
    assert response.status_code == 400, response.content
    assert "KWD has 3 decimals" in response.content.decode()
    assert not Tariff.objects.filter(name="Kuwait").exists()


def test_the_organization_admin_refuses_kwd(world):
    request = RequestFactory().get("/")
    request.user = world.admin
    form_class = admin_site._registry[Organization].get_form(request, world.org_a)
    data = {field: getattr(world.org_a, field) for field in form_class.base_fields if hasattr(world.org_a, field)}
    form = form_class(
        data={**{k: v for k, v in data.items() if v not in (None, "")}, "currency": "KWD"}, instance=world.org_a
    )
    assert form.errors["currency"] == [
        "KWD has 3 decimals, but amounts are stored with 2: this currency is not supported."
    ]


def test_a_system_check_finds_a_kwd_operator_or_tariff_written_past_the_forms(world):
    assert stored_currencies_check(databases=["default"]) == []
    Organization.objects.filter(pk=world.org_b.pk).update(currency="KWD")
    make_tariff(world.org_a, currency="BHD")
    errors = stored_currencies_check(databases=["default"])
    assert [(error.id, error.obj) for error in errors] == [("core.E002", Organization), ("core.E002", Tariff)]
    assert "accounts.Organization.currency holds KWD, which has 3 decimals" in errors[0].msg
    with pytest.raises(SystemCheckError, match="core.E002"):
        call_command("check", "--database", "default")


def test_a_system_check_refuses_a_three_decimal_default_currency(settings):
    assert default_currency_check() == []
    settings.DEFAULT_CURRENCY = "KWD"
    assert [error.id for error in default_currency_check()] == ["core.E001"]

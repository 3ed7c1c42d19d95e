"""Payment methods and the ledger: invoice, prepaid wallet, station terminal; nothing ever booked twice."""

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db.models import Sum
from django.utils import timezone

from accounts.models import AuthorizationStatus
from billing.balances import account_balance, session_owed, terminal_references
from billing.ledger import (
    payment_method_set,
    payment_record,
    terminal_payment_record,
    wallet_refund,
    wallet_top_up,
)
from billing.models import LedgerEntry, PaymentAccount
from billing.services import credit_note_issue, session_price_freeze, tariff_assignment_create
from billing.terminal import terminal_payment_data_transfer
from sessions_app.services import id_tag_authorize
from tests.factories import make_session, make_tariff

pytestmark = pytest.mark.django_db

Method = LedgerEntry.Method
D = Decimal


@pytest.fixture
def priced(world):
    """Completes and prices one of alice's sessions: 10 kWh at 4.00 SEK incl. VAT, so 40.00 each."""
    tariff_assignment_create(tariff=make_tariff(world.org_a, energy="4.00"))
    hours = iter(range(100, 0, -1))

    def session(energy_wh=10_000, card=None, terminal=None):
        card = card or world.alice_card
        session = make_session(
            world.cp_a.connectors.get(number=1),
            card,
            energy_wh=energy_wh,
            started_at=timezone.now() - timedelta(hours=next(hours)),
        )
        if terminal:
            terminal_payment_record(session=session, reference="T-ON-SITE", amount=terminal)
        session_price_freeze(session=session)
        return session

    return session


def wallet(world, top_up: str | None = None):
    account = world.alice.customer_account
    payment_method_set(customer_account=account, method=PaymentAccount.Method.WALLET)
    if top_up:
        wallet_top_up(customer_account=account, amount=top_up, method=Method.STRIPE, reference="pi_1", key="t1")
    return account


def authorize(world):
    return id_tag_authorize(charge_point=world.cp_a, raw_uid=world.alice_card.uid, at=timezone.now()).status


# --- post-paid: monthly invoice ----------------------------------------------------------


def test_an_invoice_customer_owes_each_priced_session_until_paid(world, priced):
    first, second = priced(), priced(energy_wh=5_000)
    account = world.alice.customer_account

    assert account_balance(account).owed == D("60.00")
    assert session_owed(first.pk) == D("40.00") and session_owed(second.pk) == D("20.00")
    assert authorize(world) == AuthorizationStatus.ACCEPTED  # an invoice customer is trusted to pay later


def test_an_invoice_payment_pays_the_oldest_sessions_first_and_keeps_the_rest_in_the_customers_favour(world, priced):
    first, second = priced(), priced()
    account = world.alice.customer_account

    payment_record(customer_account=account, amount="50.00", method=Method.BANK, reference="OCR 123", key="bank:1")
    assert (session_owed(first.pk), session_owed(second.pk)) == (D("0.00"), D("30.00"))

    payment_record(customer_account=account, amount="45.00", method=Method.BANK, reference="OCR 124", key="bank:2")
    assert session_owed(second.pk) == D("0.00")
    assert account_balance(account).owed == D("-15.00")  # paid 95 for 80: 15 in their favour


def test_the_same_payment_posted_twice_is_booked_once(world, priced):
    priced()
    account = world.alice.customer_account
    for _ in range(2):
        entries = payment_record(
            customer_account=account, amount="40.00", method=Method.BANK, reference="OCR", key="bank:same"
        )
    assert len(entries) == 1
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.PAYMENT).count() == 1
    assert account_balance(account).owed == D("0.00")


def test_pricing_a_session_again_charges_it_once(world, priced):
    session = priced()
    session_price_freeze(session=session)
    assert LedgerEntry.objects.filter(session=session, kind=LedgerEntry.Kind.CHARGE).count() == 1


@pytest.mark.parametrize("amount", ["0", "-5", "1.234", "abc", "NaN", "Infinity"])
def test_a_payment_needs_a_positive_amount_in_cents(world, amount):
    with pytest.raises(ValidationError):
        payment_record(
            customer_account=world.alice.customer_account,
            amount=amount,
            method=Method.BANK,
            reference="x",
            key=f"bad:{amount}",
        )
    assert not LedgerEntry.objects.exists()


# --- prepaid wallet ----------------------------------------------------------------------


def test_a_wallet_pays_each_session_as_it_is_priced(world, priced):
    account = wallet(world, top_up="100.00")
    session = priced()

    assert session_owed(session.pk) == D("0.00")
    assert account_balance(account).wallet == D("60.00")
    paid = LedgerEntry.objects.get(session=session, method=Method.WALLET)
    assert (paid.receivable, paid.wallet) == (D("-40.00"), D("-40.00"))


def test_an_empty_wallet_is_refused_at_authorize_until_it_is_topped_up(world, priced):
    account = wallet(world)
    assert authorize(world) == AuthorizationStatus.NO_CREDIT

    wallet_top_up(customer_account=account, amount="50.00", method=Method.BANK, reference="x", key="t1")
    assert authorize(world) == AuthorizationStatus.ACCEPTED

    first = priced()  # 40 of 50
    assert authorize(world) == AuthorizationStatus.ACCEPTED
    second = priced()  # 40 more than the 10 left: the wallet pays 10, 30 stay owed
    assert account_balance(account) == account_balance(account).__class__("SEK", D("30.00"), D("0.00"))
    assert session_owed(first.pk) == D("0.00") and session_owed(second.pk) == D("30.00")
    assert authorize(world) == AuthorizationStatus.NO_CREDIT

    # A top-up first pays what the wallet could not.
    wallet_top_up(customer_account=account, amount="20.00", method=Method.BANK, reference="y", key="t2")
    assert session_owed(second.pk) == D("10.00")
    assert account_balance(account).wallet == D("0.00")
    assert authorize(world) == AuthorizationStatus.NO_CREDIT
    wallet_top_up(customer_account=account, amount="100.00", method=Method.BANK, reference="z", key="t3")
    assert session_owed(second.pk) == D("0.00")
    assert account_balance(account) == account_balance(account).__class__("SEK", D("0.00"), D("90.00"))
    assert authorize(world) == AuthorizationStatus.ACCEPTED


def test_a_wallet_minimum_refuses_before_the_wallet_is_empty(world):
    account = wallet(world, top_up="20.00")
    payment_method_set(customer_account=account, method=PaymentAccount.Method.WALLET, wallet_minimum=D("20.00"))
    assert authorize(world) == AuthorizationStatus.NO_CREDIT


def test_an_invoice_account_has_no_wallet_to_top_up(world):
    with pytest.raises(ValidationError):
        wallet_top_up(
            customer_account=world.alice.customer_account, amount="10", method=Method.BANK, reference="x", key="t"
        )


def test_a_wallet_refund_never_pays_back_more_than_it_holds(world):
    account = wallet(world, top_up="30.00")
    with pytest.raises(ValidationError):
        wallet_refund(customer_account=account, amount="30.01", method=Method.BANK, reference="r", key="r1")
    wallet_refund(customer_account=account, amount="30.00", method=Method.BANK, reference="r", key="r2")
    assert account_balance(account).wallet == D("0.00")


def test_a_credit_note_on_a_wallet_paid_session_goes_back_into_the_wallet(world, priced):
    account = wallet(world, top_up="100.00")
    session = priced()  # 40.00 incl. 8.00 VAT

    credit_note_issue(session=session, net_amount=D("8.00"), reason="Slow charging", user=world.carol)

    assert account_balance(account) == account_balance(account).__class__("SEK", D("0.00"), D("70.00"))
    assert session_owed(session.pk) == D("0.00")


def test_a_credit_note_on_an_invoice_session_lowers_what_is_owed(world, priced):
    session = priced()
    credit_note_issue(session=session, net_amount=D("8.00"), reason="Slow charging", user=world.carol)
    assert session_owed(session.pk) == D("30.00")


# --- card terminal at the station --------------------------------------------------------


def test_a_session_paid_at_the_terminal_is_not_owed_and_not_drawn_from_the_wallet(world, priced):
    account = wallet(world, top_up="100.00")
    session = priced(terminal="40.00")

    assert session_owed(session.pk) == D("0.00")
    assert account_balance(account).wallet == D("100.00")
    assert terminal_references(session.pk) == ["T-ON-SITE"]


def test_a_terminal_payment_after_the_wallet_paid_gives_the_wallet_its_money_back(world, priced):
    account = wallet(world, top_up="100.00")
    session = priced()
    assert account_balance(account).wallet == D("60.00")

    terminal_payment_record(session=session, reference="T-1", amount="40.00")

    assert account_balance(account).wallet == D("100.00")
    assert session_owed(session.pk) == D("0.00")


def test_an_invoice_session_paid_at_the_terminal_is_not_invoiced_again(world, priced):
    paid_on_site, on_invoice = priced(terminal="40.00"), priced()
    assert session_owed(paid_on_site.pk) == D("0.00")
    assert account_balance(world.alice.customer_account).owed == D("40.00")
    assert session_owed(on_invoice.pk) == D("40.00")


def transfer(world, data):
    answer = terminal_payment_data_transfer(
        world.cp_a, data if isinstance(data, str) else json.dumps(data), timezone.now()
    )
    return answer.status, json.loads(answer.data)["error"] if answer.data else None


def test_a_charger_reports_its_terminal_payment_once_however_often_it_repeats_it(world, priced):
    session = priced()
    report = {"transactionId": session.pk, "reference": "T-000123", "amount": "40.00", "currency": "SEK"}

    assert transfer(world, report) == ("Accepted", None)
    assert transfer(world, report) == ("Accepted", None)

    assert session_owed(session.pk) == D("0.00")
    assert LedgerEntry.objects.filter(method=Method.TERMINAL).aggregate(paid=Sum("receivable"))["paid"] == D("-40.00")


@pytest.mark.parametrize(
    "data, why",
    [
        ("not json", "data is not JSON"),
        ([1, 2], "data is not a JSON object"),
        ({"transactionId": "7", "reference": "T", "amount": "1"}, "transactionId must be an integer"),
        ({"transactionId": 7}, "reference and amount are required"),
        (
            {"transactionId": 7, "reference": "T", "amount": "1", "currency": "kronor"},
            "currency must be an ISO 4217 code",
        ),
        ({"transactionId": 99_999, "reference": "T", "amount": "1"}, "unknown transactionId"),
    ],
)
def test_a_bad_terminal_report_is_rejected_with_the_reason(world, data, why):
    assert transfer(world, data) == ("Rejected", why)
    assert not LedgerEntry.objects.exists()


def test_a_charger_cannot_book_a_payment_on_another_chargers_session(world, priced):
    other = make_session(world.cp_b.connectors.get(number=1), world.bob_card)
    assert transfer(world, {"transactionId": other.pk, "reference": "T", "amount": "1.00"}) == (
        "Rejected",
        "unknown transactionId",
    )


def test_a_terminal_amount_is_read_as_written_never_through_a_float(world, priced):
    session = priced()
    status, _why = transfer(world, f'{{"transactionId": {session.pk}, "reference": "T-9", "amount": 39.99}}')
    assert status == "Accepted"
    assert session_owed(session.pk) == D("0.01")


def test_a_terminal_amount_with_fractions_of_a_cent_is_rejected(world, priced):
    session = priced()
    status, why = transfer(world, {"transactionId": session.pk, "reference": "T-9", "amount": "39.999"})
    assert status == "Rejected" and "decimals" in why


def test_money_back_into_a_wallet_first_pays_what_the_account_still_owes(world, priced):
    account = wallet(world, top_up="40.00")
    paid_by_wallet = priced()  # the wallet's 40.00
    owed = priced()  # nothing left: owed
    assert session_owed(owed.pk) == D("40.00")

    terminal_payment_record(session=paid_by_wallet, reference="T-7", amount="40.00")  # paid on site after all

    assert session_owed(paid_by_wallet.pk) == session_owed(owed.pk) == D("0.00")
    assert account_balance(account) == account_balance(account).__class__("SEK", D("0.00"), D("0.00"))


# --- integrity errors ------------------------------------------------------------------------------


def test_a_ledger_row_breaking_a_check_constraint_raises_instead_of_booking_nothing(world):
    from django.db import IntegrityError

    from billing.ledger import _Booking, _Line, _write

    no_money = _Booking("broken:1", world.org_a.pk, None, "SEK", [_Line(LedgerEntry.Kind.CHARGE)])
    with pytest.raises(IntegrityError):
        _write(no_money)
    assert not LedgerEntry.objects.filter(idempotency_key="broken:1").exists()


def test_a_key_booked_meanwhile_returns_that_booking_instead_of_failing(world):
    from billing.ledger import _Booking, _Line, _write

    def booking(amount):
        return _Booking("race:1", world.org_a.pk, None, "SEK", [_Line(LedgerEntry.Kind.CHARGE, receivable=D(amount))])

    first = _write(booking("10.00"))
    second = _write(booking("99.00"))  # the loser of a race under the same key
    assert [entry.pk for entry in second] == [entry.pk for entry in first]
    assert LedgerEntry.objects.get(idempotency_key="race:1").receivable == D("10.00")

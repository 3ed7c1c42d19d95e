"""A prepaid driver's payments page: the balance, how to top up (Stripe, else a bank transfer to the operator with a
reference) and why each of their cards is refused now; nothing of another driver's."""

from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import AuthorizationStatus, IdTag, Organization
from billing.card_status import card_statuses_for_driver
from billing.ledger import payment_method_set, wallet_top_up
from billing.models import LedgerEntry, PaymentAccount
from sessions_app.services import id_tag_authorize
from tests.factories import make_session, make_tag

pytestmark = pytest.mark.django_db

URL = "/payments/"


@pytest.fixture(autouse=True)
def _no_remembered_refusals(empty_rate_limits):
    """Last refusals live in the cache, which outlives a test's transaction (and a test database's card ids)."""


@pytest.fixture
def stripe_off(settings):
    settings.STRIPE_SECRET_KEY = settings.STRIPE_WEBHOOK_SECRET = ""


@pytest.fixture
def stripe_on(settings):
    settings.STRIPE_SECRET_KEY, settings.STRIPE_WEBHOOK_SECRET = "sk_test_123", "whsec_123"


@pytest.fixture
def prepaid(world):
    """Alice pays from a wallet with a 50 SEK minimum holding 30 SEK: her card is refused for lack of credit."""
    account = world.alice.customer_account
    payment_method_set(customer_account=account, method=PaymentAccount.Method.WALLET, wallet_minimum=Decimal("50"))
    wallet_top_up(customer_account=account, amount="30.00", method=LedgerEntry.Method.BANK, reference="r1", key="k1")
    Organization.objects.filter(pk=world.org_a.pk).update(email="billing@alpha.example", phone="+46 8 123 45")
    return account


def body(client, user) -> str:
    client.force_login(user)
    response = client.get(URL)
    assert response.status_code == 200
    return response.content.decode()


def test_without_stripe_the_driver_is_told_to_transfer_with_a_reference(client, world, prepaid, stripe_off):
    page = body(client, world.alice)
    assert 'id="wallet-balance">30.00 SEK' in page
    assert 'id="pay-by-transfer"' in page and f'id="payment-reference">{prepaid.payment_reference}<' in page
    assert world.org_a.name in page and "billing@alpha.example" in page and "+46 8 123 45" in page
    assert 'id="no-bank-details"' in page  # the operator entered no bank account: the page says so
    assert "wallet_top_up_start" not in page and "/payments/top-up/" not in page


def test_with_stripe_the_top_up_is_a_card_payment(client, world, prepaid, stripe_on):
    page = body(client, world.alice)
    assert "/payments/top-up/" in page and 'id="pay-by-transfer"' not in page


def test_the_refusal_reason_is_the_one_a_charger_gets(client, world, prepaid, stripe_off):
    verdict = id_tag_authorize(charge_point=world.cp_a, raw_uid=world.alice_card.uid, at=timezone.now())
    assert verdict.status == AuthorizationStatus.NO_CREDIT

    page = body(client, world.alice)

    assert 'data-card="04A1B2C3" data-status="NoCredit"' in page and "Refused for lack of credit" in page


def test_each_card_says_why_it_is_refused(world, prepaid):
    blocked = make_tag(prepaid, world.alice, "04BLOCK1")
    IdTag.objects.filter(pk=blocked.pk).update(status=IdTag.Status.BLOCKED, blocked_at=timezone.now())
    wallet_top_up(customer_account=prepaid, amount="100.00", method=LedgerEntry.Method.BANK, reference="r2", key="k2")
    make_session(world.cp_a.connectors.get(number=1), world.alice_card, energy_wh=None)  # running

    statuses = {s.card.uid: s for s in card_statuses_for_driver(user=world.alice, at=timezone.now())}

    assert statuses["04BLOCK1"].status == "Blocked" and "blocked" in statuses["04BLOCK1"].reason
    assert statuses["04A1B2C3"].status == "ConcurrentTx" and statuses["04A1B2C3"].refused


def test_a_card_that_can_charge_says_so(world, prepaid):
    wallet_top_up(customer_account=prepaid, amount="100.00", method=LedgerEntry.Method.BANK, reference="r2", key="k2")
    [status] = card_statuses_for_driver(user=world.alice, at=timezone.now())
    assert status.status == "Accepted" and not status.refused


def test_another_driver_sees_neither_the_balance_nor_the_cards(client, world, prepaid, stripe_off):
    page = body(client, world.bob)
    assert "04A1B2C3" not in page and "30.00 SEK" not in page
    assert f">{prepaid.payment_reference}<" not in page
    assert 'data-card="04B0B0B0" data-status="Accepted"' in page
    assert f'id="payment-reference">{world.bob.customer_account.payment_reference}<' in page  # his own


def test_the_last_refusal_at_a_station_is_shown_to_its_driver_only(client, world, prepaid, stripe_off):
    at = timezone.now()
    id_tag_authorize(charge_point=world.cp_a, raw_uid=world.alice_card.uid, at=at)  # NoCredit
    wallet_top_up(customer_account=prepaid, amount="100.00", method=LedgerEntry.Method.BANK, reference="r2", key="k2")

    [status] = card_statuses_for_driver(user=world.alice, at=timezone.now())
    page = body(client, world.alice)

    assert status.status == "Accepted" and status.last_refusal["status"] == "NoCredit"
    assert status.last_refusal["station"] == "ALPHA-1" and status.last_refusal["at"] == at
    assert "Last refused at ALPHA-1" in page and "No credit left" in page and "Refused for lack of credit" in page
    assert "Last refused" not in body(client, world.bob)


def test_an_accepted_card_records_no_refusal(world, stripe_off):
    id_tag_authorize(charge_point=world.cp_a, raw_uid=world.alice_card.uid, at=timezone.now())
    [status] = card_statuses_for_driver(user=world.alice, at=timezone.now())
    assert status.last_refusal is None and not status.refused

"""The driver's payments page: how the account pays, what it owes or holds, and its ledger, to its own driver only."""

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from billing.ledger import payment_method_set, payment_record, terminal_payment_record, wallet_top_up
from billing.models import LedgerEntry, PaymentAccount
from billing.services import session_price_freeze, tariff_assignment_create
from tests.factories import make_session, make_tariff

pytestmark = pytest.mark.django_db

Method = LedgerEntry.Method
D = Decimal
URL = "/payments/"


@pytest.fixture
def priced(world):
    """Completes and prices a session on a card (alice's by default): 10 kWh at 4.00 SEK, so 40.00."""
    tariff_assignment_create(tariff=make_tariff(world.org_a, energy="4.00"))
    hours = iter(range(100, 0, -1))

    def session(card=None, energy_wh=10_000):
        session = make_session(
            world.cp_a.connectors.get(number=1),
            card or world.alice_card,
            energy_wh=energy_wh,
            started_at=timezone.now() - timedelta(hours=next(hours)),
        )
        session_price_freeze(session=session)
        return session

    return session


@pytest.fixture
def stripe_on(settings):
    settings.STRIPE_SECRET_KEY = "sk_test_123"
    settings.STRIPE_WEBHOOK_SECRET = "whsec_123"


@pytest.fixture
def stripe_off(settings):
    settings.STRIPE_SECRET_KEY = ""
    settings.STRIPE_WEBHOOK_SECRET = ""


def page(client, user, **params):
    client.force_login(user)
    response = client.get(URL, params)
    assert response.status_code == 200
    return response


def test_the_page_has_its_url_name_and_asks_for_a_login(client, world):
    assert reverse("payments") == URL
    response = client.get(URL)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_drivers_find_the_page_in_the_menu(client, world):
    client.force_login(world.alice)
    assert f'href="{URL}"'.encode() in client.get(reverse("dashboard")).content


def test_a_login_without_a_customer_account_is_told_there_is_nothing_to_pay(client, world):
    lone = User.objects.create_user(email="lone@example.com", password="correct horse 42")
    for user in (lone, world.carol):
        response = page(client, user)
        assert response.context["account"] is None
        assert b'id="no-account"' in response.content and b'id="ledger"' not in response.content


def test_an_invoice_customer_sees_what_they_owe_and_each_movement(client, world, priced, stripe_off):
    first, second = priced(), priced(energy_wh=5_000)
    payment_record(
        customer_account=world.alice.customer_account,
        amount="50.00",
        method=Method.BANK,
        reference="OCR 4711",
        key="bank:1",
    )

    response = page(client, world.alice)
    content = response.content.decode()

    assert response.context["balance"].owed == D("10.00")
    assert not response.context["is_wallet"]
    assert "Monthly invoice" in content and "You owe" in content and "10.00 SEK" in content
    history = response.context["page"].object_list
    assert [entry.kind for entry in history].count(LedgerEntry.Kind.CHARGE) == 2
    assert "OCR 4711" in content and "Bank transfer" in content
    assert f"#{first.pk} · ALPHA-1 · Alpha Depot" in content and f"#{second.pk} · ALPHA-1" in content
    assert "40.00 SEK" in content and "20.00 SEK" in content
    assert 'id="wallet-balance"' not in content and 'id="wallet-warning"' not in content


def test_money_paid_beyond_what_is_owed_is_shown_in_the_customers_favour(client, world, priced):
    priced()
    payment_record(
        customer_account=world.alice.customer_account,
        amount="55.00",
        method=Method.BANK,
        reference="OCR 1",
        key="bank:1",
    )

    response = page(client, world.alice)

    assert response.context["balance"].owed == D("-15.00")
    assert "In your favour" in response.content.decode() and "15.00 SEK" in response.content.decode()


def test_history_shows_times_in_the_stations_local_time(client, world, priced):
    session = priced()
    # 23:30 UTC in January is 00:30 the next day in Stockholm.
    terminal_payment_record(
        session=session, reference="RCPT-9", amount="40.00", at=datetime(2026, 1, 15, 23, 30, tzinfo=UTC)
    )
    payment_record(
        customer_account=world.alice.customer_account,
        amount="5.00",
        method=Method.OTHER,
        reference="cash",
        key="cash:1",
        at=datetime(2026, 7, 1, 21, 5, tzinfo=UTC),
    )

    content = page(client, world.alice).content.decode()

    assert re.search(r"2026-01-16 00:30</time>", content)
    assert re.search(r"2026-07-01 23:05</time>", content)  # no session: the operator's zone, summer time


def test_a_wallet_customer_sees_the_wallet_and_is_warned_at_or_below_the_minimum(client, world, priced):
    account = world.alice.customer_account
    payment_method_set(customer_account=account, method=PaymentAccount.Method.WALLET, wallet_minimum=D("50.00"))
    wallet_top_up(customer_account=account, amount="90.00", method=Method.BANK, reference="OCR 77", key="t1")
    priced()  # 40.00 drawn from the wallet: 50.00 left, not more than the minimum

    response = page(client, world.alice)
    content = response.content.decode()

    assert response.context["is_wallet"] and response.context["balance"].wallet == D("50.00")
    assert response.context["balance"].owed == D("0.00")
    assert "Prepaid wallet" in content and 'id="wallet-balance">50.00 SEK' in content
    assert 'id="wallet-warning"' in content and "cannot start charging until you top up" in content
    assert "Wallet top-up" in content and "OCR 77" in content

    wallet_top_up(customer_account=account, amount="0.01", method=Method.BANK, reference="OCR 78", key="t2")
    response = page(client, world.alice)
    assert not response.context["wallet_blocked"] and 'id="wallet-warning"' not in response.content.decode()


def test_a_driver_sees_only_their_own_accounts_entries(client, world, priced):
    priced(card=world.bob_card)
    payment_record(
        customer_account=world.bob.customer_account,
        amount="40.00",
        method=Method.BANK,
        reference="BOB-SECRET",
        key="bob:1",
    )
    priced()

    response = page(client, world.alice)

    history = response.context["page"].object_list
    assert history and {entry.customer_account_id for entry in history} == {world.alice.customer_account_id}
    assert "BOB-SECRET" not in response.content.decode()
    assert page(client, world.bob).context["balance"].owed == D("0.00")


def test_the_history_is_paginated(client, world):
    account = world.alice.customer_account
    for number in range(30):
        payment_record(
            customer_account=account,
            amount="1.00",
            method=Method.BANK,
            reference=f"R{number:02d}",
            key=f"bank:{number}",
            at=timezone.now() - timedelta(minutes=number),
        )

    first = page(client, world.alice)
    second = page(client, world.alice, page=2)

    assert len(first.context["page"].object_list) == 25 and len(second.context["page"].object_list) == 5
    assert "R00" in first.content.decode() and "R29" in second.content.decode()
    assert 'rel="next"' in first.content.decode() and 'rel="prev"' in second.content.decode()


def test_the_page_reads_a_bounded_number_of_queries(client, world, priced, django_assert_max_num_queries):
    for _n in range(10):
        priced()
    terminal_payment_record(session=priced(), reference="RCPT-1", amount="40.00")
    client.force_login(world.alice)
    with django_assert_max_num_queries(12):
        assert client.get(URL).status_code == 200


def test_online_payment_forms_are_offered_only_when_stripe_is_on(client, world, priced, stripe_on):
    account = world.alice.customer_account
    priced()

    content = page(client, world.alice).content.decode()
    assert 'id="pay-now"' in content and f'action="{reverse("balance_pay_start")}"' in content
    assert '<input type="hidden" name="amount" value="40.00">' in content  # a stale page pays nothing else
    assert 'id="top-up"' not in content  # an invoice account has no wallet to top up

    payment_method_set(customer_account=account, method=PaymentAccount.Method.WALLET)
    content = page(client, world.alice).content.decode()
    assert 'id="top-up"' in content and f'action="{reverse("wallet_top_up_start")}"' in content
    assert 'id="pay-now"' in content  # the empty wallet could not pay the session
    keys = re.findall(r'name="request_key" value="([0-9a-f]{32})"', content)
    assert len(keys) == 3 and len(set(keys)) == 3
    assert keys[0] not in page(client, world.alice).content.decode()  # fresh keys on each render


def test_nothing_to_pay_and_stripe_off_show_no_payment_forms(client, world, priced, stripe_on, settings):
    content = page(client, world.alice).content.decode()
    assert 'id="pay-now"' not in content

    settings.STRIPE_SECRET_KEY = ""
    priced()
    content = page(client, world.alice).content.decode()
    assert 'id="pay-now"' not in content and "request_key" not in content

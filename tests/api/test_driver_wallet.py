"""The wallet from the app: the balance, and a top-up by card through Stripe Checkout (a fake Stripe API)."""

from decimal import Decimal

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from billing.ledger import payment_method_set, wallet_top_up
from billing.models import LedgerEntry, PaymentAccount, StripeCheckout
from tests.billing.test_stripe import SECRET_KEY, WEBHOOK_SECRET, FakeStripe

pytestmark = pytest.mark.django_db

KEY = "app-top-up-0123456789"


@pytest.fixture
def fake_stripe(settings):
    fake = FakeStripe()
    settings.STRIPE_SECRET_KEY, settings.STRIPE_WEBHOOK_SECRET, settings.STRIPE_API_BASE = (
        SECRET_KEY,
        WEBHOOK_SECRET,
        fake.url,
    )
    yield fake
    fake.stop()


@pytest.fixture
def alice_wallet(world):
    account = world.alice.customer_account
    payment_method_set(customer_account=account, method=PaymentAccount.Method.WALLET, wallet_minimum=Decimal("10"))
    return account


def as_driver(user) -> APIClient:
    api = APIClient()
    api.force_authenticate(user)
    return api


def top_up(user, **body):
    return as_driver(user).post(reverse("api:wallet_top_up"), body)


def test_the_wallet_balance_of_an_invoice_account(world):
    body = as_driver(world.alice).get(reverse("api:wallet")).json()
    assert body == {
        "currency": "SEK",
        "payment_method": "invoice",
        "wallet": "0.00",
        "wallet_minimum": "0.00",
        "owed": "0.00",
        "can_charge": True,
        "top_up_available": False,
        "bank_transfer": None,  # the operator entered no bank account: the app says to ask them
        "operator_email": world.org_a.email,
        "operator_phone": world.org_a.phone,
    }
    assert not PaymentAccount.objects.exists()  # reading creates nothing


def test_the_wallet_balance_of_a_prepaid_account(world, alice_wallet, fake_stripe):
    wallet_top_up(
        customer_account=alice_wallet, amount="25.50", method=LedgerEntry.Method.OTHER, reference="r", key="test-top-up"
    )
    body = as_driver(world.alice).get(reverse("api:wallet")).json()
    assert body["wallet"] == "25.50" and body["wallet_minimum"] == "10.00" and body["payment_method"] == "wallet"
    assert body["can_charge"] is True and body["top_up_available"] is True
    assert as_driver(world.bob).get(reverse("api:wallet")).json()["wallet"] == "0.00"


def test_a_top_up_opens_a_stripe_checkout_and_books_nothing_yet(world, alice_wallet, fake_stripe):
    response = top_up(world.alice, amount="125.50", request_key=KEY)
    assert response.status_code == 201
    body = response.json()
    checkout = StripeCheckout.objects.get()
    assert body == {
        "checkout_id": checkout.pk,
        "url": checkout.url,
        "amount": "125.50",
        "currency": "SEK",
        "status": "open",
        "request_key": KEY,
    }
    assert body["url"].startswith("https://checkout.stripe.com/")
    assert checkout.customer_account == alice_wallet and checkout.purpose == StripeCheckout.Purpose.TOP_UP
    assert fake_stripe.requests[0]["form"]["line_items[0][price_data][unit_amount]"] == "12550"
    assert not LedgerEntry.objects.exists()


def test_the_same_request_key_gives_the_same_checkout(world, alice_wallet, fake_stripe):
    first = top_up(world.alice, amount="50", request_key=KEY).json()
    again = top_up(world.alice, amount="50", request_key=KEY).json()
    assert again == first and StripeCheckout.objects.count() == 1 and len(fake_stripe.requests) == 1
    response = top_up(world.alice, amount="60", request_key=KEY)
    assert response.status_code == 409 and response.json()["error"]["code"] == "used"


def test_without_a_request_key_each_top_up_is_a_new_checkout(world, alice_wallet, fake_stripe):
    assert top_up(world.alice, amount="50").status_code == 201
    assert top_up(world.alice, amount="50").status_code == 201
    assert StripeCheckout.objects.count() == 2


def test_another_driver_cannot_reuse_someone_elses_request_key(world, alice_wallet, fake_stripe):
    top_up(world.alice, amount="50", request_key=KEY)
    payment_method_set(customer_account=world.bob.customer_account, method=PaymentAccount.Method.WALLET)
    response = top_up(world.bob, amount="50", request_key=KEY)
    assert response.status_code == 409
    assert StripeCheckout.objects.get().customer_account == alice_wallet


def test_an_invoice_account_has_no_wallet_to_top_up(world, fake_stripe):
    response = top_up(world.alice, amount="50", request_key=KEY)
    assert response.status_code == 409 and response.json()["error"]["code"] == "no_wallet"
    assert fake_stripe.requests == []


def test_without_stripe_configured_a_top_up_is_not_found(world, alice_wallet, settings):
    settings.STRIPE_SECRET_KEY = ""
    response = top_up(world.alice, amount="50", request_key=KEY)
    assert response.status_code == 404 and response.json()["error"]["code"] == "top_up_not_available"


def test_stripe_failing_is_a_503(world, alice_wallet, fake_stripe):
    fake_stripe.fail_next = True
    response = top_up(world.alice, amount="50", request_key=KEY)
    assert response.status_code == 503 and response.json()["error"]["code"] == "payment_unavailable"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"amount": "0"}, "amount"),
        ({"amount": "-5"}, "amount"),
        ({"amount": "1.234"}, "amount"),
        ({"amount": "abc"}, "amount"),
        ({}, "amount"),
        ({"amount": "5", "request_key": "short"}, "request_key"),
    ],
)
def test_a_bad_amount_or_key_is_a_400_naming_the_field(world, alice_wallet, fake_stripe, body, field):
    response = top_up(world.alice, **body)
    assert response.status_code == 400 and field in response.json()["error"]["fields"]
    assert fake_stripe.requests == []

"""Online card payment through Stripe Checkout: a checkout per click, booked only by a signed webhook, once.

A small fake Stripe API runs in a thread and answers ``POST /v1/checkout/sessions`` the way Stripe
does (form-encoded request, JSON checkout session, replay of an Idempotency-Key); webhook events are
signed the way Stripe documents: ``Stripe-Signature: t=<ts>,v1=<hex HMAC-SHA256 of "<ts>.<payload>">``.
"""

import hashlib
import hmac
import json
import threading
import time
from datetime import timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import count
from urllib.parse import parse_qs

import pytest
from django.contrib.messages import get_messages
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from billing.balances import account_balance, session_owed
from billing.ledger import payment_method_set
from billing.models import LedgerEntry, PaymentAccount, StripeCheckout
from billing.services import session_price_freeze, tariff_assignment_create
from billing.stripe_payments import (
    WebhookRejected,
    checkout_start,
    stripe_settings_check,
    webhook_handle,
)
from core.money import from_minor_units, to_minor_units
from tests.factories import make_session, make_tariff

pytestmark = pytest.mark.django_db

D = Decimal
SECRET_KEY = "sk_test_chargeportal_fake"
WEBHOOK_SECRET = "whsec_test_chargeportal_fake"
KEY = "k" * 32  # a form's one-time key
_ids = count(1)


# --- a fake Stripe API ------------------------------------------------------------------------


class FakeStripe:
    """Records every request; answers checkout session creation as Stripe does, replaying idempotent requests."""

    def __init__(self):
        self.requests: list[dict] = []
        self.sessions: dict[str, dict] = {}
        self.by_idempotency_key: dict[str, dict] = {}
        self.fail_next = False
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                form = {name: values[0] for name, values in parse_qs(body, keep_blank_values=True).items()}
                fake.requests.append({"path": self.path, "headers": dict(self.headers), "form": form})
                status, answer = fake.answer(self.path, self.headers, form)
                raw = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.send_header("Request-Id", f"req_{next(_ids)}")
                self.end_headers()
                self.wfile.write(raw)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
        self.thread.start()

    def answer(self, path, headers, form) -> tuple[int, dict]:
        if path != "/v1/checkout/sessions":
            return 404, {"error": {"type": "invalid_request_error", "message": f"Unrecognized request URL {path}"}}
        if self.fail_next:
            self.fail_next = False
            return 400, {"error": {"type": "invalid_request_error", "message": "The price is invalid."}}
        key = headers.get("Idempotency-Key")
        if key in self.by_idempotency_key:
            return 200, self.by_idempotency_key[key]
        session_id = f"cs_test_a1{next(_ids):06d}Zx"
        unit_amount = int(form["line_items[0][price_data][unit_amount]"])
        session = {
            "id": session_id,
            "object": "checkout.session",
            "mode": "payment",
            "status": "open",
            "payment_status": "unpaid",
            "amount_subtotal": unit_amount,
            "amount_total": unit_amount,
            "currency": form["line_items[0][price_data][currency]"],
            "client_reference_id": form.get("client_reference_id"),
            "customer_email": form.get("customer_email"),
            "customer_details": None,
            "metadata": {
                name[len("metadata[") : -1]: value for name, value in form.items() if name.startswith("metadata[")
            },
            "payment_intent": None,
            "success_url": form["success_url"],
            "cancel_url": form["cancel_url"],
            "created": int(time.time()),
            "expires_at": int(time.time()) + 86_400,
            "livemode": False,
            "url": f"https://checkout.stripe.com/c/pay/{session_id}#fidkdWxOYHwnPyd1blpxYHZxWjA0",
        }
        self.sessions[session_id] = session
        if key:
            self.by_idempotency_key[key] = session
        return 200, session

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_stripe(settings):
    fake = FakeStripe()
    settings.STRIPE_SECRET_KEY = SECRET_KEY
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.STRIPE_API_BASE = fake.url
    yield fake
    fake.stop()


# --- webhook events, as Stripe sends them -------------------------------------------------------


def event_payload(event_type: str, obj: dict) -> bytes:
    return json.dumps(
        {
            "id": f"evt_1Q{next(_ids):08d}",
            "object": "event",
            "api_version": "2025-09-30.clover",
            "created": int(time.time()),
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": event_type,
            "data": {"object": obj},
        }
    ).encode()


def signature(payload: bytes, *, secret: str = WEBHOOK_SECRET, at: int | None = None) -> str:
    at = int(time.time()) if at is None else at
    digest = hmac.new(secret.encode(), f"{at}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={at},v1={digest}"


def post_event(client, payload: bytes, sig: str | None = "sign"):
    headers = {} if sig is None else {"HTTP_STRIPE_SIGNATURE": signature(payload) if sig == "sign" else sig}
    return client.post(reverse("stripe_webhook"), data=payload, content_type="application/json", **headers)


def paid_session(fake: FakeStripe, checkout: StripeCheckout, payment_intent: str = "pi_3Q0paid", **changes) -> dict:
    session = dict(
        fake.sessions[checkout.stripe_session_id],
        status="complete",
        payment_status="paid",
        payment_intent=payment_intent,
        customer_details={"email": checkout.customer_account.billing_email, "name": "Alice"},
    )
    session.update(changes)
    return session


def refunded_charge(payment_intent: str, amount: int, refunded: int, charge: str = "ch_3Q0charge") -> dict:
    return {
        "id": charge,
        "object": "charge",
        "amount": amount,
        "amount_captured": amount,
        "amount_refunded": refunded,
        "currency": "sek",
        "paid": True,
        "payment_intent": payment_intent,
        "refunded": refunded == amount,
        "status": "succeeded",
    }


# --- actors and money -------------------------------------------------------------------------


@pytest.fixture
def alice_wallet(world):
    account = world.alice.customer_account
    payment_method_set(customer_account=account, method=PaymentAccount.Method.WALLET)
    return account


@pytest.fixture
def owed_session(world):
    """One of alice's sessions priced at 40.00 SEK and owed (she pays by invoice)."""
    tariff_assignment_create(tariff=make_tariff(world.org_a, energy="4.00"))
    session = make_session(
        world.cp_a.connectors.get(number=1),
        world.alice_card,
        started_at=timezone.now() - timedelta(hours=5),
        energy_wh=10_000,
    )
    session_price_freeze(session=session)
    assert account_balance(world.alice.customer_account).owed == D("40.00")
    return session


def start_top_up(client, user, amount="125.50", key=KEY):
    client.force_login(user)
    return client.post(reverse("wallet_top_up_start"), {"amount": amount, "request_key": key})


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def stripe_entries():
    return LedgerEntry.objects.filter(method=LedgerEntry.Method.STRIPE)


# --- opening a checkout -------------------------------------------------------------------------


def test_a_top_up_opens_a_stripe_checkout_in_minor_units_with_our_reference_and_the_form_key(
    client, world, alice_wallet, fake_stripe
):
    response = start_top_up(client, world.alice, amount="125.50")

    checkout = StripeCheckout.objects.get()
    assert response.status_code == 303
    assert response["Location"] == checkout.url and checkout.url.startswith("https://checkout.stripe.com/")
    assert (checkout.customer_account, checkout.purpose, checkout.amount, checkout.currency, checkout.status) == (
        alice_wallet,
        StripeCheckout.Purpose.TOP_UP,
        D("125.50"),
        "SEK",
        StripeCheckout.Status.OPEN,
    )
    assert checkout.created_by == world.alice and checkout.stripe_session_id.startswith("cs_test_")
    [request] = fake_stripe.requests
    form, headers = request["form"], request["headers"]
    assert headers["Authorization"] == f"Bearer {SECRET_KEY}"
    assert headers["Idempotency-Key"] == f"checkout-{KEY}"
    assert form["mode"] == "payment"
    assert form["line_items[0][quantity]"] == "1"
    assert form["line_items[0][price_data][unit_amount]"] == "12550"
    assert form["line_items[0][price_data][currency]"] == "sek"
    assert world.org_a.name in form["line_items[0][price_data][product_data][name]"]
    assert form["client_reference_id"] == str(checkout.pk)
    assert form["metadata[checkout_id]"] == str(checkout.pk)
    assert form["metadata[customer_account_id]"] == str(alice_wallet.pk)
    assert form["metadata[purpose]"] == "top_up"
    assert form["customer_email"] == alice_wallet.billing_email
    assert form["success_url"] == "http://testserver" + reverse("checkout_return") + "?result=paid"
    assert form["cancel_url"] == "http://testserver" + reverse("checkout_return") + "?result=cancelled"
    assert not LedgerEntry.objects.exists()  # opening a checkout books nothing


def test_a_double_click_with_the_same_form_key_opens_one_checkout_and_asks_stripe_once(
    client, world, alice_wallet, fake_stripe
):
    first = start_top_up(client, world.alice)
    second = start_top_up(client, world.alice)

    assert first.status_code == second.status_code == 303
    assert first["Location"] == second["Location"]
    assert StripeCheckout.objects.count() == 1
    assert len(fake_stripe.requests) == 1


def test_a_checkout_whose_stripe_call_failed_is_retried_with_the_same_stripe_idempotency_key(
    client, world, alice_wallet, fake_stripe
):
    fake_stripe.fail_next = True
    failed = start_top_up(client, world.alice)

    assert failed.status_code == 302 and failed["Location"] == reverse("payments")
    assert messages_of(failed) == ["The card payment could not be started. Please try again later."]
    assert StripeCheckout.objects.get().stripe_session_id == ""

    retried = start_top_up(client, world.alice)
    assert retried.status_code == 303
    assert StripeCheckout.objects.count() == 1 and StripeCheckout.objects.get().stripe_session_id
    assert [r["headers"]["Idempotency-Key"] for r in fake_stripe.requests] == [f"checkout-{KEY}"] * 2


@pytest.mark.parametrize("amount", ["", "abc", "0", "-5", "10.001", "NaN", "Infinity"])
def test_a_bad_top_up_amount_is_refused_with_a_message_and_stripe_is_not_asked(
    client, world, alice_wallet, fake_stripe, amount
):
    response = start_top_up(client, world.alice, amount=amount)

    assert response.status_code == 302 and response["Location"] == reverse("payments")
    assert len(messages_of(response)) == 1
    assert not StripeCheckout.objects.exists() and fake_stripe.requests == []


def test_an_invoice_account_cannot_top_up_a_wallet(client, world, fake_stripe):
    response = start_top_up(client, world.alice)

    assert response.status_code == 302
    assert messages_of(response) == ["This account pays by invoice and has no prepaid wallet."]
    assert not StripeCheckout.objects.exists() and fake_stripe.requests == []


def test_a_form_key_cannot_be_reused_for_another_amount(client, world, alice_wallet, fake_stripe):
    start_top_up(client, world.alice, amount="100")
    response = start_top_up(client, world.alice, amount="500")

    assert response.status_code == 302
    assert messages_of(response) == ["This form was used already. Please reload the page and try again."]
    assert StripeCheckout.objects.get().amount == D("100.00") and len(fake_stripe.requests) == 1


@pytest.mark.parametrize("key", ["", "short", "x" * 65, "bad key with spaces!"])
def test_a_missing_or_malformed_form_key_is_refused(client, world, alice_wallet, fake_stripe, key):
    response = start_top_up(client, world.alice, key=key)

    assert response.status_code == 302
    assert messages_of(response) == ["This form has expired. Please reload the page and try again."]
    assert fake_stripe.requests == []


def test_paying_the_balance_asks_stripe_for_exactly_what_is_owed(client, world, owed_session, fake_stripe):
    client.force_login(world.alice)
    response = client.post(reverse("balance_pay_start"), {"request_key": KEY})

    checkout = StripeCheckout.objects.get()
    assert response.status_code == 303 and response["Location"] == checkout.url
    assert (checkout.purpose, checkout.amount) == (StripeCheckout.Purpose.PAY_BALANCE, D("40.00"))
    form = fake_stripe.requests[0]["form"]
    assert form["line_items[0][price_data][unit_amount]"] == "4000"
    assert form["metadata[purpose]"] == "pay_balance"


def test_paying_the_balance_with_a_stale_amount_or_nothing_owed_is_refused(client, world, owed_session, fake_stripe):
    client.force_login(world.alice)
    stale = client.post(reverse("balance_pay_start"), {"request_key": KEY, "amount": "25.00"})
    assert stale.status_code == 302
    assert messages_of(stale) == ["What you owe has changed: it is now 40.00 SEK. Please check and try again."]

    bob = Client()
    bob.force_login(world.bob)
    nothing = bob.post(reverse("balance_pay_start"), {"request_key": "b" * 32})
    assert nothing.status_code == 302 and messages_of(nothing) == ["Nothing is owed."]
    assert not StripeCheckout.objects.exists() and fake_stripe.requests == []


def test_a_driver_acts_only_for_their_own_account_and_cannot_take_over_anothers_form_key(
    client, world, alice_wallet, fake_stripe
):
    payment_method_set(customer_account=world.bob.customer_account, method=PaymentAccount.Method.WALLET)
    start_top_up(client, world.alice)
    alices = StripeCheckout.objects.get()

    bob = Client()
    bob.force_login(world.bob)
    stolen = bob.post(
        reverse("wallet_top_up_start"), {"amount": "125.50", "request_key": KEY, "customer_account": alice_wallet.pk}
    )
    assert stolen.status_code == 302 and stolen["Location"] == reverse("payments")
    assert alices.url not in stolen["Location"]
    assert messages_of(stolen) == ["This form was used already. Please reload the page and try again."]

    own = bob.post(
        reverse("wallet_top_up_start"), {"amount": "20", "request_key": "b" * 32, "customer_account": alice_wallet.pk}
    )
    assert own.status_code == 303
    assert StripeCheckout.objects.get(request_key="b" * 32).customer_account == world.bob.customer_account


def test_staff_without_a_customer_account_get_404(client, world, fake_stripe):
    client.force_login(world.carol)
    assert client.post(reverse("wallet_top_up_start"), {"amount": "10", "request_key": KEY}).status_code == 404
    assert client.post(reverse("balance_pay_start"), {"request_key": KEY}).status_code == 404
    assert fake_stripe.requests == []


def test_the_payment_views_need_a_login_and_the_start_views_a_post(client, world, alice_wallet, fake_stripe):
    for name in ("wallet_top_up_start", "balance_pay_start", "checkout_return"):
        response = (
            client.post(reverse(name), {"amount": "10", "request_key": KEY})
            if name != "checkout_return"
            else client.get(reverse(name))
        )
        assert response.status_code == 302 and response["Location"].startswith(reverse("account_login"))
    client.force_login(world.alice)
    assert client.get(reverse("wallet_top_up_start")).status_code == 405
    assert client.get(reverse("balance_pay_start")).status_code == 405
    assert fake_stripe.requests == []


def test_with_stripe_not_configured_the_start_views_and_the_webhook_answer_404(client, world, alice_wallet, settings):
    settings.STRIPE_SECRET_KEY = settings.STRIPE_WEBHOOK_SECRET = ""
    client.force_login(world.alice)

    assert client.post(reverse("wallet_top_up_start"), {"amount": "10", "request_key": KEY}).status_code == 404
    assert client.post(reverse("balance_pay_start"), {"request_key": KEY}).status_code == 404
    payload = event_payload("checkout.session.completed", {"id": "cs_test_x", "payment_status": "paid"})
    assert post_event(client, payload).status_code == 404
    assert not StripeCheckout.objects.exists()


# --- coming back from Stripe ----------------------------------------------------------------


def test_coming_back_from_stripe_books_nothing_and_only_says_the_payment_appears_once_confirmed(
    client, world, alice_wallet, fake_stripe
):
    start_top_up(client, world.alice)

    response = client.get(reverse("checkout_return"), {"result": "paid", "session_id": "cs_test_forged"})
    assert response.status_code == 302 and response["Location"] == reverse("payments")
    assert messages_of(response) == ["Thank you: your payment was received. It appears here once Stripe confirms it."]
    elsewhere = Client()
    elsewhere.force_login(world.alice)
    cancelled = elsewhere.get(reverse("checkout_return"), {"result": "cancelled"})
    assert messages_of(cancelled) == ["The card payment was cancelled. Nothing was charged."]
    assert not LedgerEntry.objects.exists()
    assert StripeCheckout.objects.get().status == StripeCheckout.Status.OPEN


# --- the webhook: payments ------------------------------------------------------------------


@pytest.fixture
def top_up(client, world, alice_wallet, fake_stripe):
    start_top_up(client, world.alice, amount="125.50")
    client.logout()
    return StripeCheckout.objects.get()


def test_a_signed_completed_event_tops_up_the_wallet_and_marks_the_checkout_paid(client, fake_stripe, top_up):
    response = post_event(
        Client(enforce_csrf_checks=True), event_payload("checkout.session.completed", paid_session(fake_stripe, top_up))
    )

    assert response.status_code == 200 and response.content == b"booked"
    [entry] = stripe_entries()
    assert (entry.kind, entry.wallet, entry.receivable, entry.reference, entry.idempotency_key) == (
        LedgerEntry.Kind.TOP_UP,
        D("125.50"),
        D("0.00"),
        "pi_3Q0paid",
        f"stripe:{top_up.stripe_session_id}",
    )
    assert account_balance(top_up.customer_account).wallet == D("125.50")
    top_up.refresh_from_db()
    assert top_up.status == StripeCheckout.Status.PAID


def test_the_same_event_replayed_and_both_paid_events_of_one_session_book_once(client, fake_stripe, top_up):
    completed = event_payload("checkout.session.completed", paid_session(fake_stripe, top_up))
    async_succeeded = event_payload("checkout.session.async_payment_succeeded", paid_session(fake_stripe, top_up))

    answers = [post_event(client, payload).content for payload in (completed, completed, async_succeeded, completed)]

    assert answers == [b"booked", b"booked already", b"booked already", b"booked already"]
    assert stripe_entries().count() == 1
    assert account_balance(top_up.customer_account).wallet == D("125.50")


def test_a_completed_event_not_paid_yet_books_nothing_until_the_async_payment_succeeds(client, fake_stripe, top_up):
    pending = paid_session(fake_stripe, top_up, payment_status="unpaid")
    assert post_event(client, event_payload("checkout.session.completed", pending)).content == b"not paid yet"
    assert not LedgerEntry.objects.exists()

    succeeded = event_payload("checkout.session.async_payment_succeeded", paid_session(fake_stripe, top_up))
    assert post_event(client, succeeded).content == b"booked"
    assert account_balance(top_up.customer_account).wallet == D("125.50")


def test_a_paid_balance_pays_the_owed_session(client, world, owed_session, fake_stripe):
    client.force_login(world.alice)
    client.post(reverse("balance_pay_start"), {"request_key": KEY})
    checkout = StripeCheckout.objects.get()

    response = post_event(client, event_payload("checkout.session.completed", paid_session(fake_stripe, checkout)))

    assert response.content == b"booked"
    assert account_balance(world.alice.customer_account).owed == D("0.00")
    assert session_owed(owed_session.pk) == D("0.00")
    [payment] = stripe_entries()
    assert (payment.kind, payment.receivable, payment.session_id) == (
        LedgerEntry.Kind.PAYMENT,
        D("-40.00"),
        owed_session.pk,
    )


def test_a_top_up_paid_after_the_account_switched_to_invoice_is_booked_as_a_payment_in_its_favour(
    client, fake_stripe, top_up
):
    payment_method_set(customer_account=top_up.customer_account, method=PaymentAccount.Method.INVOICE)

    post_event(client, event_payload("checkout.session.completed", paid_session(fake_stripe, top_up)))

    assert account_balance(top_up.customer_account).owed == D("-125.50")
    assert stripe_entries().get().kind == LedgerEntry.Kind.PAYMENT


@pytest.mark.parametrize(
    "sig",
    [
        None,  # no header
        "",
        "t=123,v1=deadbeef",  # not the signature
        "garbage",
        "wrong secret",
        "stale",  # signed correctly, 10 minutes ago (Stripe's tolerance is 5)
    ],
)
def test_an_unverified_event_is_refused_with_400_and_books_nothing(client, fake_stripe, top_up, sig):
    payload = event_payload("checkout.session.completed", paid_session(fake_stripe, top_up))
    if sig == "wrong secret":
        sig = signature(payload, secret="whsec_someone_else")
    elif sig == "stale":
        sig = signature(payload, at=int(time.time()) - 600)

    response = post_event(client, payload, sig)

    assert response.status_code == 400
    assert not LedgerEntry.objects.exists()
    top_up.refresh_from_db()
    assert top_up.status == StripeCheckout.Status.OPEN


def test_a_tampered_payload_with_a_signature_of_the_original_is_refused(client, fake_stripe, top_up):
    payload = event_payload("checkout.session.completed", paid_session(fake_stripe, top_up))
    tampered = payload.replace(b'"amount_total": 12550', b'"amount_total": 99999')

    assert tampered != payload
    assert post_event(client, tampered, signature(payload)).status_code == 400
    assert not LedgerEntry.objects.exists()


def test_a_signed_payload_that_is_not_an_event_is_refused(client, fake_stripe):
    for payload in (b"not json", b"[1, 2]", b'{"type": "checkout.session.completed"}'):
        with pytest.raises(WebhookRejected):
            webhook_handle(payload=payload, signature=signature(payload))
        assert post_event(client, payload).status_code == 400


def test_the_webhook_answers_only_post(client, fake_stripe):
    assert client.get(reverse("stripe_webhook")).status_code == 405


@pytest.mark.parametrize(
    "changes",
    [
        {"amount_total": 1255},  # ten times too little
        {"currency": "eur"},
        {"client_reference_id": "999999"},
    ],
)
def test_a_paid_session_that_does_not_match_our_checkout_books_nothing(client, fake_stripe, top_up, changes):
    response = post_event(
        client, event_payload("checkout.session.completed", paid_session(fake_stripe, top_up, **changes))
    )

    assert response.status_code == 200 and response.content == b"mismatch"
    assert not LedgerEntry.objects.exists()
    top_up.refresh_from_db()
    assert top_up.status == StripeCheckout.Status.OPEN


def test_a_paid_session_we_did_not_open_is_answered_200_and_books_nothing(client, fake_stripe, top_up):
    other = paid_session(fake_stripe, top_up, id="cs_test_not_ours", client_reference_id=None)

    response = post_event(client, event_payload("checkout.session.completed", other))

    assert response.status_code == 200 and response.content == b"unknown checkout"
    assert not LedgerEntry.objects.exists()


def test_an_expired_session_marks_the_checkout_expired_and_its_form_cannot_reopen_it(
    client, world, fake_stripe, top_up
):
    expired = dict(fake_stripe.sessions[top_up.stripe_session_id], status="expired", url=None)

    assert post_event(client, event_payload("checkout.session.expired", expired)).content == b"expired"
    top_up.refresh_from_db()
    assert top_up.status == StripeCheckout.Status.EXPIRED
    again = start_top_up(client, world.alice)
    assert again.status_code == 302
    assert messages_of(again) == ["This payment page has expired. Please reload the page and try again."]
    assert not LedgerEntry.objects.exists()


def test_other_event_types_are_answered_200_and_ignored(client, fake_stripe, top_up):
    payload = event_payload("payment_intent.succeeded", {"id": "pi_3Q0paid", "object": "payment_intent"})
    response = post_event(client, payload)
    assert response.status_code == 200 and response.content == b"ignored"
    assert not LedgerEntry.objects.exists()


# --- the webhook: refunds -------------------------------------------------------------------


def refunds_booked(payment_intent: str) -> list[Decimal]:
    return [
        entry.amount
        for entry in LedgerEntry.objects.filter(kind=LedgerEntry.Kind.REFUND, reference=payment_intent).order_by(
            "booked_at", "pk"
        )
    ]


def test_partial_then_full_refunds_of_a_top_up_are_booked_once_each_however_often_and_in_whatever_order(
    client, fake_stripe, top_up
):
    post_event(client, event_payload("checkout.session.completed", paid_session(fake_stripe, top_up)))
    account = top_up.customer_account
    partial = event_payload("charge.refunded", refunded_charge("pi_3Q0paid", 12550, 5000))
    full = event_payload("charge.refunded", refunded_charge("pi_3Q0paid", 12550, 12550))

    assert post_event(client, partial).content == b"refunded"
    assert post_event(client, partial).content == b"booked already"
    assert refunds_booked("pi_3Q0paid") == [D("50.00")]
    assert account_balance(account).wallet == D("75.50")

    assert post_event(client, full).content == b"refunded"
    assert post_event(client, full).content == b"booked already"
    assert post_event(client, partial).content == b"booked already"  # late and out of order
    assert refunds_booked("pi_3Q0paid") == [D("50.00"), D("75.50")]
    assert account_balance(account).wallet == D("0.00") and account_balance(account).owed == D("0.00")
    assert all(entry.method == LedgerEntry.Method.STRIPE for entry in LedgerEntry.objects.filter(kind="refund"))


def test_a_full_refund_arriving_before_the_partial_one_books_the_whole_amount_once(client, fake_stripe, top_up):
    post_event(client, event_payload("checkout.session.completed", paid_session(fake_stripe, top_up)))

    post_event(client, event_payload("charge.refunded", refunded_charge("pi_3Q0paid", 12550, 12550)))
    post_event(client, event_payload("charge.refunded", refunded_charge("pi_3Q0paid", 12550, 5000)))

    assert refunds_booked("pi_3Q0paid") == [D("125.50")]
    assert account_balance(top_up.customer_account).wallet == D("0.00")


def test_a_refunded_top_up_the_wallet_partly_spent_empties_the_wallet_and_the_rest_is_owed(
    client, world, fake_stripe, top_up
):
    post_event(client, event_payload("checkout.session.completed", paid_session(fake_stripe, top_up)))
    tariff_assignment_create(tariff=make_tariff(world.org_a, energy="4.00"))
    session = make_session(world.cp_a.connectors.get(number=1), world.alice_card, energy_wh=10_000)
    session_price_freeze(session=session)  # the wallet pays 40.00 for it
    account = top_up.customer_account
    assert account_balance(account).wallet == D("85.50")

    post_event(client, event_payload("charge.refunded", refunded_charge("pi_3Q0paid", 12550, 12550)))
    post_event(client, event_payload("charge.refunded", refunded_charge("pi_3Q0paid", 12550, 12550)))

    assert sorted(refunds_booked("pi_3Q0paid")) == [D("40.00"), D("85.50")]
    assert account_balance(account).wallet == D("0.00")
    assert account_balance(account).owed == D("40.00")  # the refunded card money had paid the session


def test_a_refunded_balance_payment_is_owed_again_once(client, world, owed_session, fake_stripe):
    client.force_login(world.alice)
    client.post(reverse("balance_pay_start"), {"request_key": KEY})
    checkout = StripeCheckout.objects.get()
    post_event(
        client,
        event_payload(
            "checkout.session.completed", paid_session(fake_stripe, checkout, payment_intent="pi_3Q0balance")
        ),
    )

    for _ in range(2):
        post_event(client, event_payload("charge.refunded", refunded_charge("pi_3Q0balance", 4000, 4000)))

    assert refunds_booked("pi_3Q0balance") == [D("40.00")]
    assert account_balance(world.alice.customer_account).owed == D("40.00")


def test_a_refund_of_a_payment_not_booked_yet_is_sent_again_by_stripe_and_books_nothing(client, fake_stripe, top_up):
    response = post_event(client, event_payload("charge.refunded", refunded_charge("pi_3Q0unknown", 1000, 1000)))

    assert response.status_code == 503  # Stripe retries any answer that is not 2xx
    assert not LedgerEntry.objects.exists()


# --- the service directly, money and configuration ------------------------------------------


def test_checkout_start_is_idempotent_by_its_form_key(world, alice_wallet, fake_stripe):
    arguments = dict(
        customer_account=alice_wallet,
        purpose=StripeCheckout.Purpose.TOP_UP,
        amount="20",
        request_key=KEY,
        user=world.alice,
        success_url="https://x.example/ok",
        cancel_url="https://x.example/cancel",
    )
    assert checkout_start(**arguments) == checkout_start(**arguments)
    assert len(fake_stripe.requests) == 1
    with pytest.raises(ValidationError):
        checkout_start(**{**arguments, "purpose": "gift_card", "request_key": "z" * 32})


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        ("125.50", "SEK", 12550),
        ("0.01", "eur", 1),
        ("19.99", "USD", 1999),
        ("1000", "JPY", 1000),
        ("12.34", "KWD", 12340),
    ],
)
def test_minor_units_are_exact_decimal_arithmetic(amount, currency, minor):
    assert to_minor_units(D(amount), currency) == minor
    assert from_minor_units(minor, currency) == D(amount).quantize(D("0.01"))


def test_a_fraction_of_a_whole_unit_currency_is_refused():
    with pytest.raises(ValidationError):
        to_minor_units(D("10.50"), "JPY")


def test_the_stripe_key_and_webhook_secret_come_together(settings):
    settings.STRIPE_SECRET_KEY, settings.STRIPE_WEBHOOK_SECRET = SECRET_KEY, ""
    assert [error.id for error in stripe_settings_check()] == ["billing.E001"]
    with pytest.raises(SystemCheckError, match="billing.E001"):
        call_command("check")
    settings.STRIPE_SECRET_KEY, settings.STRIPE_WEBHOOK_SECRET = "", WEBHOOK_SECRET
    assert [error.id for error in stripe_settings_check()] == ["billing.E001"]
    settings.STRIPE_SECRET_KEY, settings.STRIPE_WEBHOOK_SECRET = SECRET_KEY, WEBHOOK_SECRET
    assert stripe_settings_check() == []
    settings.STRIPE_SECRET_KEY = settings.STRIPE_WEBHOOK_SECRET = ""
    assert stripe_settings_check() == []

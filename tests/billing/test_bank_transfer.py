"""Paying the operator by bank transfer: the payments page, the app's wallet and an invoice account's statement
show the operator's bank details and the customer's payment reference (or, with none entered, whom to ask);
the operator finds the account by that reference and a wallet top-up booked with a mistyped one is refused."""

from decimal import Decimal

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.bank import payment_reference
from accounts.models import CustomerAccount, Organization, User
from billing.ledger import payment_account_of, payment_method_set
from billing.models import LedgerEntry, PaymentAccount
from billing.statements import statement_issue
from tests.accounts.test_bank_details import mistyped
from tests.billing.test_payments_admin import form_key
from tests.billing.test_prepaid_help import _no_remembered_refusals, stripe_off, stripe_on  # noqa: F401  (fixtures)
from tests.billing.test_statements import MARCH, march, media, pdf_text  # noqa: F401  (fixtures used by name)
from tests.factories import make_account

pytestmark = pytest.mark.django_db

IBAN = "SE4550000000058398257466"
IBAN_SHOWN = "SE45 5000 0000 0583 9825 7466"


@pytest.fixture
def bank_details(world):
    Organization.objects.filter(pk=world.org_a.pk).update(
        bank_account_holder="Alpha Kundreskontra AB", iban=IBAN, bic="ESSESESS", other_bank_account="Bankgiro 5050-1055"
    )


@pytest.fixture
def alice_prepaid(world):
    account = world.alice.customer_account
    payment_method_set(customer_account=account, method=PaymentAccount.Method.WALLET, wallet_minimum=Decimal("0"))
    return account


def payments_page(client, user) -> str:
    client.force_login(user)
    response = client.get("/payments/")
    assert response.status_code == 200
    return response.content.decode()


# --- the driver's payments page ----------------------------------------------------------------------


@pytest.mark.usefixtures("stripe_off")
def test_without_stripe_a_prepaid_driver_sees_where_to_transfer_and_the_reference(
    client, world, bank_details, alice_prepaid
):
    page = payments_page(client, world.alice)

    assert 'id="pay-by-transfer"' in page and "Pay by bank transfer" in page
    assert 'id="bank-holder">Alpha Kundreskontra AB<' in page
    assert f'id="bank-iban">{IBAN_SHOWN}<' in page and 'id="bank-bic">ESSESESS<' in page
    assert 'id="bank-other-account">Bankgiro 5050-1055<' in page
    assert f'id="payment-reference">{alice_prepaid.payment_reference}<' in page
    assert "Your wallet is credited when your operator books the transfer." in page
    assert 'id="no-bank-details"' not in page


@pytest.mark.usefixtures("stripe_on")
def test_with_stripe_a_prepaid_driver_tops_up_by_card_only(client, world, bank_details, alice_prepaid):
    page = payments_page(client, world.alice)
    assert "/payments/top-up/" in page and 'id="pay-by-transfer"' not in page


@pytest.mark.usefixtures("stripe_on")
def test_a_driver_paying_by_invoice_sees_the_bank_details_also_with_stripe(client, world, bank_details):
    page = payments_page(client, world.bob)
    assert f'id="bank-iban">{IBAN_SHOWN}<' in page
    assert f'id="payment-reference">{world.bob.customer_account.payment_reference}<' in page
    assert "counts as paid when your operator books the transfer" in page


@pytest.mark.usefixtures("stripe_off")
def test_the_account_holder_is_the_operators_name_when_left_blank(client, world, bank_details):
    Organization.objects.filter(pk=world.org_a.pk).update(bank_account_holder="", iban="", bic="")
    page = payments_page(client, world.bob)
    assert f'id="bank-holder">{world.org_a.name}<' in page and 'id="bank-iban"' not in page
    assert 'id="bank-other-account">Bankgiro 5050-1055<' in page


@pytest.mark.usefixtures("stripe_off")
def test_without_bank_details_the_driver_is_told_to_ask_the_operator(client, world, alice_prepaid):
    Organization.objects.filter(pk=world.org_a.pk).update(email="billing@alpha.example", phone="+46 8 123 45")
    page = payments_page(client, world.alice)
    assert 'id="no-bank-details"' in page and "mailto:billing@alpha.example" in page and "tel:+46 8 123 45" in page
    assert 'id="bank-iban"' not in page
    assert f'id="payment-reference">{alice_prepaid.payment_reference}<' in page


# --- the app -----------------------------------------------------------------------------------------


def wallet(user) -> dict:
    api = APIClient()
    api.force_authenticate(User.objects.get(pk=user.pk))  # as a request has it: with the operator as saved
    response = api.get(reverse("api:wallet"))
    assert response.status_code == 200
    return response.json()


@pytest.mark.usefixtures("stripe_off")
def test_the_apps_wallet_gives_the_bank_transfer(world, bank_details, alice_prepaid):
    body = wallet(world.alice)
    assert body["bank_transfer"] == {
        "holder": "Alpha Kundreskontra AB",
        "iban": IBAN,
        "bic": "ESSESESS",
        "other_account": "Bankgiro 5050-1055",
        "reference": alice_prepaid.payment_reference,
    }
    assert body["top_up_available"] is False
    assert wallet(world.bob)["bank_transfer"]["reference"] == world.bob.customer_account.payment_reference


def test_the_apps_wallet_has_no_bank_transfer_but_the_operators_contacts_without_details(world, alice_prepaid):
    Organization.objects.filter(pk=world.org_a.pk).update(email="billing@alpha.example", phone="+46 8 123 45")
    body = wallet(world.alice)
    assert body["bank_transfer"] is None
    assert (body["operator_email"], body["operator_phone"]) == ("billing@alpha.example", "+46 8 123 45")


# --- the statement -----------------------------------------------------------------------------------


@pytest.mark.usefixtures("march")
def test_an_invoice_statement_says_how_to_pay_with_the_iban_and_the_reference(world, bank_details):
    account = CustomerAccount.objects.get(pk=world.alice.customer_account_id)  # with the operator as saved
    statement = statement_issue(customer_account=account, start=MARCH[0], end=MARCH[1])

    text = pdf_text(statement)

    assert "140.00 SEK" in text and "by bank transfer" in text
    assert "Alpha Kundreskontra AB" in text and IBAN_SHOWN in text and "ESSESESS" in text
    assert "Bankgiro 5050-1055" in text and f"Payment reference: {account.payment_reference}" in text
    assert statement.content["bank_transfer"]["reference"] == account.payment_reference


@pytest.mark.usefixtures("march")
def test_a_statement_without_bank_details_asks_for_the_statement_number(world):
    statement = statement_issue(customer_account=world.alice.customer_account, start=MARCH[0], end=MARCH[1])
    text = pdf_text(statement)
    assert "quoting statement number" in text and "Payment reference" not in text
    assert statement.content["bank_transfer"] is None


@pytest.mark.usefixtures("march")
def test_a_prepaid_accounts_statement_has_no_invoice_payment_instructions(world, bank_details):
    account = CustomerAccount.objects.get(pk=world.alice.customer_account_id)
    payment_method_set(customer_account=account, method=PaymentAccount.Method.WALLET)
    statement = statement_issue(customer_account=account, start=MARCH[0], end=MARCH[1])
    assert "Payment reference" not in pdf_text(statement)


# --- the operator's admin ----------------------------------------------------------------------------


def test_the_payment_account_admin_finds_an_account_by_its_reference(client, world):
    alice, bob = payment_account_of(world.alice.customer_account), payment_account_of(world.bob.customer_account)
    client.force_login(world.carol)
    changelist = reverse("admin:billing_paymentaccount_changelist")

    found = client.get(changelist, {"q": world.bob.customer_account.payment_reference}).context["cl"].result_list

    assert [obj.pk for obj in found] == [bob.pk] and alice.pk != bob.pk
    wrong = client.get(changelist, {"q": mistyped(payment_reference(987_654_321))}, follow=True)
    assert list(wrong.context["cl"].result_list) == []
    assert any("check digit does not match" in str(message) for message in wrong.context["messages"])
    change = client.get(reverse("admin:billing_paymentaccount_change", args=[bob.pk])).content.decode()
    assert world.bob.customer_account.payment_reference in change


def _top_up(client, payment_account, reference: str):
    url = reverse("admin:billing_paymentaccount_top_up", args=[payment_account.pk])
    form = client.get(url)
    assert payment_account.customer_account.payment_reference in form.content.decode()  # shown to compare with
    return client.post(
        url, {"key": form_key(form), "amount": "100.00", "method": LedgerEntry.Method.BANK, "reference": reference}
    )


def test_a_top_up_with_a_mistyped_or_another_accounts_reference_is_refused(client, world, alice_prepaid):
    payment_account = payment_account_of(alice_prepaid)
    own = alice_prepaid.payment_reference
    client.force_login(world.carol)

    for wrong in (mistyped(own), world.bob.customer_account.payment_reference):
        refused = _top_up(client, payment_account, wrong)
        assert refused.status_code == 200 and "reference" in refused.context["form"].errors, wrong
    assert not LedgerEntry.objects.exists()

    spaced = " ".join(own)
    assert _top_up(client, payment_account, spaced).status_code == 302
    assert _top_up(client, payment_account, "Swish 1234 from Alice").status_code == 302  # not a reference: taken
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.TOP_UP).count() == 2


def test_an_invoice_payment_may_quote_the_statement_number(client, world):
    payment_account = payment_account_of(make_account(world.org_a, "Fleet"))
    client.force_login(world.carol)
    url = reverse("admin:billing_paymentaccount_payment", args=[payment_account.pk])
    form = client.get(url)
    data = {"key": form_key(form), "amount": "10.00", "method": LedgerEntry.Method.BANK, "reference": "000123"}
    assert client.post(url, data).status_code == 302

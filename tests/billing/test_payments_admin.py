"""The operator admin for payments: accounts and the ledger per operator, booking by hand once per form."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, Permission
from django.urls import reverse
from django.utils import timezone

from accounts.roles import OPERATOR_GROUP_NAME
from billing.balances import account_balance, session_owed, terminal_references
from billing.ledger import payment_account_of, payment_method_set, payment_record, wallet_top_up
from billing.models import LedgerEntry, PaymentAccount
from billing.services import session_price_freeze, tariff_assignment_create
from tests.factories import make_account, make_driver, make_session, make_tag, make_tariff

pytestmark = pytest.mark.django_db

Method = LedgerEntry.Method
D = Decimal


@pytest.fixture
def priced(world):
    """Completes and prices a session on a card (alice's by default): 10 kWh at 4.00 SEK, so 40.00."""
    tariff_assignment_create(tariff=make_tariff(world.org_a, energy="4.00"))
    hours = iter(range(100, 0, -1))

    def session(card=None):
        session = make_session(
            world.cp_a.connectors.get(number=1),
            card or world.alice_card,
            energy_wh=10_000,
            started_at=timezone.now() - timedelta(hours=next(hours)),
        )
        session_price_freeze(session=session)
        return session

    return session


def url(name: str, *args) -> str:
    return reverse(f"admin:billing_{name}", args=args)


def account_of(user):
    return payment_account_of(user.customer_account)


def form_key(response) -> str:
    match = re.search(r'name="key" value="([0-9a-f]{32})"', response.content.decode())
    assert match, "the form carries a one-time key"
    return match.group(1)


# --- payment accounts --------------------------------------------------------------------------------


def test_staff_list_their_organizations_payment_accounts_with_balances(client, world, priced):
    priced()
    wallet_account = payment_method_set(
        customer_account=world.bob.customer_account, method=PaymentAccount.Method.WALLET
    )
    wallet_top_up(
        customer_account=world.bob.customer_account, amount="25.00", method=Method.BANK, reference="b", key="t"
    )
    beta = payment_account_of(make_account(world.org_b, "Beta Fleet"))
    client.force_login(world.carol)

    response = client.get(url("paymentaccount_changelist"))

    assert response.status_code == 200
    rows = {obj.pk: obj for obj in response.context["cl"].result_list}
    assert set(rows) == {account_of(world.alice).pk, wallet_account.pk}
    assert rows[account_of(world.alice).pk].owed_total == D("40.00")
    assert rows[wallet_account.pk].wallet_total == D("25.00")
    content = response.content.decode()
    assert "40.00 SEK" in content and "25.00 SEK" in content and "Beta Fleet" not in content
    assert beta.pk not in rows


def test_staff_of_another_organization_see_none_of_its_accounts(client, world):
    alice_account = account_of(world.alice)
    client.force_login(world.dave)

    assert list(client.get(url("paymentaccount_changelist")).context["cl"].result_list) == []
    change = client.get(url("paymentaccount_change", alice_account.pk))
    assert change.status_code == 302 and change["Location"] == reverse("admin:index")
    for name in ("paymentaccount_payment", "paymentaccount_top_up", "paymentaccount_wallet_refund"):
        assert client.get(url(name, alice_account.pk)).status_code == 404
        assert (
            client.post(
                url(name, alice_account.pk),
                {
                    "key": "a" * 32,
                    "amount": "10.00",
                    "method": Method.BANK,
                    "reference": "x",
                },
            ).status_code
            == 404
        )
    assert not LedgerEntry.objects.exists()


def test_accounts_are_found_by_name_and_email(client, world):
    account_of(world.alice), account_of(world.bob)
    client.force_login(world.carol)

    found = client.get(url("paymentaccount_changelist"), {"q": "alice@example"}).context["cl"].result_list
    assert [obj.customer_account for obj in found] == [world.alice.customer_account]
    by_billing_email = (
        client.get(url("paymentaccount_changelist"), {"q": world.bob.customer_account.billing_email})
        .context["cl"]
        .result_list
    )
    assert [obj.customer_account for obj in by_billing_email] == [world.bob.customer_account]


def test_staff_switch_an_account_to_a_wallet_with_a_minimum(client, world):
    payment_account = account_of(world.alice)
    client.force_login(world.carol)
    page = client.get(url("paymentaccount_change", payment_account.pk)).content.decode()
    for name in ("paymentaccount_payment", "paymentaccount_top_up", "paymentaccount_wallet_refund"):
        assert f'href="{url(name, payment_account.pk)}"' in page

    response = client.post(
        url("paymentaccount_change", payment_account.pk),
        {"method": PaymentAccount.Method.WALLET, "wallet_minimum": "20.00"},
    )

    assert response.status_code == 302
    payment_account.refresh_from_db()
    assert payment_account.method == PaymentAccount.Method.WALLET and payment_account.wallet_minimum == D("20.00")
    assert (
        client.post(
            url("paymentaccount_change", payment_account.pk),
            {"method": PaymentAccount.Method.WALLET, "wallet_minimum": "-1"},
        ).status_code
        == 200
    )
    payment_account.refresh_from_db()
    assert payment_account.wallet_minimum == D("20.00")


def test_staff_set_up_payment_for_their_own_customers_only(client, world):
    beta_account = make_account(world.org_b, "Beta Fleet")
    client.force_login(world.carol)

    refused = client.post(
        url("paymentaccount_add"),
        {
            "customer_account": beta_account.pk,
            "method": PaymentAccount.Method.WALLET,
            "wallet_minimum": "0",
        },
    )
    assert refused.status_code == 200 and "customer_account" in refused.context["adminform"].form.errors
    assert (
        client.post(
            url("paymentaccount_add"),
            {
                "customer_account": world.bob.customer_account.pk,
                "method": PaymentAccount.Method.WALLET,
                "wallet_minimum": "5.00",
            },
        ).status_code
        == 302
    )

    created = PaymentAccount.objects.get(customer_account=world.bob.customer_account)
    assert created.method == PaymentAccount.Method.WALLET and created.wallet_minimum == D("5.00")
    assert not PaymentAccount.objects.filter(customer_account=beta_account).exists()


def test_payment_accounts_cannot_be_deleted(client, world):
    payment_account = account_of(world.alice)
    for user in (world.carol, world.admin):
        client.force_login(user)
        assert client.post(url("paymentaccount_delete", payment_account.pk), {"post": "yes"}).status_code == 403
    assert PaymentAccount.objects.filter(pk=payment_account.pk).exists()


# --- booking by hand ----------------------------------------------------------------------------------


def test_an_invoice_payment_sent_twice_is_booked_once(client, world, priced):
    priced(), priced()
    payment_account = account_of(world.alice)
    client.force_login(world.carol)
    form = client.get(url("paymentaccount_payment", payment_account.pk))
    assert form.status_code == 200
    data = {"key": form_key(form), "amount": "50.00", "method": Method.BANK, "reference": "OCR 4711"}

    first = client.post(url("paymentaccount_payment", payment_account.pk), data, follow=True)
    second = client.post(url("paymentaccount_payment", payment_account.pk), data, follow=True)

    assert account_balance(world.alice.customer_account).owed == D("30.00")
    entries = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.PAYMENT)
    assert entries.count() == 2  # the first session in full, 10.00 of the second
    assert {entry.booked_by for entry in entries} == {world.carol} and {e.reference for e in entries} == {"OCR 4711"}
    assert "Booked a payment of 50.00 SEK." in first.content.decode()
    assert "nothing was booked again" in second.content.decode()
    assert form_key(client.get(url("paymentaccount_payment", payment_account.pk))) != data["key"]


def test_a_manual_top_up_pays_what_the_wallet_could_not_and_books_once(client, world, priced):
    payment_method_set(customer_account=world.alice.customer_account, method=PaymentAccount.Method.WALLET)
    session = priced()  # the empty wallet could not pay it
    payment_account = account_of(world.alice)
    client.force_login(world.carol)
    data = {
        "key": form_key(client.get(url("paymentaccount_top_up", payment_account.pk))),
        "amount": "100.00",
        "method": Method.OTHER,
        "reference": "cash at the desk",
    }

    for _attempt in range(2):
        assert client.post(url("paymentaccount_top_up", payment_account.pk), data).status_code == 302

    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.TOP_UP).count() == 1
    assert account_balance(world.alice.customer_account).wallet == D("60.00")
    assert session_owed(session.pk) == D("0.00")


def test_booking_errors_are_shown_on_the_form_and_nothing_is_booked(client, world):
    payment_account = account_of(world.alice)  # pays by invoice: no wallet
    client.force_login(world.carol)
    key = form_key(client.get(url("paymentaccount_top_up", payment_account.pk)))

    top_up = client.post(
        url("paymentaccount_top_up", payment_account.pk),
        {"key": key, "amount": "10.00", "method": Method.BANK, "reference": "r"},
    )
    assert top_up.status_code == 200
    assert "This account pays by invoice and has no prepaid wallet." in top_up.content.decode()
    assert form_key(top_up) == key  # a corrected post is still the same single booking

    payment_method_set(customer_account=world.alice.customer_account, method=PaymentAccount.Method.WALLET)
    wallet_top_up(
        customer_account=world.alice.customer_account, amount="5.00", method=Method.BANK, reference="r", key="t"
    )
    refund = client.post(
        url("paymentaccount_wallet_refund", payment_account.pk),
        {"key": key, "amount": "6.00", "method": Method.BANK, "reference": "back"},
    )
    assert refund.status_code == 200 and "The wallet holds only 5.00 SEK." in refund.content.decode()

    invalid = client.post(
        url("paymentaccount_payment", payment_account.pk),
        {"key": "not-a-key", "amount": "0", "method": "stripe", "reference": ""},
    )
    assert invalid.status_code == 200
    assert set(invalid.context["form"].errors) == {"key", "amount", "method", "reference"}
    assert LedgerEntry.objects.count() == 1  # the top-up above, by the service


def test_wallet_money_is_refunded_once(client, world):
    account = world.alice.customer_account
    payment_method_set(customer_account=account, method=PaymentAccount.Method.WALLET)
    wallet_top_up(customer_account=account, amount="30.00", method=Method.BANK, reference="in", key="t")
    payment_account = account_of(world.alice)
    client.force_login(world.carol)
    data = {
        "key": form_key(client.get(url("paymentaccount_wallet_refund", payment_account.pk))),
        "amount": "30.00",
        "method": Method.BANK,
        "reference": "paid back",
    }

    for _attempt in range(2):
        assert client.post(url("paymentaccount_wallet_refund", payment_account.pk), data).status_code == 302

    assert account_balance(account).wallet == D("0.00")
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.REFUND).count() == 1


def test_a_terminal_payment_is_booked_on_the_session_once(client, world, priced):
    session = priced()
    client.force_login(world.carol)
    lookup = client.get(url("ledgerentry_terminal_payment"), {"session": session.pk})
    assert lookup.status_code == 302 and lookup["Location"] == url("ledgerentry_terminal_payment_session", session.pk)
    form = client.get(lookup["Location"])
    assert form.status_code == 200 and form.context["form"].initial["amount"] == D("40.00")

    for _attempt in range(2):
        done = client.post(lookup["Location"], {"reference": "RCPT-77", "amount": "40.00"})
        assert done.status_code == 302

    assert terminal_references(session.pk) == ["RCPT-77"] and session_owed(session.pk) == D("0.00")
    assert LedgerEntry.objects.get(reference="RCPT-77").booked_by == world.carol
    refused = client.post(lookup["Location"], {"reference": "", "amount": "-1"})
    assert refused.status_code == 200 and set(refused.context["form"].errors) == {"reference", "amount"}


def test_a_terminal_reference_used_on_another_session_is_refused(client, world, priced):
    first, second = priced(), priced()
    client.force_login(world.carol)
    client.post(url("ledgerentry_terminal_payment_session", first.pk), {"reference": "RCPT-1", "amount": "40.00"})

    response = client.post(
        url("ledgerentry_terminal_payment_session", second.pk), {"reference": "RCPT-1", "amount": "40.00"}
    )

    assert response.status_code == 200 and "reference" in response.context["form"].errors
    assert session_owed(second.pk) == D("40.00")


def test_staff_cannot_book_a_terminal_payment_on_another_organizations_session(client, world, priced):
    session = priced()
    client.force_login(world.dave)

    assert client.get(url("ledgerentry_terminal_payment_session", session.pk)).status_code == 404
    assert (
        client.post(
            url("ledgerentry_terminal_payment_session", session.pk), {"reference": "RCPT-X", "amount": "40.00"}
        ).status_code
        == 404
    )
    assert terminal_references(session.pk) == []


def test_drivers_and_staff_without_booking_rights_cannot_book(client, world, priced):
    session = priced()
    payment_account = account_of(world.alice)
    client.force_login(world.alice)
    assert client.get(url("paymentaccount_payment", payment_account.pk)).status_code == 302  # to the login
    Group.objects.get(name=OPERATOR_GROUP_NAME).permissions.remove(
        *Permission.objects.filter(codename="change_paymentaccount")
    )
    client.force_login(world.carol)
    assert client.get(url("paymentaccount_payment", payment_account.pk)).status_code == 403
    assert (
        client.post(
            url("ledgerentry_terminal_payment_session", session.pk), {"reference": "R", "amount": "1.00"}
        ).status_code
        == 403
    )


# --- the ledger ------------------------------------------------------------------------------------------


def test_staff_see_only_their_organizations_ledger(client, world, priced):
    priced()
    beta_driver = make_driver(world.org_b, "erin@example.com")
    beta_card = make_tag(beta_driver.customer_account, beta_driver, "0BE0BE0B")
    tariff_assignment_create(tariff=make_tariff(world.org_b, energy="3.00"))
    beta_session = make_session(world.cp_b.connectors.get(number=1), beta_card, energy_wh=10_000)
    session_price_freeze(session=beta_session)
    beta_entry = LedgerEntry.objects.get(session=beta_session)

    for user, expected in ((world.carol, world.org_a), (world.dave, world.org_b)):
        client.force_login(user)
        shown = client.get(url("ledgerentry_changelist")).context["cl"].result_list
        assert shown and {entry.organization for entry in shown} == {expected}
    client.force_login(world.carol)
    assert client.get(url("ledgerentry_change", beta_entry.pk)).status_code == 302  # "does not exist"
    client.force_login(world.admin)
    assert len(client.get(url("ledgerentry_changelist")).context["cl"].result_list) == 2


def test_the_ledger_is_searched_by_reference_key_and_account_and_filtered(client, world, priced):
    priced()
    payment_record(
        customer_account=world.alice.customer_account,
        amount="40.00",
        method=Method.BANK,
        reference="OCR 4711",
        key="bank:abc",
    )
    client.force_login(world.carol)

    def found(**params):
        return {entry.kind for entry in client.get(url("ledgerentry_changelist"), params).context["cl"].result_list}

    assert found(q="OCR 4711") == {LedgerEntry.Kind.PAYMENT}
    assert found(q="bank:abc") == {LedgerEntry.Kind.PAYMENT}
    assert found(q=world.alice.customer_account.billing_email) == {LedgerEntry.Kind.CHARGE, LedgerEntry.Kind.PAYMENT}
    assert found(kind="charge") == {LedgerEntry.Kind.CHARGE}
    assert found(method="bank") == {LedgerEntry.Kind.PAYMENT}
    assert found(customer_account__id__exact=world.bob.customer_account_id) == set()


def test_ledger_entries_cannot_be_added_changed_or_deleted_by_anyone(client, world, priced):
    priced()
    entry = LedgerEntry.objects.get()
    for user in (world.carol, world.admin):
        client.force_login(user)
        assert client.get(url("ledgerentry_add")).status_code == 403
        view = client.get(url("ledgerentry_change", entry.pk))
        assert view.status_code == 200 and not view.context["has_change_permission"]
        assert client.post(url("ledgerentry_change", entry.pk), {"reference": "forged"}).status_code == 403
        assert client.post(url("ledgerentry_delete", entry.pk), {"post": "yes"}).status_code == 403
        changelist = client.get(url("ledgerentry_changelist"))
        assert "delete_selected" not in (
            changelist.context["action_form"].fields["action"].choices if changelist.context["action_form"] else []
        )
        assert client.post(
            url("ledgerentry_changelist"),
            {
                "action": "delete_selected",
                "_selected_action": [entry.pk],
                "post": "yes",
            },
        ).status_code in (200, 302)
    entry.refresh_from_db()
    assert entry.reference == "" and LedgerEntry.objects.count() == 1


# --- queries ---------------------------------------------------------------------------------------------


def test_the_changelists_read_a_bounded_number_of_queries(client, world, priced, django_assert_max_num_queries):
    for number in range(12):
        driver = make_driver(world.org_a, f"driver{number}@example.com")
        card = make_tag(driver.customer_account, driver, f"0C{number:06d}")
        payment_method_set(
            customer_account=driver.customer_account,
            method=PaymentAccount.Method.WALLET if number % 2 else PaymentAccount.Method.INVOICE,
        )
        priced(card=card)
    client.force_login(world.carol)

    with django_assert_max_num_queries(12):
        assert client.get(url("paymentaccount_changelist")).status_code == 200
    with django_assert_max_num_queries(12):
        assert client.get(url("ledgerentry_changelist")).status_code == 200

"""The driver's payments page: how their customer account pays, its balance and its ledger."""

import uuid
import zoneinfo

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from accounts.bank import bank_transfer_for
from billing.balances import account_balance, ledger_for_account
from billing.card_status import card_statuses_for_driver
from billing.models import PaymentAccount
from billing.quotes import money_display
from billing.selectors import organization_time_zone
from billing.stripe_payments import stripe_enabled

ENTRIES_PER_PAGE = 25
#: Amounts offered as one-click wallet top-ups, by currency (others: the default).
TOP_UP_CHOICES = {"SEK": (200, 500, 1000), "NOK": (200, 500, 1000), "DKK": (200, 500, 1000)}
DEFAULT_TOP_UP_CHOICES = (20, 50, 100)


def _payment_settings(customer_account) -> PaymentAccount:
    """The account's payment settings; an account nobody has set up pays by invoice (nothing is created)."""
    existing = PaymentAccount.objects.filter(customer_account=customer_account).first()
    return existing or PaymentAccount(customer_account=customer_account)


@login_required
@require_GET
def payments(request):
    account = request.user.customer_account if request.user.customer_account_id else None
    if account is None:
        return render(request, "billing/payments.html", {"account": None})
    payment_account = _payment_settings(account)
    balance = account_balance(account)
    is_wallet = payment_account.method == PaymentAccount.Method.WALLET
    with_stripe = stripe_enabled()
    page = Paginator(
        ledger_for_account(account).select_related("session__charge_point__site"), ENTRIES_PER_PAGE
    ).get_page(request.GET.get("page"))
    account_zone = zoneinfo.ZoneInfo(organization_time_zone(account.organization))
    for entry in page:
        site = entry.session.charge_point.site if entry.session else None
        entry.local_booked_at = timezone.localtime(entry.booked_at, site.tzinfo if site else account_zone)
        entry.amount_display = money_display(entry.amount, entry.currency)
    return render(
        request,
        "billing/payments.html",
        {
            "account": account,
            "payment_account": payment_account,
            "is_wallet": is_wallet,
            "balance": balance,
            "wallet_display": money_display(balance.wallet, balance.currency),
            "minimum_display": money_display(payment_account.wallet_minimum, balance.currency),
            "wallet_blocked": is_wallet and balance.wallet <= payment_account.wallet_minimum,
            "owed_display": money_display(abs(balance.owed), balance.currency),
            "page": page,
            "stripe_enabled": with_stripe,
            # An invoice is paid, and a wallet without Stripe topped up, by bank transfer that the operator books
            # by hand, finding the account by its payment reference; with no bank account entered, the page says
            # how to reach the operator.
            "show_bank_transfer": not is_wallet or not with_stripe,
            "bank_transfer": bank_transfer_for(account),
            "operator": account.organization,
            "payment_reference": account.payment_reference,
            "card_statuses": card_statuses_for_driver(user=request.user, at=timezone.now()),
            "top_up_choices": TOP_UP_CHOICES.get(balance.currency, DEFAULT_TOP_UP_CHOICES),
            # One-time keys: a double click opens one checkout.
            "top_up_choice_key": uuid.uuid4().hex,
            "top_up_key": uuid.uuid4().hex,
            "pay_key": uuid.uuid4().hex,
        },
    )

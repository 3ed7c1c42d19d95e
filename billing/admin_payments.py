"""Operator admin for payments: how each customer account pays, the ledger, and booking money by hand.

Payment accounts are changed through ``payment_method_set``; money is booked only through the
ledger services, from forms carrying a one-time key made when the form is shown, so a double
submit books once. Ledger entries are looked at, never added, changed or deleted here.
Operator staff see and book on their own organization's accounts and sessions only (anything
else is a 404). Booking needs the permission to change payment accounts.
"""

import uuid

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import RegexValidator
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.admin import PaymentReferenceSearchMixin
from accounts.bank import payment_reference_account_id, reference_digits
from billing.balances import account_balance, account_total_subquery, session_owed, terminal_references
from billing.ledger import payment_method_set, payment_record, terminal_payment_record, wallet_refund, wallet_top_up
from billing.models import LedgerEntry, PaymentAccount
from billing.quotes import money_display
from core import money
from core.admin_scoping import ImmutableAdminMixin, OrganizationScopedAdmin, user_organization
from sessions_app.models import ChargingSession

Method = LedgerEntry.Method
BY_HAND = [(Method.BANK, Method.BANK.label), (Method.OTHER, Method.OTHER.label)]


# --- forms ---------------------------------------------------------------------------------------------


def _amount_field() -> forms.DecimalField:
    """An amount above zero as money columns hold it; the ledger refuses what the currency cannot pay (half a yen)."""
    return forms.DecimalField(
        label=_("amount"), max_digits=12, decimal_places=money.STORED_DECIMAL_PLACES, min_value=money.STORED_QUANTUM
    )


class BookingForm(forms.Form):
    """Money booked by hand. ``key`` is made when the form is shown and comes back with the post."""

    key = forms.CharField(widget=forms.HiddenInput, validators=[RegexValidator(r"^[0-9a-f]{32}$")])
    amount = _amount_field()
    method = forms.ChoiceField(label=_("paid by"), choices=BY_HAND, initial=Method.BANK)
    reference = forms.CharField(
        label=_("reference"),
        max_length=255,
        help_text=_("The bank transfer's reference, a receipt number or what it was."),
    )

    def __init__(self, *args, payment_reference: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.payment_reference = payment_reference

    @classmethod
    def fresh(cls, **initial):
        return cls(initial={"key": uuid.uuid4().hex, **initial})

    def clean(self):
        """With ``payment_reference`` (a wallet top-up), a bank transfer's reference that is digits only is taken
        for a payment reference: a mistyped one, or another account's, is refused instead of booked here."""
        data = super().clean()
        reference = data.get("reference", "")
        if self.payment_reference is None or data.get("method") != Method.BANK or reference_digits(reference) is None:
            return data
        try:
            payment_reference_account_id(reference)
        except ValidationError as exc:
            self.add_error("reference", exc)
        else:
            if reference_digits(reference) != self.payment_reference:
                self.add_error(
                    "reference",
                    gettext("%(reference)s is not this account's payment reference, %(own)s.")
                    % {"reference": reference, "own": self.payment_reference},
                )
        return data


class TerminalPaymentForm(forms.Form):
    reference = forms.CharField(
        label=_("terminal reference"),
        max_length=255,
        help_text=_("The receipt's reference: the same reference at a station books once."),
    )
    amount = _amount_field()


class SessionLookupForm(forms.Form):
    session = forms.IntegerField(label=_("session number"), min_value=1)


class PaymentAccountForm(forms.ModelForm):
    class Meta:
        model = PaymentAccount
        fields = ["customer_account", "method", "wallet_minimum"]


# --- payment accounts ----------------------------------------------------------------------------------


@admin.register(PaymentAccount)
class PaymentAccountAdmin(PaymentReferenceSearchMixin, OrganizationScopedAdmin):
    organization_path = "customer_account__organization"
    payment_reference_path = "customer_account_id"
    form = PaymentAccountForm
    list_display = ["customer_account", "organization", "method", "wallet_minimum", "wallet_balance", "owed"]
    list_filter = ["method", ("customer_account__organization", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["customer_account__organization"]
    search_fields = ["customer_account__name", "customer_account__billing_email", "customer_account__drivers__email"]
    autocomplete_fields = ["customer_account"]
    ordering = ["customer_account__name"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(wallet_total=account_total_subquery("wallet"), owed_total=account_total_subquery("receivable"))
        )

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["customer_account", "method", "wallet_minimum"]
        return ["customer_account", "payment_reference", "method", "wallet_minimum", "balance", "created_at"]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else ["customer_account", "payment_reference", "balance", "created_at"]

    @admin.display(description=_("payment reference"))
    def payment_reference(self, obj):
        return obj.customer_account.payment_reference

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("operator"), ordering="customer_account__organization__name")
    def organization(self, obj):
        return obj.customer_account.organization

    @admin.display(description=_("wallet"), ordering="wallet_total")
    def wallet_balance(self, obj):
        return money_display(obj.wallet_total, obj.customer_account.organization.currency)

    @admin.display(description=_("owed"), ordering="owed_total")
    def owed(self, obj):
        return money_display(obj.owed_total, obj.customer_account.organization.currency)

    @admin.display(description=_("balance"))
    def balance(self, obj):
        balance = account_balance(obj.customer_account)
        return format_html(
            "{}: {} · {}: {}",
            gettext("owed (negative: in the customer's favour)"),
            money_display(balance.owed, balance.currency),
            gettext("wallet"),
            money_display(balance.wallet, balance.currency),
        )

    def save_model(self, request, obj, form, change):
        if not request.user.is_superuser and not self.in_organization(obj, user_organization(request)):
            raise PermissionDenied
        saved = payment_method_set(
            customer_account=obj.customer_account, method=obj.method, wallet_minimum=obj.wallet_minimum
        )
        obj.pk, obj.created_at = saved.pk, saved.created_at
        obj._state.adding = False

    # Booking money by hand on one account.

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/payment/", wrap(self.payment_view), name="billing_paymentaccount_payment"),
            path("<int:pk>/top-up/", wrap(self.top_up_view), name="billing_paymentaccount_top_up"),
            path("<int:pk>/wallet-refund/", wrap(self.wallet_refund_view), name="billing_paymentaccount_wallet_refund"),
            *super().get_urls(),
        ]

    def payment_view(self, request, pk):
        return self._booking_view(
            request,
            pk,
            book=payment_record,
            title=gettext("Record an invoice payment"),
            done=gettext("Booked a payment of %(amount)s."),
        )

    def top_up_view(self, request, pk):
        return self._booking_view(
            request,
            pk,
            book=wallet_top_up,
            title=gettext("Top up the wallet"),
            done=gettext("Booked a wallet top-up of %(amount)s."),
            check_payment_reference=True,
        )

    def wallet_refund_view(self, request, pk):
        return self._booking_view(
            request,
            pk,
            book=wallet_refund,
            title=gettext("Refund wallet money"),
            done=gettext("Booked a wallet refund of %(amount)s."),
        )

    def _booking_view(self, request, pk, *, book, title, done, check_payment_reference=False):
        payment_account = get_object_or_404(self.get_queryset(request), pk=pk)
        if not self.has_change_permission(request, payment_account):
            raise PermissionDenied
        account = payment_account.customer_account
        currency = account.organization.currency
        if request.method == "POST":
            form = BookingForm(
                request.POST, payment_reference=account.payment_reference if check_payment_reference else None
            )
        else:
            form = BookingForm.fresh()
        if form.is_valid():
            data = form.cleaned_data
            key = f"admin:{account.pk}:{data['key']}"
            submitted_before = LedgerEntry.objects.filter(idempotency_key=key).exists()
            try:
                book(
                    customer_account=account,
                    amount=data["amount"],
                    method=data["method"],
                    reference=data["reference"],
                    key=key,
                    user=request.user,
                )
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                if submitted_before:
                    self.message_user(
                        request, gettext("This form was sent before: nothing was booked again."), messages.WARNING
                    )
                else:
                    self.message_user(
                        request, done % {"amount": money_display(data["amount"], currency)}, messages.SUCCESS
                    )
                return redirect(reverse("admin:billing_paymentaccount_change", args=[payment_account.pk]))
        balance = account_balance(account)
        return TemplateResponse(
            request,
            "admin/billing/booking_form.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "title": title,
                "form": form,
                "original": payment_account,
                "subject": account,
                "facts": [
                    (gettext("Payment method"), payment_account.get_method_display()),
                    (gettext("Payment reference"), account.payment_reference),
                    (gettext("Owed"), money_display(balance.owed, balance.currency)),
                    (gettext("Wallet"), money_display(balance.wallet, balance.currency)),
                    (gettext("Currency"), currency),
                ],
            },
        )


# --- the ledger ----------------------------------------------------------------------------------------


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ImmutableAdminMixin, OrganizationScopedAdmin):
    """Every money movement: read-only for everyone."""

    organization_path = "organization"
    list_display = [
        "booked_at",
        "customer_account",
        "kind",
        "method",
        "receivable",
        "wallet",
        "currency",
        "session",
        "reference",
        "booked_by",
    ]
    list_filter = ["kind", "method", "booked_at", ("organization", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["customer_account", "session__charge_point", "booked_by"]
    search_fields = [
        "reference",
        "idempotency_key",
        "customer_account__name",
        "customer_account__billing_email",
        "=session__id",
    ]
    date_hierarchy = "booked_at"
    show_full_result_count = False
    fields = [
        "booked_at",
        "organization",
        "customer_account",
        "session",
        "credit_note",
        "kind",
        "method",
        "currency",
        "receivable",
        "wallet",
        "reference",
        "note",
        "idempotency_key",
        "line",
        "booked_by",
    ]

    def may_book(self, request) -> bool:
        """Booking a terminal payment takes the same right as booking on a payment account."""
        if not request.user.is_superuser and user_organization(request) is None:
            return False
        return request.user.has_perm("billing.change_paymentaccount")

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {**(extra_context or {}), "may_book": self.may_book(request)})

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("terminal-payment/", wrap(self.terminal_lookup_view), name="billing_ledgerentry_terminal_payment"),
            path(
                "terminal-payment/<int:session_id>/",
                wrap(self.terminal_payment_view),
                name="billing_ledgerentry_terminal_payment_session",
            ),
            *super().get_urls(),
        ]

    def _sessions(self, request):
        sessions = ChargingSession.objects.select_related("charge_point__organization", "customer_account")
        if request.user.is_superuser:
            return sessions
        return sessions.filter(charge_point__organization=user_organization(request))

    def terminal_lookup_view(self, request):
        """Which session was paid at the terminal: its number leads to the booking form."""
        if not self.may_book(request):
            raise PermissionDenied
        form = SessionLookupForm(request.GET or None)
        if form.is_valid():
            return redirect(
                reverse("admin:billing_ledgerentry_terminal_payment_session", args=[form.cleaned_data["session"]])
            )
        return TemplateResponse(
            request,
            "admin/billing/booking_form.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "form": form,
                "method": "get",
                "title": gettext("Record a terminal payment"),
                "submit_label": gettext("Next"),
            },
        )

    def terminal_payment_view(self, request, session_id):
        if not self.may_book(request):
            raise PermissionDenied
        session = get_object_or_404(self._sessions(request), pk=session_id)
        owed = session_owed(session.pk)
        references = terminal_references(session.pk)
        if request.method == "POST":
            form = TerminalPaymentForm(request.POST)
        else:
            form = TerminalPaymentForm(initial={"amount": owed} if owed > 0 else None)
        if form.is_valid():
            reference, amount = form.cleaned_data["reference"].strip(), form.cleaned_data["amount"]
            try:
                entries = terminal_payment_record(
                    session=session, reference=reference, amount=amount, user=request.user
                )
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                if entries and entries[0].session_id != session.pk:
                    form.add_error(
                        "reference",
                        gettext(
                            "This reference was booked on session %(session)s at this station already.",
                        )
                        % {"session": entries[0].session_id},
                    )
                else:
                    if reference in references:
                        self.message_user(
                            request,
                            gettext("This terminal payment was booked before: nothing was booked again."),
                            messages.WARNING,
                        )
                    else:
                        self.message_user(
                            request,
                            gettext("Booked a terminal payment of %(amount)s.")
                            % {"amount": money_display(amount, entries[0].currency)},
                            messages.SUCCESS,
                        )
                    changelist = reverse("admin:billing_ledgerentry_changelist")
                    return redirect(f"{changelist}?session__id__exact={session.pk}")
        currency = session.charge_point.organization.currency
        return TemplateResponse(
            request,
            "admin/billing/booking_form.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "form": form,
                "title": gettext("Record a terminal payment"),
                "subject": session,
                "facts": [
                    (gettext("Station"), session.charge_point),
                    (gettext("Customer account"), session.customer_account or "–"),
                    (gettext("Owed"), money_display(owed, currency)),
                    (gettext("Terminal references"), ", ".join(references) or "–"),
                ],
            },
        )

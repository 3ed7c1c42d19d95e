"""Operator admin for statements: the list with each one's delivery, its PDF and CSV, sending again, and producing one.

An issued statement never changes, so nothing here edits or deletes one: the list and each
statement's page are read-only. "Send again" resets its delivery (``statement_resend``) and
queues the email after the commit. An operator produces a statement for any period of a
customer account of theirs through a form carrying a one-time key made when it is shown, so a
double submit produces one statement. Staff see and produce their own organization's
statements only (anything else is a 404).

Producing needs the permission to add statements; sending again the permission to change them.
"""

import re
import uuid
import zoneinfo
from datetime import date, datetime, time, timedelta
from functools import partial
from typing import cast

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import RegexValidator
from django.db import transaction
from django.db.models import Q
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from accounts.models import CustomerAccount
from billing import tasks
from billing.models import Statement
from billing.quotes import money_display
from billing.selectors import organization_time_zone
from billing.statement_csv import statement_csv_filename, statement_table
from billing.statement_views import statement_pdf_response, statement_period_label
from billing.statements import statement_create, statement_render, statement_resend
from core.admin_scoping import OrganizationScopedAdmin, user_organization
from core.exports import csv_response
from core.timeutil import month_period

#: Months offered on the form: this many before the current one.
MONTHS_OFFERED = 24
#: The longest period a statement produced on demand may cover.
LONGEST_PERIOD = timedelta(days=366)
#: How long a form's one-time key is remembered (a form older than this produces again).
FORM_KEY_SECONDS = 24 * 3600
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def _parse_month(value: str) -> date | None:
    match = _MONTH.match(value or "")
    if not match or not 1 <= int(match.group(2)) <= 12:
        return None
    return date(int(match.group(1)), int(match.group(2)), 1)


def _months_before(today: date, count: int) -> list[date]:
    months, month = [], today.replace(day=1)
    for _index in range(count):
        month = (month - timedelta(days=1)).replace(day=1)
        months.append(month)
    return months


# --- the list ------------------------------------------------------------------------------------------


class PeriodFilter(admin.SimpleListFilter):
    """Statements whose period starts in a calendar month (each in its statement's time zone)."""

    title = _("period")
    parameter_name = "month"

    def lookups(self, request, model_admin):
        months = set()
        for start, zone in (
            model_admin.get_queryset(request).order_by().values_list("period_start", "time_zone").distinct()
        ):
            months.add(start.astimezone(zoneinfo.ZoneInfo(zone)).date().replace(day=1))
        return [(f"{month:%Y-%m}", date_format(month, "YEAR_MONTH_FORMAT")) for month in sorted(months, reverse=True)]

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        month = _parse_month(self.value())
        if month is None:
            return queryset.none()
        within = Q(pk__in=[])
        for zone in queryset.order_by().values_list("time_zone", flat=True).distinct():
            start, end = month_period(month, zone)
            within |= Q(time_zone=zone, period_start__gte=start, period_start__lt=end)
        return queryset.filter(within)


@admin.register(Statement)
class StatementAdmin(OrganizationScopedAdmin):
    """Statements as issued: looked at, downloaded and sent again, never changed or deleted."""

    organization_path = "organization"
    list_display = [
        "number_display",
        "customer_account",
        "period",
        "kind",
        "status",
        "delivery_state",
        "sent_at",
        "total",
        "amount_due_display",
        "pdf_link",
    ]
    list_display_links = ["number_display"]
    list_filter = ["delivery", "status", "kind", PeriodFilter, ("organization", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["organization", "customer_account"]
    search_fields = ["customer_account__name", "customer_account__billing_email", "email_to"]
    search_help_text = _("A statement number (000042 or 42), or the customer's name or billing email.")
    show_full_result_count = False
    actions = ["send_again"]
    fields = readonly_fields = (
        "organization",
        "customer_account",
        "number_display",
        "kind",
        "period",
        "time_zone",
        "language",
        "currency",
        "session_count",
        "total",
        "amount_due_display",
        "status",
        "pdf_link",
        "created_at",
        "created_by",
        "issued_at",
        "email_to",
        "delivery_state",
        "delivery_changed_at",
        "sent_at",
    )

    def get_queryset(self, request):
        # The snapshot can be large; only a statement's own page reads it.
        return super().get_queryset(request).defer("content")

    def get_search_results(self, request, queryset, search_term):
        """A term of digits is a statement number too, as printed (``000042``) or not."""
        found, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        numbers = [int(term) for term in search_term.split() if term.isdigit() and len(term) <= 9]
        if numbers:
            found |= queryset.filter(number__in=numbers)
        return found, may_have_duplicates

    def has_add_permission(self, request):
        return False  # produced through the form below, never typed in

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def _in_scope(self, request) -> bool:
        return request.user.is_superuser or user_organization(request) is not None

    def has_resend_permission(self, request) -> bool:
        return self._in_scope(request) and request.user.has_perm("billing.change_statement")

    def may_produce(self, request) -> bool:
        return self._in_scope(request) and request.user.has_perm("billing.add_statement")

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {**(extra_context or {}), "may_produce": self.may_produce(request)})

    # Columns and fields.

    @admin.display(description=_("number"), ordering="number")
    def number_display(self, obj):
        return obj.display_number

    @admin.display(description=_("period"), ordering="period_start")
    def period(self, obj):
        return statement_period_label(obj)

    @admin.display(description=_("sessions"))
    def session_count(self, obj):
        return len(obj.content.get("sessions", ()))

    @admin.display(description=_("sessions incl. VAT"), ordering="gross_total")
    def total(self, obj):
        return money_display(obj.gross_total, obj.currency)

    @admin.display(description=_("amount due"), ordering="amount_due")
    def amount_due_display(self, obj):
        return money_display(obj.amount_due, obj.currency)

    @admin.display(description=_("delivery"), ordering="delivery")
    def delivery_state(self, obj):
        if obj.delivery == Statement.Delivery.PENDING and not obj.delivery_attempts:
            label = gettext("Not sent") if obj.email_to else gettext("Not sent: no billing email")
        else:
            label = obj.get_delivery_display()
        if obj.delivery_attempts:
            label = ngettext(
                "%(state)s (%(count)d attempt)", "%(state)s (%(count)d attempts)", obj.delivery_attempts
            ) % {"state": label, "count": obj.delivery_attempts}
        if obj.delivery_error:
            return format_html(
                '{}<br><span class="help" title="{}">{}</span>', label, obj.delivery_error, obj.delivery_error[:120]
            )
        return label

    @admin.display(description=_("PDF"))
    def pdf_link(self, obj):
        if obj.status != Statement.Status.ISSUED or not obj.pdf:
            return "–"
        return format_html(
            '<a href="{}">{}</a> · <a href="{}">CSV</a>',
            reverse("admin:billing_statement_pdf", args=[obj.pk]),
            gettext("Download"),
            reverse("admin:billing_statement_csv", args=[obj.pk]),
        )

    # Sending again.

    @admin.action(description=_("Send again"), permissions=["resend"])
    def send_again(self, request, queryset):
        queued, skipped = 0, 0
        for statement in queryset.select_related("customer_account"):
            if not statement.customer_account.billing_email or not statement_resend(statement=statement):
                skipped += 1
                continue
            transaction.on_commit(partial(tasks.statement_email.delay, statement.pk))
            queued += 1
        if queued:
            self.message_user(
                request,
                ngettext(
                    "%(count)d statement will be sent again.",
                    "%(count)d statements will be sent again.",
                    queued,
                )
                % {"count": queued},
                messages.SUCCESS,
            )
        if skipped:
            self.message_user(
                request,
                ngettext(
                    "%(count)d statement was not sent again: not issued yet, being sent right now, or its customer "
                    "account has no billing email.",
                    "%(count)d statements were not sent again: not issued yet, being sent right now, or their customer "
                    "account has no billing email.",
                    skipped,
                )
                % {"count": skipped},
                messages.WARNING,
            )

    # The PDF and producing one.

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("produce/", wrap(self.produce_view), name="billing_statement_produce"),
            path("<int:pk>/pdf/", wrap(self.pdf_view), name="billing_statement_pdf"),
            path("<int:pk>/csv/", wrap(self.csv_view), name="billing_statement_csv"),
            *super().get_urls(),
        ]

    def pdf_view(self, request, pk):
        statement = get_object_or_404(
            self.get_queryset(request).filter(status=Statement.Status.ISSUED).exclude(pdf=""), pk=pk
        )
        if not self.has_view_permission(request, statement):
            raise PermissionDenied
        return statement_pdf_response(statement)

    def csv_view(self, request, pk):
        """The statement's lines (a partner's settlement: its CDRs) and totals as CSV, from its snapshot."""
        statement = get_object_or_404(self.get_queryset(request).filter(status=Statement.Status.ISSUED), pk=pk)
        if not self.has_view_permission(request, statement):
            raise PermissionDenied
        headers, rows = statement_table(statement)
        return csv_response(filename=statement_csv_filename(statement), headers=headers, rows=rows)

    def _accounts(self, request):
        accounts = CustomerAccount.objects.select_related("organization").order_by("name", "pk")
        if request.user.is_superuser:
            return accounts
        return accounts.filter(organization=user_organization(request))

    def produce_view(self, request):
        if not self.may_produce(request):
            raise PermissionDenied
        organization = user_organization(request)
        time_zone = organization_time_zone(organization) if organization else settings.TIME_ZONE
        accounts = self._accounts(request)
        if request.method == "POST":
            form = StatementProduceForm(request.POST, accounts=accounts, time_zone=time_zone)
        else:
            form = StatementProduceForm.fresh(
                accounts=accounts, time_zone=time_zone, customer_account=request.GET.get("customer_account")
            )
        if form.is_valid():
            done = self._produce(request, form)
            if done is not None:
                return done
        return TemplateResponse(
            request,
            "admin/billing/statement_produce.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "form": form,
                "title": gettext("Produce a statement"),
            },
        )

    def _produce(self, request, form):
        """Produce the statement once per form key; None (errors added to the form) when it cannot be."""
        data = form.cleaned_data
        account, (start, end) = data["customer_account"], data["period"]
        key = f"billing:statement-produce:{request.user.pk}:{data['key']}"
        if not cache.add(key, 0, FORM_KEY_SECONDS):
            earlier = cache.get(key)
            self.message_user(
                request, gettext("This form was sent before: no second statement was produced."), messages.WARNING
            )
            if earlier:
                statement = Statement.objects.filter(pk=earlier).first()
                if statement is not None and statement.status != Statement.Status.ISSUED:
                    statement_render(statement=statement)  # the first submit died before its PDF was made
                return redirect(reverse("admin:billing_statement_change", args=[earlier]))
            return redirect(reverse("admin:billing_statement_changelist"))
        try:
            statement = statement_create(
                customer_account=account, start=start, end=end, kind=Statement.Kind.ON_DEMAND, user=request.user
            )
        except ValidationError as exc:
            cache.delete(key)
            form.add_error(None, exc)
            return None
        except Exception:
            cache.delete(key)
            raise
        cache.set(key, statement.pk, FORM_KEY_SECONDS)
        # Numbered and remembered under the key: a resubmit renders this one rather than numbering another.
        statement = statement_render(statement=statement)
        if data["email"] and statement.email_to:
            transaction.on_commit(partial(tasks.statement_email.delay, statement.pk))
            done = gettext("Statement %(number)s is produced and will be emailed to %(email)s.")
        else:
            done = gettext("Statement %(number)s is produced; it was not emailed.")
        self.message_user(
            request, done % {"number": statement.display_number, "email": statement.email_to}, messages.SUCCESS
        )
        return redirect(reverse("admin:billing_statement_change", args=[statement.pk]))


class StatementProduceForm(forms.Form):
    """A statement of one customer account for a month or for days, in the operator's time zone."""

    key = forms.CharField(widget=forms.HiddenInput, validators=[RegexValidator(r"^[0-9a-f]{32}$")])
    customer_account = forms.ModelChoiceField(label=_("customer account"), queryset=CustomerAccount.objects.none())
    month = forms.ChoiceField(label=_("month"), required=False)
    start = forms.DateField(label=_("from"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label=_("to (inclusive)"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    email = forms.BooleanField(label=_("email it to the customer's billing email"), required=False, initial=True)

    def __init__(self, *args, accounts, time_zone: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.time_zone = time_zone
        cast(forms.ModelChoiceField, self.fields["customer_account"]).queryset = accounts
        today = timezone.now().astimezone(zoneinfo.ZoneInfo(time_zone)).date()
        cast(forms.ChoiceField, self.fields["month"]).choices = [("", "–")] + [
            (f"{month:%Y-%m}", date_format(month, "YEAR_MONTH_FORMAT"))
            for month in _months_before(today, MONTHS_OFFERED)
        ]
        self.fields["month"].help_text = _("A whole month; or leave it empty and give the days below.")
        self.fields["start"].help_text = gettext("Days in the operator's time zone (%(zone)s).") % {"zone": time_zone}

    @classmethod
    def fresh(cls, *, customer_account=None, **kwargs):
        initial = {"key": uuid.uuid4().hex}
        if customer_account:
            initial["customer_account"] = customer_account
        return cls(initial=initial, **kwargs)

    def clean(self):
        cleaned = super().clean()
        account = cleaned.get("customer_account")
        month, start, end = cleaned.get("month"), cleaned.get("start"), cleaned.get("end")
        if account is None or self.errors:
            return cleaned
        time_zone = organization_time_zone(account.organization)
        zone = zoneinfo.ZoneInfo(time_zone)
        if month and (start or end):
            raise ValidationError(_("Choose a month or the days, not both."), code="month_and_days")
        if month:
            cleaned["period"] = month_period(_parse_month(month), time_zone)
        else:
            if not start or not end:
                raise ValidationError(_("Choose a month, or give both the first and the last day."), code="no_period")
            if end < start:
                self.add_error("end", ValidationError(_("The last day comes before the first."), code="order"))
                return cleaned
            if end > timezone.now().astimezone(zone).date():
                self.add_error("end", ValidationError(_("The period cannot end in the future."), code="future"))
                return cleaned
            if end - start >= LONGEST_PERIOD:
                self.add_error("end", ValidationError(_("A statement covers at most a year."), code="too_long"))
                return cleaned
            cleaned["period"] = (
                datetime.combine(start, time(), zone),
                datetime.combine(end + timedelta(days=1), time(), zone),
            )
        if cleaned.get("email") and not account.billing_email:
            self.add_error(
                "email",
                ValidationError(
                    _("This customer account has no billing email: produce it without emailing."), code="no_email"
                ),
            )
        return cleaned

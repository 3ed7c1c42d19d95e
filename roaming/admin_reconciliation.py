"""Admin page: CDRs sent against sessions priced, per roaming partner and period (``roaming.reconciliation``), as a
table, CSV or XLSX.

The period form is the billing reports' (operator staff always get their own organization, superusers choose one),
with a partner to look at alone. Who may open it: superusers, and operator staff who may view CDRs. The page is added
in front of the admin site's URLs as ``admin:roaming_cdr_reconciliation`` and listed first under "Roaming" on the
admin index, when this module is imported (``RoamingConfig.ready``).
"""

from typing import cast

from django import forms
from django.contrib import admin
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from billing.admin_reports import ReportForm, ReportPage, report_allowed, report_page_view, rows_per_gap
from core.admin_pages import admin_app_list_add, admin_page_entry, admin_urls_add
from roaming.models import Partner
from roaming.reconciliation import PartnerReconciliation, cdr_reconciliation

PERMISSION = "roaming.view_cdr"


class CdrReconciliationForm(ReportForm):
    partner = forms.ModelChoiceField(
        Partner.objects.none(), label=_("partner"), required=False, help_text=_("Empty: every partner.")
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, user=user, **kwargs)
        partners = Partner.objects.order_by("name", "pk")
        if not user.is_superuser:
            partners = partners.filter(organization=getattr(user, "organization", None))
        cast(forms.ModelChoiceField, self.fields["partner"]).queryset = partners


COLUMNS = [
    _("Partner"),
    _("Sessions priced"),
    _("Priced excl. VAT"),
    _("Priced incl. VAT"),
    _("CDRs made"),
    _("CDRs acknowledged"),
    _("CDRs excl. VAT"),
    _("CDRs incl. VAT"),
    _("Gap"),
    _("Session"),
    _("CDR"),
    _("Session start"),
    _("Session price incl. VAT"),
    _("CDR total incl. VAT"),
    _("Detail"),
]


def _head(result: PartnerReconciliation) -> list:
    return [
        str(result.partner),
        result.sessions_priced,
        result.priced_net,
        result.priced_gross,
        result.cdrs_made,
        result.cdrs_acknowledged,
        result.cdr_net,
        result.cdr_gross,
    ]


def _gap(gap) -> list:
    return [
        gap.label,
        gap.session_id,
        gap.cdr_id,
        gap.started_at.isoformat(),
        "" if gap.priced_gross is None else gap.priced_gross,
        "" if gap.cdr_gross is None else gap.cdr_gross,
        gap.detail,
    ]


def reconciliation_rows(report: list[PartnerReconciliation]) -> list[list]:
    """One row per gap with its partner's figures; a partner without gaps gets one row with empty gap columns."""
    return rows_per_gap(report, _head, _gap, gap_width=7)


CDR_RECONCILIATION = ReportPage(
    title=_("CDR reconciliation"),
    template="admin/roaming/cdr_reconciliation.html",
    filename="cdr-reconciliation",
    columns=COLUMNS,
    build=lambda *, organization, start, end, cleaned_data, **_other: cdr_reconciliation(
        organization=organization, start=start, end=end, partner=cleaned_data.get("partner")
    ),
    rows=reconciliation_rows,
    form_class=CdrReconciliationForm,
    permission=PERMISSION,
    app_label="roaming",
)


def _urls() -> list[URLPattern]:
    return [
        path(
            "roaming/reports/cdr-reconciliation/",
            admin.site.admin_view(report_page_view),
            {"page": CDR_RECONCILIATION},
            "roaming_cdr_reconciliation",
        )
    ]


def _entries(request) -> list[dict]:
    if not report_allowed(request.user, PERMISSION):
        return []
    return [
        admin_page_entry(
            gettext("CDR reconciliation"), "cdr_reconciliation", reverse("admin:roaming_cdr_reconciliation")
        )
    ]


admin_urls_add("roaming_cdr_reconciliation", _urls)
admin_app_list_add("roaming_cdr_reconciliation", "roaming", _entries)

"""The driver's statements page: their customer account's issued statements, each as a PDF to download.

Only issued statements are listed or served (one still being produced has no PDF yet), and only
the driver's own account's: anything else is a 404, so ids tell nothing.
"""

import zoneinfo
from datetime import date, timedelta
from decimal import Decimal

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, render
from django.utils.formats import date_format
from django.utils.translation import gettext
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET

from billing.models import Statement
from billing.quotes import money_display
from billing.statement_content import is_settlement

STATEMENTS_PER_PAGE = 24


def statement_local_dates(statement: Statement) -> tuple[date, date]:
    """The first and the last day a statement covers, in its own time zone."""
    zone = zoneinfo.ZoneInfo(statement.time_zone)
    first = statement.period_start.astimezone(zone).date()
    last = (statement.period_end.astimezone(zone) - timedelta(microseconds=1)).date()
    return first, last


def statement_period_label(statement: Statement) -> str:
    """``March 2026`` for a monthly statement, ``2026-03-05 – 2026-03-20`` for another period."""
    first, last = statement_local_dates(statement)
    if statement.kind == Statement.Kind.MONTHLY:
        return date_format(first, "YEAR_MONTH_FORMAT")
    return f"{date_format(first, 'SHORT_DATE_FORMAT')} – {date_format(last, 'SHORT_DATE_FORMAT')}"


def statement_filename(statement: Statement) -> str:
    """The name a downloaded PDF gets, e.g. ``statement-000042.pdf`` (``settlement-000042.pdf`` for a roaming
    partner's), in the reader's language."""
    if is_settlement(statement.content):
        return gettext("settlement-%(number)s.pdf") % {"number": statement.display_number}
    return gettext("statement-%(number)s.pdf") % {"number": statement.display_number}


def statement_pdf_response(statement: Statement) -> FileResponse:
    """The statement's stored PDF as a download (404 when the file has gone from MEDIA_ROOT)."""
    try:
        pdf = statement.pdf.open("rb")
    except FileNotFoundError as exc:
        raise Http404("The statement's PDF is missing.") from exc
    return FileResponse(pdf, as_attachment=True, filename=statement_filename(statement), content_type="application/pdf")


def _issued_statements(user):
    if not user.customer_account_id:
        return Statement.objects.none()
    return Statement.objects.filter(customer_account_id=user.customer_account_id, status=Statement.Status.ISSUED)


def _row(statement: Statement) -> dict:
    totals = statement.content.get("totals", {})
    paid = Decimal(totals.get("paid", 0)) + Decimal(totals.get("paid_from_wallet", 0))
    return {
        "statement": statement,
        "period": statement_period_label(statement),
        "sessions": len(statement.content.get("sessions", ())),
        "total": money_display(statement.gross_total, statement.currency),
        "paid": money_display(paid, statement.currency),
        "amount_due": statement.amount_due,
        "due": money_display(abs(statement.amount_due), statement.currency),
    }


@login_required
@require_GET
def statements(request):
    account = request.user.customer_account if request.user.customer_account_id else None
    page = Paginator(
        _issued_statements(request.user).order_by("-period_start", "-number"), STATEMENTS_PER_PAGE
    ).get_page(request.GET.get("page"))
    return render(
        request,
        "billing/statements.html",
        {
            "account": account,
            "page": page,
            "rows": [_row(statement) for statement in page],
        },
    )


@login_required
@require_GET
@cache_control(private=True, no_store=True)
def statement_pdf(request, pk: int):
    return statement_pdf_response(get_object_or_404(_issued_statements(request.user).exclude(pdf=""), pk=pk))

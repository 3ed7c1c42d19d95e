"""The driver's charging history: the filtered list with totals and monthly charts, one session, CSV and PDF.

Only the driver's own sessions (``sessions_for_driver``) are listed, shown or exported; another
driver's session is a 404.
"""

import functools
from urllib.parse import urlencode

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from core.exports import csv_writer
from reporting import history, history_pdf
from reporting.charts import bar_chart, line_chart
from sessions_app import signed_meter
from sessions_app.models import ChargingSession


class HistoryFilterForm(forms.Form):
    """The history's filters, from the query string; an invalid one is ignored (and shown as an error)."""

    date_from = forms.DateField(
        label=gettext_lazy("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(label=gettext_lazy("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    station = forms.TypedChoiceField(label=gettext_lazy("Station"), required=False, coerce=int, empty_value=None)
    card = forms.TypedChoiceField(label=gettext_lazy("Card"), required=False, coerce=int, empty_value=None)

    def __init__(self, *args, stations, cards, **kwargs):
        super().__init__(*args, **kwargs)
        everything = [("", _("All"))]
        self.fields["station"].choices = everything + [
            (cp.pk, f"{cp} · {cp.site}" if cp.site_id else str(cp)) for cp in stations
        ]
        self.fields["card"].choices = everything + [
            (card.pk, f"{card.uid} · {card.label}" if card.label else card.uid) for card in cards
        ]

    def clean(self):
        data = super().clean()
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            self.add_error("date_to", _("The last day is before the first."))
        return data

    def filters(self) -> history.HistoryFilters:
        self.is_valid()
        data = self.cleaned_data
        return history.HistoryFilters(
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
            station_id=data.get("station"),
            card_id=data.get("card"),
        )


def _query(filters: history.HistoryFilters, **extra) -> str:
    params = {
        "date_from": filters.date_from,
        "date_to": filters.date_to,
        "station": filters.station_id,
        "card": filters.card_id,
        **extra,
    }
    return urlencode({key: value for key, value in params.items() if value not in (None, "")})


def _read(request):
    """The driver's stations and cards, the filter form and the filtered sessions."""
    stations = history.history_stations(user=request.user)
    cards = list(history.history_cards(user=request.user))
    form = HistoryFilterForm(request.GET or None, stations=stations, cards=cards)
    filters = form.filters() if request.GET else history.HistoryFilters()
    sessions = history.history_queryset(user=request.user, filters=filters, stations=stations)
    return stations, form, filters, sessions


def _drivers_only(view):
    """Logged-in drivers, GET only; operator staff have the admin instead."""

    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        if request.user.is_staff:
            return redirect("admin:index")
        return view(request, *args, **kwargs)

    return login_required(require_GET(wrapped))


@_drivers_only
def history_list(request):
    stations, form, filters, sessions = _read(request)
    now = timezone.now()
    zone = history.driver_time_zone(user=request.user)
    page = Paginator(sessions, history.PAGE_SIZE).get_page(request.GET.get("page"))
    months = history.history_months(
        history.history_queryset(user=request.user, filters=filters, stations=stations, period=False),
        stations=stations,
        time_zone=zone,
        now=now,
    )
    labels = [month["label"] for month in months["months"]]
    spend_charts = [
        {
            "currency": currency,
            "chart": bar_chart(
                labels,
                [
                    spend["amount"]
                    for month in months["months"]
                    for spend in month["spend"]
                    if spend["currency"] == currency
                ],
                title=_("Spend per month (%(currency)s)") % {"currency": currency},
                unit=currency,
            ),
        }
        for currency in months["currencies"]
    ]
    presets = [
        {
            **preset,
            "query": _query(
                history.HistoryFilters(preset["date_from"], preset["date_to"], filters.station_id, filters.card_id)
            ),
        }
        for preset in history.period_presets(today=history.local_today(zone, now=now))
    ]
    return render(
        request,
        "reporting/history.html",
        {
            "form": form,
            "page": page,
            "rows": history.history_rows(page.object_list, now=now),
            "totals": history.history_totals(sessions),
            "months": months["months"],
            "currencies": months["currencies"],
            "energy_chart": bar_chart(
                labels,
                [month["energy_wh"] / 1000 for month in months["months"]],
                title=_("Energy per month (kWh)"),
                unit="kWh",
            ),
            "spend_charts": spend_charts,
            "presets": presets,
            "filter_query": _query(filters),
            "filtered": filters != history.HistoryFilters(),
        },
    )


@_drivers_only
def history_session(request, pk: int):
    detail = history.session_detail(user=request.user, pk=pk, now=timezone.now())
    if detail is None:
        raise Http404
    points = detail.curve["points"]
    chart = None
    if points:
        every = -(-len(points) // 8)  # about eight times along the axis, not one per point
        chart = line_chart(
            [point["at"].strftime("%H:%M") if i % every == 0 else "" for i, point in enumerate(points)],
            {
                _("Energy (kWh)"): [point["energy_kwh"] for point in points],
                _("Power (kW)"): [point["power_kw"] for point in points],
            },
            title=_("Energy and power over the session"),
            unit="kWh / kW",
        )
    return render(
        request,
        "reporting/session_detail.html",
        {
            "session": detail.session,
            "row": detail.row,
            "curve": detail.curve,
            "chart": chart,
            "price": detail.price,
            "signed_values": signed_meter.session_signed_values(detail.session),
        },
    )


CSV_COLUMNS = (
    "session",
    "state",
    "date",
    "start",
    "end",
    "time_zone",
    "station",
    "site",
    "address",
    "connector",
    "card",
    "duration_min",
    "energy_kwh",
    "average_power_kw",
    "cost",
    "currency",
    "cost_estimated",
    "payment",
)


def _plain(value) -> str:
    return "" if value is None else f"{value:f}"


def csv_values(row: history.HistoryRow) -> list:
    """A row as the CSV holds it: ISO times with their offset, decimal numbers with a point."""
    return [
        row.id,
        row.state,
        row.date.isoformat(),
        row.started_at.isoformat(),
        row.stopped_at.isoformat() if row.stopped_at else "",
        row.time_zone,
        row.station,
        row.site,
        row.address,
        row.connector if row.connector is not None else "",
        row.card,
        _plain(row.duration_minutes),
        _plain(row.energy_kwh),
        _plain(row.average_power_kw),
        _plain(row.cost),
        row.currency,
        "yes" if row.cost_estimated else "",
        "; ".join(row.payment),
    ]


class _Echo:
    def write(self, value):
        return value


@_drivers_only
def history_export_csv(request):
    _stations, _form, _filters, sessions = _read(request)
    totals = history.history_totals(sessions)
    now = timezone.now()
    writer = csv_writer(_Echo())

    def lines():
        yield writer.writerow(CSV_COLUMNS)
        for row in history.history_rows_all(sessions, now=now):
            yield writer.writerow(csv_values(row))
        yield writer.writerow([])
        yield writer.writerow(["total_sessions", totals.sessions])
        yield writer.writerow(["total_energy_kwh", _plain(totals.energy_kwh)])
        yield writer.writerow(["total_duration_min", _plain(totals.duration_minutes)])
        for currency, amount in totals.costs:
            yield writer.writerow(["total_cost", f"{amount:f}", currency])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="charging-history.csv"'
    return response


def _signed_values_csv(sessions, filename: str) -> StreamingHttpResponse:
    """The signed meter values of ``sessions`` as the chargers sent them, with each charger's registered public
    key: what transparency software (the S.A.F.E. Transparenzsoftware, for OCMF) takes to check them."""
    writer = csv_writer(_Echo())

    def lines():
        yield writer.writerow(signed_meter.EXPORT_COLUMNS)
        for row in signed_meter.signed_values_export_rows(sessions):
            yield writer.writerow(row)

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@_drivers_only
def history_signed_values_csv(request):
    """The signed meter values of the sessions the history's filters select."""
    _stations, _form, _filters, sessions = _read(request)
    return _signed_values_csv(sessions, "signed-meter-values.csv")


@_drivers_only
def history_session_signed_values_csv(request, pk: int):
    session = history.history_session(user=request.user, pk=pk)
    if session is None:
        raise Http404
    return _signed_values_csv(
        ChargingSession.objects.filter(pk=session.pk), f"session-{session.pk}-signed-meter-values.csv"
    )


@_drivers_only
def history_export_pdf(request):
    _stations, _form, filters, sessions = _read(request)
    now = timezone.now()
    pdf = history_pdf.history_pdf(
        rows=history.history_rows(sessions, now=now),  # one query for the sessions, one for their payments
        totals=history.history_totals(sessions),
        context={"filters": filters, "driver": request.user, "now": now},
        request=request,
    )
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = 'attachment; filename="charging-history.pdf"'
    return response

"""Drivers' charging history: reads for the history page, the session page and their exports.

Everything starts from ``sessions_for_driver``, which decides what a driver may see. Times are
shown in the zone of each session's site (periods are site-local days too); energy is integer Wh;
money is ``Decimal`` in the currency of the frozen price. How a session was paid comes from the
ledger: its payments (wallet, terminal, card online, bank transfer) and what it still owes.
"""

import bisect
import zoneinfo
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import cast

from django.conf import settings
from django.db.models import Count, DurationField, ExpressionWrapper, F, Q, QuerySet, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone
from django.utils.formats import date_format, number_format
from django.utils.translation import gettext as _

from accounts.models import IdTag, User
from billing.balances import ZERO, terminal_references
from billing.models import CreditNote, LedgerEntry, PaymentAccount, SessionPrice
from billing.quotes import money_display, session_cost_estimate
from billing.selectors import organization_time_zone
from core import money
from core.timeutil import months_back, status_at
from sessions_app.models import ChargePoint, ChargingSession, MeterValue
from sessions_app.selectors import POWER_IMPORT, session_live_figures, sessions_for_driver
from sessions_app.services import ENERGY_REGISTER

PAGE_SIZE = 25
CHART_MONTHS = 12
#: A session's curve is drawn with at most this many points, however long it ran.
MAX_CURVE_POINTS = 300
EXPORT_CHUNK = 500

Kind, Method = LedgerEntry.Kind, LedgerEntry.Method
#: How a session was paid, in the order shown; ``invoice``/``owed``: still owed (by invoice, or by an empty wallet).
PAYMENT_ORDER = ("terminal", "wallet", "stripe", "bank", "other", "invoice", "owed", "credited")


def payment_label(code: str) -> str:
    return {
        "terminal": _("Terminal"),
        "wallet": _("Wallet"),
        "stripe": _("Card online"),
        "bank": _("Bank transfer"),
        "other": _("Other"),
        "invoice": _("Invoice (owed)"),
        "owed": _("Owed"),
        "credited": _("Credited"),
    }[code]


def _quantize(amount, currency: str) -> Decimal:
    """A summed amount in the currency's minor unit (SQLite sums decimals as floats), never -0."""
    return money.quantize(money.stored_amount(amount), currency)


def _zone_name(charge_point: ChargePoint) -> str:
    return charge_point.site.time_zone if charge_point.site else settings.TIME_ZONE


def _address(charge_point: ChargePoint) -> str:
    site = charge_point.site
    if site is None:
        return ""
    return ", ".join(part for part in (site.street, f"{site.postal_code} {site.city}".strip()) if part)


# --- Filters ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryFilters:
    """Which sessions to show: started on a site-local day in [date_from, date_to], at a station, with a card."""

    date_from: date | None = None
    date_to: date | None = None
    station_id: int | None = None
    card_id: int | None = None


def history_stations(*, user: User) -> list[ChargePoint]:
    """The stations the driver charged at (with their sites), by name: the station filter's choices."""
    used = sessions_for_driver(user=user).order_by().values("charge_point_id")
    return sorted(
        ChargePoint.objects.filter(pk__in=used).select_related("site"),
        key=lambda cp: (cp.site.name if cp.site else "", str(cp)),
    )


def history_cards(*, user: User) -> QuerySet[IdTag]:
    """The driver's own cards: the card filter's choices."""
    return IdTag.objects.filter(owner=user).order_by("uid")


def driver_time_zone(*, user: User) -> str:
    """The zone of the driver's operator (for "this month" and the chart's months), else the project's."""
    account = user.customer_account if user.customer_account_id else None
    return organization_time_zone(account.organization) if account else settings.TIME_ZONE


def _in_zone(zone: str) -> Q:
    """Sessions whose station keeps ``zone``'s time (a station without a site keeps the project's)."""
    match = Q(charge_point__site__time_zone=zone)
    if zone == settings.TIME_ZONE:
        match |= Q(charge_point__site__isnull=True)
    return match


def _zones(stations: Iterable[ChargePoint]) -> list[str]:
    """The time zones of the driver's stations (each of their sessions is at one of them)."""
    return sorted({_zone_name(cp) for cp in stations})


def _local_midnight(day: date, zone: str) -> datetime:
    return datetime.combine(day, time.min, tzinfo=zoneinfo.ZoneInfo(zone))


def _period_q(date_from: date | None, date_to: date | None, zones: list[str]) -> Q:
    """Started within the local days [date_from, date_to] of each session's own site."""
    if date_from is None and date_to is None:
        return Q()
    any_zone = Q(pk__in=[])
    for zone in zones:
        part = _in_zone(zone)
        if date_from is not None:
            part &= Q(started_at__gte=_local_midnight(date_from, zone))
        if date_to is not None:
            part &= Q(started_at__lt=_local_midnight(date_to + timedelta(days=1), zone))
        any_zone |= part
    return any_zone


def history_queryset(
    *, user: User, filters: HistoryFilters, stations: list[ChargePoint] | None = None, period: bool = True
) -> QuerySet[ChargingSession]:
    """The driver's sessions matching ``filters``, newest first; ``period=False`` ignores the dates.

    ``stations`` are the driver's stations (``history_stations``), passed in when already read.
    """
    sessions = sessions_for_driver(user=user).select_related("price")
    if filters.station_id is not None:
        sessions = sessions.filter(charge_point_id=filters.station_id)
    if filters.card_id is not None:
        sessions = sessions.filter(id_tag_id=filters.card_id)
    if period and (filters.date_from is not None or filters.date_to is not None):
        stations = history_stations(user=user) if stations is None else stations
        sessions = sessions.filter(_period_q(filters.date_from, filters.date_to, _zones(stations)))
    return sessions.order_by("-started_at", "-pk")


def period_presets(*, today: date) -> list[dict]:
    """This month, last month and this year as (label, first day, last day)."""
    month_start = today.replace(day=1)
    last_month_end = month_start - timedelta(days=1)
    return [
        {"key": "this_month", "label": _("This month"), "date_from": month_start, "date_to": today},
        {
            "key": "last_month",
            "label": _("Last month"),
            "date_from": last_month_end.replace(day=1),
            "date_to": last_month_end,
        },
        {"key": "this_year", "label": _("This year"), "date_from": today.replace(month=1, day=1), "date_to": today},
    ]


# --- Rows -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryRow:
    """One session as the history shows and exports it. Times are in the site's zone."""

    id: int
    state: str
    started_at: datetime
    stopped_at: datetime | None
    time_zone: str
    station: str
    site: str
    address: str
    connector: int | None
    card: str
    card_label: str
    duration: timedelta | None  # so far, for a running session
    energy_wh: int | None  # so far, for a running session
    average_power_kw: Decimal | None
    cost: Decimal | None  # frozen price incl. VAT; the estimate so far for a running session
    currency: str
    cost_estimated: bool
    payment: tuple[str, ...] = field(default=())

    @property
    def running(self) -> bool:
        return self.state == ChargingSession.State.ACTIVE

    @property
    def date(self) -> date:
        return self.started_at.date()

    @property
    def cost_display(self) -> str:
        if self.cost is None:
            return _("running") if self.running else "–"
        shown = money_display(self.cost, self.currency)
        return _("%(amount)s so far") % {"amount": shown} if self.cost_estimated else shown

    @property
    def duration_minutes(self) -> Decimal | None:
        return minutes(self.duration) if self.duration is not None else None

    @property
    def energy_kwh(self) -> Decimal | None:
        return kwh(self.energy_wh) if self.energy_wh is not None else None

    @property
    def payment_display(self) -> str:
        return ", ".join(payment_label(code) for code in self.payment) or "–"


def minutes(duration: timedelta) -> Decimal:
    """A duration in minutes, to the hundredth."""
    return (Decimal(str(duration.total_seconds())) / 60).quantize(Decimal("0.01"), ROUND_HALF_UP)


def kwh(energy_wh: int) -> Decimal:
    return (Decimal(energy_wh) / 1000).quantize(Decimal("0.001"))


def average_power_kw(energy_wh: int | None, duration: timedelta | None) -> Decimal | None:
    """Energy over duration, in kW to two decimals; None without either."""
    if energy_wh is None or not duration or duration.total_seconds() <= 0:
        return None
    watts = Decimal(energy_wh) * 3600 / Decimal(str(duration.total_seconds()))
    return (watts / 1000).quantize(Decimal("0.01"), ROUND_HALF_UP)


def session_payments(session_ids: list[int]) -> dict[int, tuple[str, ...]]:
    """How each session was paid, from its ledger entries (one query, plus one for accounts owing money).

    Payment methods in order; then ``invoice`` (owed, on a monthly invoice) or ``owed`` (owed by a wallet
    that could not pay), when the session still owes money; ``credited`` when credit notes cleared it.
    """
    methods: dict[int, set[str]] = defaultdict(set)
    owed: dict[int, Decimal] = defaultdict(lambda: ZERO)
    credited: set[int] = set()
    accounts: dict[int, int | None] = {}
    for session_id, kind, method, receivable, account_id in (
        LedgerEntry.objects.filter(session_id__in=session_ids)
        .order_by()
        .values_list("session_id", "kind", "method", "receivable", "customer_account_id")
    ):
        owed[session_id] += receivable
        accounts[session_id] = account_id
        if kind == Kind.PAYMENT and method:
            methods[session_id].add(method)
        elif kind == Kind.CREDIT_NOTE:
            credited.add(session_id)
    owing = {sid for sid, amount in owed.items() if amount > Decimal("0.005")}
    wallet_accounts = (
        set(
            PaymentAccount.objects.filter(
                customer_account_id__in={accounts[sid] for sid in owing} - {None}, method=PaymentAccount.Method.WALLET
            ).values_list("customer_account_id", flat=True)
        )
        if owing
        else set()
    )
    result = {}
    for session_id in accounts:
        codes = set(methods[session_id])
        if session_id in owing:
            codes.add("owed" if accounts[session_id] in wallet_accounts else "invoice")
        elif not codes and session_id in credited:
            codes.add("credited")
        result[session_id] = tuple(code for code in PAYMENT_ORDER if code in codes)
    return result


def history_rows(sessions: Iterable[ChargingSession], *, now: datetime) -> list[HistoryRow]:
    """Rows for sessions read with ``history_queryset`` (stations, sites, cards and prices loaded).

    One ledger query for all; a running session adds its live figures and cost estimate.
    """
    sessions = list(sessions)
    payments = session_payments([s.pk for s in sessions])
    rows = []
    for session in sessions:
        cp = session.charge_point
        zone = zoneinfo.ZoneInfo(_zone_name(cp))
        price = getattr(session, "price", None)
        running = session.state == ChargingSession.State.ACTIVE
        energy_wh, duration, cost, currency, estimated = session.energy_wh, session.duration, None, "", False
        if price is not None:
            cost, currency = price.gross_total, price.currency
        if running:
            live = session_live_figures(session=session, now=now)
            energy_wh, duration = live["energy_wh"], live["duration"]
            estimate = session_cost_estimate(session=session, now=now)
            if estimate is not None:
                cost, currency, estimated = estimate["gross"], estimate["currency"], True
        tag = session.id_tag
        rows.append(
            HistoryRow(
                id=session.pk,
                state=session.state,
                started_at=session.started_at.astimezone(zone),
                stopped_at=session.stopped_at.astimezone(zone) if session.stopped_at else None,
                time_zone=_zone_name(cp),
                station=str(cp),
                site=cp.site.name if cp.site else "",
                address=_address(cp),
                connector=session.connector.number if session.connector else None,
                card=tag.uid if tag else session.id_tag_uid,
                card_label=tag.label if tag else "",
                duration=duration,
                energy_wh=energy_wh,
                average_power_kw=average_power_kw(energy_wh, duration),
                cost=cost,
                currency=currency,
                cost_estimated=estimated,
                payment=payments.get(session.pk, ()),
            )
        )
    return rows


def history_rows_all(sessions: QuerySet[ChargingSession], *, now: datetime) -> Iterator[HistoryRow]:
    """Every row of a filtered history, read in chunks (for exports)."""
    chunk: list[ChargingSession] = []
    for session in sessions.iterator(chunk_size=EXPORT_CHUNK):
        chunk.append(session)
        if len(chunk) == EXPORT_CHUNK:
            yield from history_rows(chunk, now=now)
            chunk = []
    if chunk:
        yield from history_rows(chunk, now=now)


# --- Totals and months --------------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryTotals:
    sessions: int
    energy_wh: int  # of completed sessions
    duration: timedelta  # of completed sessions
    costs: tuple[tuple[str, Decimal], ...]  # (currency, frozen prices incl. VAT), by currency

    @property
    def energy_kwh(self) -> Decimal:
        return kwh(self.energy_wh)

    @property
    def duration_minutes(self) -> Decimal:
        return minutes(self.duration)

    @property
    def costs_display(self) -> str:
        return ", ".join(money_display(amount, currency) for currency, amount in self.costs) or "–"


_DURATION = ExpressionWrapper(F("stopped_at") - F("started_at"), output_field=DurationField())


def history_totals(sessions: QuerySet[ChargingSession]) -> HistoryTotals:
    """Sessions, energy, duration and cost of a filtered set (two queries)."""
    plain = sessions.order_by()
    figures = plain.aggregate(
        sessions=Count("pk"),
        energy=Sum("energy_wh", filter=Q(state=ChargingSession.State.COMPLETED)),
        duration=Sum(_DURATION, filter=Q(state=ChargingSession.State.COMPLETED)),
    )
    costs = (
        plain.filter(price__isnull=False)
        .values("price__currency")
        .annotate(total=Sum("price__gross_total"))
        .order_by("price__currency")
    )
    return HistoryTotals(
        sessions=figures["sessions"],
        energy_wh=int(figures["energy"] or 0),
        duration=figures["duration"] or timedelta(0),
        costs=tuple((row["price__currency"], _quantize(row["total"], row["price__currency"])) for row in costs),
    )


def history_months(
    sessions: QuerySet[ChargingSession],
    *,
    stations: list[ChargePoint],
    time_zone: str,
    now: datetime,
    months: int = CHART_MONTHS,
) -> dict:
    """Energy (completed sessions) and spend (frozen prices) per site-local month, the last ``months``.

    The months are the driver's (``time_zone``); each session falls in the month of its own site's
    clock. One query per time zone among the driver's stations.
    """
    today = now.astimezone(zoneinfo.ZoneInfo(time_zone)).date()
    starts = months_back(today, months)[::-1]
    energy = {month: 0 for month in starts}
    count = {month: 0 for month in starts}
    spend: dict[str, dict[date, Decimal]] = {}
    plain = sessions.order_by()
    for zone in _zones(stations):
        rows = (
            plain.filter(_in_zone(zone), started_at__gte=_local_midnight(starts[0], zone))
            .annotate(month=TruncMonth("started_at", tzinfo=zoneinfo.ZoneInfo(zone)))
            .values("month", "price__currency")
            .annotate(
                sessions=Count("pk"),
                energy=Sum("energy_wh", filter=Q(state=ChargingSession.State.COMPLETED)),
                spend=Sum("price__gross_total"),
            )
        )
        for row in rows:
            month = date(row["month"].year, row["month"].month, 1)
            if month not in energy:  # a later month than the driver's "now" (another zone's new year)
                continue
            energy[month] += int(row["energy"] or 0)
            count[month] += row["sessions"]
            currency = row["price__currency"]
            if currency:
                per_month = spend.setdefault(currency, {m: ZERO for m in starts})
                per_month[month] += Decimal(str(row["spend"] or 0))
    return {
        "months": [
            {
                "month": month,
                "label": date_format(month, "M Y"),
                "sessions": count[month],
                "energy_wh": energy[month],
                "spend": [
                    {
                        "currency": currency,
                        "amount": _quantize(per_month[month], currency),
                        "display": money_display(_quantize(per_month[month], currency), currency),
                    }
                    for currency, per_month in sorted(spend.items())
                ],
            }
            for month in starts
        ],
        "currencies": sorted(spend),
    }


# --- One session ------------------------------------------------------------------------------------


def history_session(*, user: User, pk: int) -> ChargingSession | None:
    """The driver's own session ``pk`` (None for anyone else's)."""
    return sessions_for_driver(user=user).select_related("price").filter(pk=pk).first()


_TO_BASE = {"Wh": Decimal(1), "kWh": Decimal(1000), "W": Decimal(1), "kW": Decimal(1000)}


def measurand_readings(measurand: str, rows: list[tuple]) -> list[tuple[datetime, Decimal]]:
    """(time, value in Wh or W) of one measurand: the all-phase values, else the phases summed per time."""
    mine = [
        (at, phase, value * _TO_BASE[unit]) for m, at, phase, value, unit in rows if m == measurand and unit in _TO_BASE
    ]
    totals = [(at, value) for at, phase, value in mine if phase == ""]
    if not totals:
        summed: dict[datetime, Decimal] = defaultdict(Decimal)
        for at, phase, value in mine:
            if phase in ("L1", "L2", "L3", "L1-N", "L2-N", "L3-N"):
                summed[at] += value
        totals = sorted(summed.items())
    seen: dict[datetime, Decimal] = {}
    for at, value in totals:
        seen.setdefault(at, value)  # the first of equal times counts
    return sorted(seen.items())


def session_curve(session: ChargingSession, *, now: datetime, max_points: int = MAX_CURVE_POINTS) -> dict:
    """Energy since start (kWh) and power (kW) over the session, on an even time grid of at most ``max_points``.

    Energy at a grid time is the newest register reading at or before it, less the meter at start; power
    is the mean of the readings since the previous grid time, else the last one before. Readings in kWh
    or kW count as 1000 Wh or W. Empty when the session has no such readings.
    """
    rows = list(
        MeterValue.objects.filter(session=session, measurand__in=(ENERGY_REGISTER, POWER_IMPORT))
        .order_by("timestamp", "pk")
        .values_list("measurand", "timestamp", "phase", "value", "unit")
    )
    energy = measurand_readings(ENERGY_REGISTER, rows)
    power = measurand_readings(POWER_IMPORT, rows)
    if not energy and not power:
        return {"points": []}
    start = session.started_at
    last_reading = max(r[-1][0] for r in (energy, power) if r)
    end = max(session.stopped_at or min(now, last_reading), last_reading)
    if end <= start:
        end = start + timedelta(minutes=1)
    distinct = len({at for at, _v in energy} | {at for at, _v in power})
    count = max(2, min(max_points, distinct))
    step = (end - start) / (count - 1)
    grid = [start + step * i for i in range(count - 1)] + [end]  # the last exactly at the end
    power_times = [at for at, _v in power]
    zone = zoneinfo.ZoneInfo(_zone_name(session.charge_point))
    points, previous, last_power = [], None, Decimal(0)
    for at in grid:
        register = status_at(energy, at)
        energy_wh = max(Decimal(0), register - session.meter_start_wh) if register is not None else Decimal(0)
        lo = bisect.bisect_right(power_times, previous) if previous is not None else 0
        hi = bisect.bisect_right(power_times, at)
        if hi > lo:
            last_power = sum((value for _at, value in power[lo:hi]), Decimal(0)) / (hi - lo)
        elif hi == 0:
            last_power = Decimal(0)
        points.append(
            {
                "at": at.astimezone(zone),
                "energy_kwh": (energy_wh / 1000).quantize(Decimal("0.001"), ROUND_HALF_UP),
                "power_kw": (last_power / 1000).quantize(Decimal("0.01"), ROUND_HALF_UP),
            }
        )
        previous = at
    return {"points": points, "has_energy": bool(energy), "has_power": bool(power)}


_UNITS = {"ENERGY": "kWh", "TIME": "h", "PARKING_TIME": "h", "FLAT": ""}


def component_label(component: str) -> str:
    return {
        "ENERGY": _("Energy"),
        "TIME": _("Charging time"),
        "PARKING_TIME": _("Parking"),
        "FLAT": _("Start fee"),
    }.get(component, component)


def _unit_price_display(price: Decimal, currency: str) -> str:
    """A unit price with the currency's decimals, or more when it has them (``0.1234 EUR``)."""
    places = max(money.minor_unit(currency), -cast(int, price.normalize().as_tuple().exponent))  # a finite price
    return f"{number_format(price, decimal_pos=places)} {currency}"


def session_price_details(session: ChargingSession) -> dict | None:
    """The frozen price's lines (net), its net/VAT/gross totals, its credit notes and what is left to pay."""
    price: SessionPrice | None = getattr(session, "price", None)
    if price is None:
        return None
    zone = zoneinfo.ZoneInfo(_zone_name(session.charge_point))
    currency = price.currency
    lines = [
        {
            "component": line["component"],
            "label": component_label(line["component"]),
            "starts_at": datetime.fromisoformat(line["starts_at"]).astimezone(zone),
            "ends_at": datetime.fromisoformat(line["ends_at"]).astimezone(zone),
            "quantity": Decimal(line["quantity"]),
            "unit": _UNITS.get(line["component"], ""),
            "quantity_display": f"{Decimal(line['quantity']).normalize():f}",
            "unit_price": Decimal(line["unit_price"]),
            "amount": Decimal(line["net_amount"]),
            "unit_price_display": _unit_price_display(Decimal(line["unit_price"]), currency),
            "amount_display": money_display(Decimal(line["net_amount"]), currency),
        }
        for line in price.breakdown
    ]
    notes = list(CreditNote.objects.filter(session=session).order_by("created_at", "pk"))
    credited = sum((note.gross_amount for note in notes), ZERO)
    return {
        "price": price,
        "currency": currency,
        "lines": lines,
        "vat_percent": (price.vat_rate * 100).quantize(Decimal("0.01")).normalize(),
        "net_display": money_display(price.net_total, currency),
        "adjustment_display": money_display(price.adjustment, currency) if price.adjustment else "",
        "vat_display": money_display(price.vat_amount, currency),
        "gross_display": money_display(price.gross_total, currency),
        "credit_notes": [
            {
                "note": note,
                "issued_at": note.created_at.astimezone(zone),
                "net_display": money_display(note.net_amount, currency),
                "vat_display": money_display(note.vat_amount, currency),
                "gross_display": money_display(note.gross_amount, currency),
            }
            for note in notes
        ],
        "after_credit": price.gross_total - credited,
        "after_credit_display": money_display(price.gross_total - credited, currency),
        "terminal_references": terminal_references(session.pk),
    }


def local_today(time_zone: str, *, now: datetime | None = None) -> date:
    """Today in ``time_zone`` (the driver's, for the period presets)."""
    return (now or timezone.now()).astimezone(zoneinfo.ZoneInfo(time_zone)).date()


@dataclass(frozen=True)
class SessionDetail:
    """One of the driver's sessions as its page and the app show it."""

    session: ChargingSession
    row: HistoryRow
    curve: dict
    price: dict | None


def session_detail(*, user: User, pk: int, now: datetime) -> SessionDetail | None:
    """The driver's own session ``pk`` with its history row, curve and price breakdown (None for anyone else's)."""
    session = history_session(user=user, pk=pk)
    if session is None:
        return None
    return SessionDetail(
        session=session,
        row=history_rows([session], now=now)[0],
        curve=session_curve(session, now=now),
        price=session_price_details(session),
    )

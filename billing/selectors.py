"""Reads for billing: which tariff applies, the tariff as the pricing engine's data, a session's timeline."""

from collections.abc import Iterable
from datetime import datetime, time, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import cast
from uuid import UUID

from django.conf import settings
from django.db.models import Exists, OuterRef, Q, QuerySet, Sum

from accounts.models import CustomerAccount, Organization, User
from billing import pricing
from billing.models import (
    CreditNote,
    LedgerEntry,
    SessionPrice,
    Statement,
    Tariff,
    TariffAssignment,
    TariffElement,
    days_of_week_parse,
)
from core import money
from core.timeutil import held, in_force
from sessions_app.models import (
    ChargingSession,
    Connector,
    ConnectorStatus,
    MeterValue,
    PostStopWork,
    Site,
    StatusEvent,
)

ENERGY_REGISTER = "Energy.Active.Import.Register"
SNAPSHOT_VERSION = 1

# Assignment levels, most specific first.
_CONNECTOR, _CHARGE_POINT, _SITE, _ORGANIZATION = range(4)


def _valid_at(at: datetime) -> Q:
    return Q(tariff__valid_from__lte=at) & (Q(tariff__valid_until__isnull=True) | Q(tariff__valid_until__gt=at))


def _level(assignment: TariffAssignment) -> int:
    if assignment.connector_id:
        return _CONNECTOR
    if assignment.charge_point_id:
        return _CHARGE_POINT
    if assignment.site_id:
        return _SITE
    return _ORGANIZATION


def tariff_for(*, connector: Connector, customer_account: CustomerAccount | None, at: datetime) -> Tariff | None:
    """The tariff for a session on this connector by this customer starting at ``at``.

    The most specific assignment wins (connector > charge point > site > operator); at the same
    level one for a customer group the customer is in beats a general one. Only tariffs
    valid at ``at`` count.
    """
    return tariffs_for(connectors=[connector], customer_account=customer_account, at=at)[connector.pk]


def tariffs_for(
    *, connectors: Iterable[Connector], customer_account: CustomerAccount | None, at: datetime
) -> dict[int, Tariff | None]:
    """Connector id -> ``tariff_for`` each of these connectors (their charge points loaded), in one query."""
    # Kept lean: it runs for every session priced. An assignment names at most one place (a check constraint), so
    # each place is one condition; a customer is in a group once (a unique constraint), so the join to the
    # memberships yields each assignment once and needs no DISTINCT.
    connectors = list(connectors)
    if not connectors:
        return {}
    charge_points = {connector.charge_point for connector in connectors}
    site_ids = {cp.site_id for cp in charge_points if cp.site_id}
    scope = (
        Q(connector_id__in=[connector.pk for connector in connectors])
        | Q(charge_point_id__in=[cp.pk for cp in charge_points])
        | Q(site_id=None, charge_point_id=None, connector_id=None)
    )
    if site_ids:
        scope |= Q(site_id__in=site_ids)
    groups = Q(customer_group_id=None)
    if customer_account is not None:
        groups |= Q(customer_group__memberships__customer_account_id=customer_account.pk)
    assignments = list(
        TariffAssignment.objects.filter(
            scope,
            groups,
            _valid_at(at),
            tariff__organization_id__in={cp.organization_id for cp in charge_points},
        )
        .select_related("tariff")
        .order_by()
    )
    found: dict[int, Tariff | None] = {}
    for connector in connectors:
        charge_point = connector.charge_point
        candidates = [
            assignment
            for assignment in assignments
            if assignment.tariff.organization_id == charge_point.organization_id and _assigned_to(assignment, connector)
        ]
        found[connector.pk] = min(candidates, key=_assignment_rank).tariff if candidates else None
    return found


def _assigned_to(assignment: TariffAssignment, connector: Connector) -> bool:
    """Whether the assignment's place is this connector, its charge point, its site or its whole operator."""
    charge_point = connector.charge_point
    if assignment.connector_id:
        return assignment.connector_id == connector.pk
    if assignment.charge_point_id:
        return assignment.charge_point_id == charge_point.pk
    if assignment.site_id:
        return assignment.site_id == charge_point.site_id
    return True


def _assignment_rank(assignment: TariffAssignment) -> tuple:
    """Which of several applicable assignments wins: the smallest rank."""
    return (
        _level(assignment),
        assignment.customer_group_id is None,
        -assignment.tariff.valid_from.timestamp(),
        assignment.pk,
    )


def tariff_assignment_overlaps(
    *,
    tariff: Tariff,
    site_id: int | None,
    charge_point_id: int | None,
    connector_id: int | None,
    customer_group_id: int | None,
    validity: tuple[datetime, datetime | None] | None = None,
    exclude_pk: int | None = None,
) -> QuerySet[TariffAssignment]:
    """Other assignments to the same scope and customer group whose tariff's validity overlaps.

    ``validity`` (from, until) defaults to the tariff's own; give it when the tariff's
    validity is about to change.
    """
    valid_from, valid_until = validity if validity is not None else (tariff.valid_from, tariff.valid_until)
    overlapping = Q(tariff__valid_until__isnull=True) | Q(tariff__valid_until__gt=valid_from)
    if valid_until is not None:
        overlapping &= Q(tariff__valid_from__lt=valid_until)
    # A None scope is matched by IS NULL (Django's exact lookup with None); the plugin wants a value.
    queryset = TariffAssignment.objects.filter(  # type: ignore[misc]
        overlapping,
        tariff__organization_id=tariff.organization_id,
        site_id=site_id,
        charge_point_id=charge_point_id,
        connector_id=connector_id,
        customer_group_id=customer_group_id,
    ).select_related("tariff")
    if exclude_pk is not None:
        queryset = queryset.exclude(pk=exclude_pk)
    return queryset


# --- The tariff as the engine's data, and back from a frozen snapshot --------------------------------


def _decimal_or_none(value) -> Decimal | None:
    return None if value is None else Decimal(value)


def tariff_spec(tariff: Tariff, *, time_zone: str) -> pricing.TariffSpec:
    """The tariff's rows as the pricing engine's immutable description; its elements as read for its revision."""
    return pricing.TariffSpec(
        currency=tariff.currency,
        vat_rate=tariff.vat_rate,
        prices_include_vat=tariff.prices_include_vat,
        elements=_tariff_elements(tariff.pk, tariff.revision),
        time_zone=time_zone,
        parking_grace=timedelta(minutes=tariff.parking_grace_minutes),
        min_price=tariff.min_price,
        max_price=tariff.max_price,
    )


@lru_cache(maxsize=256)
def _tariff_elements(tariff_id: int, revision: UUID) -> tuple[pricing.TariffElement, ...]:
    """A tariff's elements and prices, read once per revision: every session priced needs them, and every change
    to them makes a new revision (``billing.services.tariff_revise``), so a copy is never served stale."""
    elements = []
    for element in (
        TariffElement.objects.filter(tariff_id=tariff_id).prefetch_related("components").order_by("position", "pk")
    ):
        restrictions = pricing.Restrictions(
            start_time=element.start_time,
            end_time=element.end_time,
            days_of_week=days_of_week_parse(element.days_of_week),
            min_kwh=element.min_kwh,
            max_kwh=element.max_kwh,
            min_power_kw=element.min_power_kw,
            max_power_kw=element.max_power_kw,
            min_duration=None
            if element.min_duration_minutes is None
            else timedelta(minutes=element.min_duration_minutes),
            max_duration=None
            if element.max_duration_minutes is None
            else timedelta(minutes=element.max_duration_minutes),
            reservation=element.reservation or None,
        )
        components = tuple(
            pricing.PriceComponent(
                type=cast(pricing.ComponentType, c.type),  # the model's choices are these
                price=c.price,
                step_size=c.step_size,
            )
            for c in sorted(element.components.all(), key=lambda c: c.pk)
        )
        elements.append(pricing.TariffElement(components=components, restrictions=restrictions))
    return tuple(elements)


def _str_or_none(value) -> str | None:
    return None if value is None else str(value)


def _seconds_or_none(value: timedelta | None) -> int | None:
    return None if value is None else int(value.total_seconds())


def tariff_spec_to_snapshot(spec: pricing.TariffSpec) -> dict:
    """A TariffSpec as JSON-safe data (decimals as strings, durations in seconds, times ISO)."""
    return {
        "version": SNAPSHOT_VERSION,
        "currency": spec.currency,
        "vat_rate": str(spec.vat_rate),
        "prices_include_vat": spec.prices_include_vat,
        "time_zone": spec.time_zone,
        "parking_grace_seconds": _seconds_or_none(spec.parking_grace),
        "min_price": _str_or_none(spec.min_price),
        "max_price": _str_or_none(spec.max_price),
        "elements": [
            {
                "components": [
                    {"type": c.type, "price": str(c.price), "step_size": c.step_size} for c in element.components
                ],
                "restrictions": {
                    "start_time": None if r.start_time is None else r.start_time.isoformat(),
                    "end_time": None if r.end_time is None else r.end_time.isoformat(),
                    "days_of_week": None if r.days_of_week is None else sorted(r.days_of_week),
                    "min_kwh": _str_or_none(r.min_kwh),
                    "max_kwh": _str_or_none(r.max_kwh),
                    "min_power_kw": _str_or_none(r.min_power_kw),
                    "max_power_kw": _str_or_none(r.max_power_kw),
                    "min_duration_seconds": _seconds_or_none(r.min_duration),
                    "max_duration_seconds": _seconds_or_none(r.max_duration),
                    "reservation": r.reservation,
                },
            }
            for element in spec.elements
            for r in (element.restrictions,)
        ],
    }


def _timedelta_or_none(seconds) -> timedelta | None:
    return None if seconds is None else timedelta(seconds=seconds)


def _time_or_none(value) -> time | None:
    return None if value is None else time.fromisoformat(value)


def tariff_spec_from_snapshot(data: dict) -> pricing.TariffSpec:
    """Read a frozen snapshot back into the engine's TariffSpec (the inverse of ``tariff_spec_to_snapshot``)."""
    elements = []
    for element in data["elements"]:
        r = element["restrictions"]
        elements.append(
            pricing.TariffElement(
                components=tuple(
                    pricing.PriceComponent(type=c["type"], price=Decimal(c["price"]), step_size=int(c["step_size"]))
                    for c in element["components"]
                ),
                restrictions=pricing.Restrictions(
                    start_time=_time_or_none(r["start_time"]),
                    end_time=_time_or_none(r["end_time"]),
                    days_of_week=None if r["days_of_week"] is None else frozenset(r["days_of_week"]),
                    min_kwh=_decimal_or_none(r["min_kwh"]),
                    max_kwh=_decimal_or_none(r["max_kwh"]),
                    min_power_kw=_decimal_or_none(r["min_power_kw"]),
                    max_power_kw=_decimal_or_none(r["max_power_kw"]),
                    min_duration=_timedelta_or_none(r["min_duration_seconds"]),
                    max_duration=_timedelta_or_none(r["max_duration_seconds"]),
                    reservation=r.get("reservation"),  # absent from snapshots taken before reservation fees
                ),
            )
        )
    return pricing.TariffSpec(
        currency=data["currency"],
        vat_rate=Decimal(data["vat_rate"]),
        prices_include_vat=data["prices_include_vat"],
        elements=tuple(elements),
        time_zone=data["time_zone"],
        parking_grace=_timedelta_or_none(data["parking_grace_seconds"]) or timedelta(0),
        min_price=_decimal_or_none(data["min_price"]),
        max_price=_decimal_or_none(data["max_price"]),
    )


def priced_lines_to_breakdown(priced: pricing.PricedSession) -> list[dict]:
    """The engine's lines as JSON-safe data; ``element`` is the element's index in the snapshot."""
    return [
        {
            "component": line.component,
            "element": line.element,
            "starts_at": line.starts_at.isoformat(),
            "ends_at": line.ends_at.isoformat(),
            "quantity": str(line.quantity),
            "unit_price": str(line.unit_price),
            "net_amount": str(line.net_amount),
        }
        for line in priced.lines
    ]


# --- What happened during a session ------------------------------------------------------------------


def session_time_zone(session: ChargingSession) -> str:
    """The time zone of the session's site (for tariff periods), else the default."""
    site = session.charge_point.site
    return site.time_zone if site is not None else settings.TIME_ZONE


def charging_intervals_from_events(
    *, started_at: datetime, stopped_at: datetime, status_before: str | None, events
) -> tuple[tuple[datetime, datetime], ...] | None:
    """When the connector reported Charging between start and stop, from its status reports.

    ``events`` are the (timestamp, status) reports in (start, stop], in order; ``status_before`` the
    last status reported at or before the start. None without any reports in between.
    """
    if not events:
        return None
    return tuple(held(events, started_at, stopped_at, {ConnectorStatus.CHARGING}, before=status_before))


def _charging_intervals(
    connector_id: int,
    start: datetime,
    stop: datetime,
) -> tuple[tuple[datetime, datetime], ...] | None:
    """When the connector reported Charging between start and stop; None without any status reports then."""
    events = list(
        StatusEvent.objects.filter(connector_id=connector_id, timestamp__gt=start, timestamp__lte=stop)
        .order_by("timestamp", "pk")
        .values_list("timestamp", "status")
    )
    if not events:
        return None
    before = (
        in_force(StatusEvent.objects.filter(connector_id=connector_id), at=start, inclusive=True)
        .values_list("status", flat=True)
        .first()
    )
    return charging_intervals_from_events(started_at=start, stopped_at=stop, status_before=before, events=events)


def meter_readings_from_rows(rows) -> tuple[pricing.MeterReading, ...]:
    """Energy register (timestamp, value) rows, in order, as readings; the first of equal timestamps counts."""
    readings: list[pricing.MeterReading] = []
    for at, value in rows:
        if readings and readings[-1].at == at:
            continue
        readings.append(pricing.MeterReading(at=at, register_wh=int(value)))
    return tuple(readings)


def session_timeline(session: ChargingSession) -> pricing.SessionTimeline:
    """A completed session as the pricing engine sees it: times, meter, readings, charging intervals."""
    # Stopped (or, for a quote, a copy stopped now) and on a connector: the only sessions that are priced.
    stopped_at, meter_stop_wh = cast(datetime, session.stopped_at), cast(int, session.meter_stop_wh)
    rows = (
        MeterValue.objects.filter(
            session=session,
            measurand=ENERGY_REGISTER,
            phase="",
            unit="Wh",
            timestamp__gte=session.started_at,
            timestamp__lte=stopped_at,
        )
        .order_by("timestamp", "pk")
        .values_list("timestamp", "value")
    )
    return pricing.SessionTimeline(
        started_at=session.started_at,
        stopped_at=stopped_at,
        meter_start_wh=session.meter_start_wh,
        meter_stop_wh=meter_stop_wh,
        readings=meter_readings_from_rows(rows),
        charging=_charging_intervals(cast(int, session.connector_id), session.started_at, stopped_at),
    )


# --- Credits -----------------------------------------------------------------------------------------


def session_credit_available(session: ChargingSession) -> Decimal:
    """How much net amount may still be credited on a session: its net total less earlier credits."""
    price = SessionPrice.objects.filter(session=session).only("net_total").first()
    if price is None:
        return money.stored_amount(0)
    credited = CreditNote.objects.filter(session=session).aggregate(total=Sum("net_amount"))["total"]
    return price.net_total - money.stored_amount(credited)


def organization_time_zone(organization: Organization) -> str:
    """The time zone of the operator's first site, else the project's."""
    sites = Site.objects.filter(organization=organization).order_by("pk")
    site_zone = sites.values_list("time_zone", flat=True).first()
    return site_zone or settings.TIME_ZONE


def statements_for_driver(*, user: User) -> QuerySet[Statement]:
    """The issued statements of the driver's own customer account, newest period first; none without one."""
    if not user.customer_account_id:
        return Statement.objects.none()
    return Statement.objects.filter(
        customer_account_id=user.customer_account_id, status=Statement.Status.ISSUED
    ).order_by("-period_start", "-number")


def session_billing_gaps(*, since: datetime, limit: int) -> list[int]:
    """Sessions a crash left unbilled since ``since``, for the post-stop sweeper (``hooks.post_stop_gap_finders``).

    Completed on a connector, received since then, with neither a price nor a post-stop record (a record
    means the work is pending, or billing has decided: no tariff applies); and priced since then above zero
    without a charge in the ledger, their work not pending. At most ``limit`` of each, oldest first. The
    time bounds keep the scan to recent rows (``session_created_idx``, ``sessionprice_priced_idx``).
    """
    unpriced = (
        ChargingSession.objects.filter(
            state=ChargingSession.State.COMPLETED,
            connector__isnull=False,
            created_at__gte=since,
            price__isnull=True,
            post_stop_work__isnull=True,
        )
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
    uncharged = (
        SessionPrice.objects.filter(priced_at__gte=since, gross_total__gt=0)
        .filter(
            ~Exists(LedgerEntry.objects.filter(session_id=OuterRef("session_id"), kind=LedgerEntry.Kind.CHARGE)),
            ~Exists(PostStopWork.objects.filter(session_id=OuterRef("session_id"), done_at__isnull=True)),
        )
        .order_by("session_id")
        .values_list("session_id", flat=True)[:limit]
    )
    return [*unpriced, *uncharged]

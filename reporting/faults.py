"""Maintenance: the fault log, failed starts and zero-energy sessions, and the "needs attention" list.

A fault is a run of status events on one connector (or on the station itself, connector 0) that are
Faulted or carry an error code other than NoError. It starts at the first event of the run and clears
at the next event on the same connector that is neither (its error code and vendor code are the first
event's); the time between is the time to repair. A fault not cleared yet is open, and its duration
runs until now.

Failed starts and zero-energy sessions come from the hourly rollups (``ConnectorHour``:
``failed_starts``, ``zero_energy`` and ``sessions`` of the hours in the period).
"""

from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any, TypedDict, cast

from django.conf import settings
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Organization
from core.timeutil import in_force
from reporting.models import AlertIncident, ConnectorHour
from reporting.uptime import TARGET, status_neighbour, uptime_over
from sessions_app.charger_security import security_alerts_between
from sessions_app.models import ChargePoint, Connector, ConnectorStatus, ErrorCode, PostStopWork, StatusEvent

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

IS_FAULT = Q(status=ConnectorStatus.FAULTED) | ~Q(error_code=ErrorCode.NO_ERROR)


@dataclass(frozen=True)
class Fault:
    charge_point: ChargePoint
    connector: Connector | None  # None: the station itself (connector 0)
    started_at: datetime
    cleared_at: datetime | None
    status: str
    error_code: str
    vendor_error_code: str
    info: str

    @property
    def is_open(self) -> bool:
        return self.cleared_at is None

    def duration(self, now: datetime) -> timedelta:
        """Time to repair; for an open fault, how long it has lasted so far."""
        return (self.cleared_at or now) - self.started_at


def _is_fault(status: str | None, error_code: str | None) -> bool:
    return status == ConnectorStatus.FAULTED or (error_code is not None and error_code != ErrorCode.NO_ERROR)


def _runs_in_force(*, charge_point_ids: list[int], at: datetime, station: bool) -> list[int]:
    """The first events of the faults in force at ``at`` (begun before it), one per connector or station."""
    holders: QuerySet[ChargePoint] | QuerySet[Connector]
    if station:
        holders = ChargePoint.objects.filter(pk__in=charge_point_ids)
        match = {"charge_point_id": OuterRef("pk"), "connector__isnull": True}
    else:
        holders = Connector.objects.filter(charge_point_id__in=charge_point_ids)
        match = {"connector_id": OuterRef("pk")}
    latest = in_force(StatusEvent.objects.filter(**match), at=at)
    in_fault = [
        pk
        for pk, status, error_code in holders.annotate(
            latest_status=Subquery(latest.values("status")[:1]),
            latest_error=Subquery(latest.values("error_code")[:1]),
        ).values_list("pk", "latest_status", "latest_error")
        if _is_fault(status, error_code)
    ]
    firsts = []
    for pk in in_fault:  # few: only what is out of order at that moment
        events = StatusEvent.objects.filter(
            timestamp__lt=at,
            **({"charge_point_id": pk, "connector__isnull": True} if station else {"connector_id": pk}),
        )
        last_ok = in_force(events.exclude(IS_FAULT)).values("timestamp", "pk").first()
        run = events.filter(IS_FAULT)
        if last_ok is not None:
            run = run.filter(
                Q(timestamp__gt=last_ok["timestamp"]) | Q(timestamp=last_ok["timestamp"], pk__gt=last_ok["pk"])
            )
        first = run.order_by("timestamp", "pk").values_list("pk", flat=True).first()
        if first is not None:
            firsts.append(first)
    return firsts


def fault_log(
    *, organization: Organization, start: datetime, end: datetime, charge_point: ChargePoint | None = None
) -> list[Fault]:
    """The faults of the organization's stations that were open at some moment in [start, end).

    Open faults first (oldest first), then the cleared ones, latest first. Only the period's status
    events are read, plus, for each connector and station in a fault when the period begins, that
    fault's first event: the cost follows the period, not the history. ``start == end`` gives the
    faults in force at that moment.
    """
    stations = ChargePoint.objects.filter(organization=organization)
    if charge_point is not None:
        stations = stations.filter(pk=charge_point.pk)
    charge_point_ids = list(stations.values_list("pk", flat=True))
    faults = []
    for station in (False, True):
        previous = status_neighbour(station=station, before=True)
        cleared = status_neighbour(station=station, before=False).exclude(IS_FAULT)
        begun_before = _runs_in_force(charge_point_ids=charge_point_ids, at=start, station=station)
        # Fault reports in the period (first, alone: the neighbours are looked up for these only).
        in_period = list(
            StatusEvent.objects.filter(
                IS_FAULT,
                charge_point_id__in=charge_point_ids,
                connector__isnull=station,
                timestamp__gte=start,
                timestamp__lt=end,
            ).values_list("pk", flat=True)
        )
        starts = (
            StatusEvent.objects.filter(pk__in=[*begun_before, *in_period])
            .annotate(
                previous_status=Subquery(previous.values("status")[:1]),
                previous_error=Subquery(previous.values("error_code")[:1]),
                cleared_at=Subquery(cleared.values("timestamp")[:1]),
            )
            .filter(
                Q(pk__in=begun_before)
                # Begun in the period: the first report of its run, after nothing or after one that was no fault.
                | Q(previous_status__isnull=True)
                | (~Q(previous_status=ConnectorStatus.FAULTED) & Q(previous_error=ErrorCode.NO_ERROR))
            )
            .filter(Q(cleared_at__isnull=True) | Q(cleared_at__gt=start))
            .select_related("charge_point", "connector")
        )
        faults += [
            Fault(
                charge_point=event.charge_point,
                connector=event.connector,
                started_at=event.timestamp,
                cleared_at=event.cleared_at,
                status=event.status,
                error_code=event.error_code,
                vendor_error_code=event.vendor_error_code,
                info=event.info,
            )
            for event in starts
        ]
    open_faults = sorted((f for f in faults if f.is_open), key=lambda f: f.started_at)
    cleared_faults = sorted((f for f in faults if not f.is_open), key=lambda f: f.started_at, reverse=True)
    return [*open_faults, *cleared_faults]


@dataclass(frozen=True)
class StartFigures:
    """One connector's starts over a period, from the rollups."""

    connector: Connector
    sessions: int
    failed_starts: int
    zero_energy: int

    @property
    def attempts(self) -> int:
        return self.sessions + self.failed_starts

    @property
    def success_rate(self) -> Decimal | None:
        """Percent of start attempts that were accepted and delivered energy; None without attempts."""
        if not self.attempts:
            return None
        rate = Decimal(self.sessions - self.zero_energy) / Decimal(self.attempts) * 100
        return rate.quantize(Decimal("0.1"), ROUND_HALF_UP)


def start_figures(
    *, organization: Organization, start: datetime, end: datetime, charge_point: ChargePoint | None = None
) -> list[StartFigures]:
    """Per connector of the organization's sites (all of them, zeros included), ordered by station and number."""
    connectors = Connector.objects.filter(charge_point__organization=organization, charge_point__site__isnull=False)
    hours = ConnectorHour.objects.filter(organization=organization, hour__gte=start, hour__lt=end)
    if charge_point is not None:
        connectors, hours = connectors.filter(charge_point=charge_point), hours.filter(charge_point=charge_point)
    sums = {
        row["connector_id"]: row
        for row in hours.values("connector_id").annotate(
            sessions_sum=Sum("sessions"), failed_sum=Sum("failed_starts"), zero_sum=Sum("zero_energy")
        )
    }
    figures = []
    for connector in connectors.select_related("charge_point__site").order_by("charge_point__ocpp_id", "number"):
        row: Mapping[str, Any] = sums.get(connector.pk, {})
        figures.append(
            StartFigures(
                connector=connector,
                sessions=row.get("sessions_sum") or 0,
                failed_starts=row.get("failed_sum") or 0,
                zero_energy=row.get("zero_sum") or 0,
            )
        )
    return figures


# --- needs attention ------------------------------------------------------------------------------

POINTS_OPEN_FAULT = 10
POINTS_REPEATED_CODE = 3
POINTS_BELOW_TARGET = 5
POINTS_FAILED_START = 1
POINTS_ZERO_ENERGY = 2
POINTS_FALLING_SUCCESS = 5
POINTS_UNBILLED = 3
POINTS_CLOCK_WRONG = 2
POINTS_SECURITY_ALERT = 10
MIN_ATTEMPTS = 5
SUCCESS_DROP = Decimal(10)


@dataclass(frozen=True)
class Reason:
    text: str
    points: int


@dataclass
class StationAttention:
    charge_point: ChargePoint
    reasons: list[Reason] = field(default_factory=list)

    @property
    def score(self) -> int:
        return sum(reason.points for reason in self.reasons)


def needs_attention(
    *, organization: Organization, start: datetime, end: datetime, now: datetime | None = None
) -> list[StationAttention]:
    """Stations ranked by how urgently they need a technician; stations without any signal are left out.

    The period is [start, end); the previous period is the same length just before it. Points:

    - each fault still open now: 10;
    - an error code whose fault started twice or more in the period: 3 for each time after the first;
    - each connector whose uptime over the period (NEVI rule, exclusions deducted) is below 97 %:
      5, plus 1 per whole percentage point below 97;
    - each failed (refused) start: 1; each zero-energy session: 2;
    - each connector whose success rate (accepted starts that delivered energy, out of all start
      attempts) fell by 10 percentage points or more against the previous period, both periods with at
      least 5 attempts: 5, plus 1 per whole 10 points of the drop beyond the first 10;
    - each stopped session whose post-stop work (price, charge, rollups) still waits now, longer than
      ``POST_STOP_ATTENTION_MINUTES`` after its stop: 3.
    - a charger that sent a time outside the plausible window in the period (its clock is wrong; the time
      received was stored instead): 2.
    - each security event a charger reported in the period whose type alerts the operator (tampering, an
      invalid firmware signature...: ``charger_security.ALERT_EVENT_TYPES``), repeats counted: 10.

    Highest score first (ties by station id); each station lists its reasons with their points.
    """
    now = now or timezone.now()
    start, end = start.astimezone(UTC), end.astimezone(UTC)  # UTC arithmetic: the previous period's length
    stations: dict[int, StationAttention] = {}

    def add(charge_point: ChargePoint, text: str, points: int) -> None:
        stations.setdefault(charge_point.pk, StationAttention(charge_point=charge_point)).reasons.append(
            Reason(text=text, points=points)
        )

    open_per_station: dict[int, list[Fault]] = defaultdict(list)
    codes: dict[int, Counter] = defaultdict(Counter)
    charge_points = {}
    in_period = fault_log(organization=organization, start=start, end=end)
    # Open now: for a period reaching now, its open faults are all there are; else ask for the present.
    open_now = in_period if end >= now else fault_log(organization=organization, start=now, end=now)
    for fault in open_now:
        charge_points[fault.charge_point.pk] = fault.charge_point
        if fault.is_open:
            open_per_station[fault.charge_point.pk].append(fault)
    for fault in in_period:
        charge_points[fault.charge_point.pk] = fault.charge_point
        if start <= fault.started_at and fault.error_code != ErrorCode.NO_ERROR:
            codes[fault.charge_point.pk][fault.error_code] += 1
    for cp_id, open_faults in open_per_station.items():
        labels = ", ".join(
            _where(fault) + " " + (fault.error_code if fault.error_code != ErrorCode.NO_ERROR else fault.status)
            for fault in open_faults
        )
        add(
            charge_points[cp_id],
            _("%(count)d open fault(s): %(where)s") % {"count": len(open_faults), "where": labels},
            POINTS_OPEN_FAULT * len(open_faults),
        )
    for cp_id, counter in codes.items():
        for code, count in sorted(counter.items()):
            if count >= 2:
                add(
                    charge_points[cp_id],
                    _("%(code)s %(count)d times") % {"code": code, "count": count},
                    POINTS_REPEATED_CODE * (count - 1),
                )

    connectors = list(
        Connector.objects.filter(charge_point__organization=organization, charge_point__site__isnull=False)
        .select_related("charge_point__site")
        .order_by("charge_point__ocpp_id", "number")
    )
    for uptime in uptime_over(connectors=connectors, start=start, end=end, now=now).values():
        if uptime.below_target:
            below = int(TARGET - uptime.uptime)
            add(
                uptime.connector.charge_point,
                _("#%(number)d uptime %(uptime)s %% (target 97 %%)")
                % {"number": uptime.connector.number, "uptime": uptime.uptime},
                POINTS_BELOW_TARGET + below,
            )

    current = start_figures(organization=organization, start=start, end=end)
    previous = {
        f.connector.pk: f for f in start_figures(organization=organization, start=start - (end - start), end=start)
    }
    for figure in current:
        cp = figure.connector.charge_point
        if figure.failed_starts:
            add(
                cp,
                _("#%(number)d %(count)d failed start(s)")
                % {"number": figure.connector.number, "count": figure.failed_starts},
                POINTS_FAILED_START * figure.failed_starts,
            )
        if figure.zero_energy:
            add(
                cp,
                _("#%(number)d %(count)d zero-energy session(s)")
                % {"number": figure.connector.number, "count": figure.zero_energy},
                POINTS_ZERO_ENERGY * figure.zero_energy,
            )
        before = previous.get(figure.connector.pk)
        rate_before = before.success_rate if before and before.attempts >= MIN_ATTEMPTS else None
        rate_now = figure.success_rate if figure.attempts >= MIN_ATTEMPTS else None
        if rate_before is not None and rate_now is not None:
            drop = rate_before - rate_now
            if drop >= SUCCESS_DROP:
                add(
                    cp,
                    _("#%(number)d success rate %(before)s %% → %(now)s %%")
                    % {"number": figure.connector.number, "before": rate_before, "now": rate_now},
                    POINTS_FALLING_SUCCESS + int((drop - SUCCESS_DROP) // 10),
                )
    for charge_point in _unbilled_waiting(organization=organization, now=now):
        add(
            charge_point,
            _("%(count)d stopped session(s) not billed yet after %(minutes)d minutes")
            % {"count": charge_point.unbilled, "minutes": settings.POST_STOP_ATTENTION_MINUTES},
            POINTS_UNBILLED * charge_point.unbilled,
        )
    for wrong_clock in ChargePoint.objects.filter(
        organization=organization, clock_wrong_at__gte=start, clock_wrong_at__lt=end
    ).select_related("site"):
        add(
            wrong_clock,
            _("Clock wrong: sent %(sent)s (replaced by the time received)")
            % {"sent": wrong_clock.clock_wrong_sent.isoformat() if wrong_clock.clock_wrong_sent else "?"},
            POINTS_CLOCK_WRONG,
        )
    # Security events the chargers reported that alert the operator (tampering, an invalid firmware signature...).
    alerts: dict[int, Counter] = defaultdict(Counter)
    for event in security_alerts_between(organization=organization, start=start, end=end):
        reporter = cast(ChargePoint, event.charge_point)  # the selector keeps events with a charger only
        charge_points[reporter.pk] = reporter
        alerts[reporter.pk][event.event_type] += event.count
    for cp_id, counter in alerts.items():
        add(
            charge_points[cp_id],
            _("Security events: %(events)s")
            % {"events": ", ".join(f"{event_type} ×{count}" for event_type, count in sorted(counter.items()))},
            POINTS_SECURITY_ALERT * sum(counter.values()),
        )
    return sorted(stations.values(), key=lambda station: (-station.score, station.charge_point.pk))


class _Unbilled(TypedDict):
    unbilled: int


def _unbilled_waiting(*, organization: Organization, now: datetime) -> "list[WithAnnotations[ChargePoint, _Unbilled]]":
    """The organization's stations with post-stop work pending too long (``unbilled``: how many), in one query.

    It reads the pending records only (``post_stop_pending_idx``), few unless billing has stalled.
    """
    waiting = (
        PostStopWork.objects.filter(
            done_at__isnull=True,
            queued_at__lt=now - timedelta(minutes=settings.POST_STOP_ATTENTION_MINUTES),
            session__charge_point=OuterRef("pk"),
        )
        .order_by()
        .values("session__charge_point")
        .annotate(count=Count("pk"))
        .values("count")
    )
    return list(
        ChargePoint.objects.filter(organization=organization)
        .annotate(unbilled=Subquery(waiting))
        .filter(unbilled__gt=0)
        .select_related("site")
    )


def _where(fault: Fault) -> str:
    return f"#{fault.connector.number}" if fault.connector else _("station")


def open_incidents(*, organization: Organization) -> list[AlertIncident]:
    """Alerts still open (the station is still offline or faulted), oldest first."""
    return list(
        AlertIncident.objects.filter(organization=organization, cleared_at__isnull=True)
        .select_related("charge_point", "connector")
        .order_by("started_at")
    )

"""Billed energy against metered energy, per connector, and the gaps between them (DOMAIN.md).

Billed: the ``SessionPrice.energy_wh`` of the connector's completed, priced sessions that
started in the period. Metered: the energy register's last reading in the period minus
its first; without register readings, the last session's meter stop minus the first
session's meter start. The gaps explain a difference: completed sessions without a price,
meter jumps between consecutive sessions, a register going down, and sessions whose
energy would need more power than the connector has.
"""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, TypedDict, cast

from django.db.models import (
    Case,
    DecimalField,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.expressions import Window
from django.db.models.functions import Coalesce, Lag
from django.utils.translation import gettext_lazy as _

from accounts.models import Organization
from billing.models import SessionPrice
from billing.selectors import ENERGY_REGISTER
from sessions_app.models import ChargingSession, Connector, MeterValue

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

_WH = DecimalField(max_digits=24, decimal_places=6)


class GapKind:
    UNPRICED = "unpriced"
    METER_JUMP = "meter_jump"
    REGISTER_DOWN = "register_down"
    IMPLAUSIBLE_POWER = "implausible_power"

    LABELS = {
        UNPRICED: _("Completed session without a price"),
        METER_JUMP: _("Meter jump between sessions"),
        REGISTER_DOWN: _("Register went down or negative"),
        IMPLAUSIBLE_POWER: _("More energy than the connector's power allows"),
    }


@dataclass(frozen=True)
class Gap:
    kind: str
    connector_id: int
    at: datetime
    session_id: int | None
    energy_wh: int | None  # the energy in question (the jump, the drop, the session's energy)
    detail: str

    @property
    def label(self) -> str:
        return str(GapKind.LABELS[self.kind])


@dataclass
class ConnectorReconciliation:
    connector: Connector
    billed_wh: int
    metered_wh: int | None
    metered_from_register: bool
    gaps: list[Gap] = field(default_factory=list)

    @property
    def difference_wh(self) -> int | None:
        """Metered minus billed: positive is energy delivered but not billed."""
        return None if self.metered_wh is None else self.metered_wh - self.billed_wh


class _RegisterWh(TypedDict):
    wh: Decimal


class _ConnectorEnergy(TypedDict):
    billed_wh: int
    register_first: Decimal | None
    register_last: Decimal | None
    sessions_first: int | None
    sessions_last: int | None


def _register_wh() -> Case:
    """A register reading in Wh, whatever unit the charger sent."""
    return Case(When(unit__iexact="kWh", then=F("value") * 1000), default=F("value"), output_field=_WH)


def _registers(*, start: datetime, end: datetime) -> "QuerySet[WithAnnotations[MeterValue, _RegisterWh]]":
    # Phase-less readings only: per-phase registers would not add up to the connector's energy.
    return MeterValue.objects.filter(
        measurand=ENERGY_REGISTER,
        phase="",
        timestamp__gte=start,
        timestamp__lt=end,
    ).annotate(wh=_register_wh())


def _completed_sessions(*, organization: Organization, start: datetime, end: datetime) -> QuerySet[ChargingSession]:
    return ChargingSession.objects.filter(
        charge_point__organization=organization,
        connector__isnull=False,
        state=ChargingSession.State.COMPLETED,
        started_at__gte=start,
        started_at__lt=end,
    )


def reconciliation_connectors(
    *,
    organization: Organization,
    start: datetime,
    end: datetime,
) -> "QuerySet[WithAnnotations[Connector, _ConnectorEnergy]]":
    """The organization's connectors, each annotated with billed and metered energy in [start, end)."""
    registers = _registers(start=start, end=end).filter(connector=OuterRef("pk"))
    sessions = ChargingSession.objects.filter(
        connector=OuterRef("pk"),
        state=ChargingSession.State.COMPLETED,
        started_at__gte=start,
        started_at__lt=end,
    )
    billed = (
        SessionPrice.objects.filter(
            session__connector=OuterRef("pk"),
            session__state=ChargingSession.State.COMPLETED,
            session__started_at__gte=start,
            session__started_at__lt=end,
        )
        .order_by()
        .values("session__connector")
        .annotate(total=Sum("energy_wh"))
        .values("total")
    )
    return (
        Connector.objects.filter(charge_point__organization=organization)
        .select_related("charge_point")
        .annotate(
            billed_wh=Coalesce(Subquery(billed), Value(0)),
            register_first=Subquery(registers.order_by("timestamp", "pk").values("wh")[:1], output_field=_WH),
            register_last=Subquery(registers.order_by("-timestamp", "-pk").values("wh")[:1], output_field=_WH),
            sessions_first=Subquery(sessions.order_by("started_at", "pk").values("meter_start_wh")[:1]),
            sessions_last=Subquery(sessions.order_by("-started_at", "-pk").values("meter_stop_wh")[:1]),
        )
        .order_by("charge_point__ocpp_id", "number")
    )


def _session_gap(kind: str, session: ChargingSession, energy_wh: int | None, detail: str) -> Gap:
    """A gap found on a session of ``_completed_sessions``, which are all on a connector."""
    return Gap(kind, cast(int, session.connector_id), session.started_at, session.pk, energy_wh, detail)


def _gaps_unpriced(sessions: QuerySet[ChargingSession]) -> list[Gap]:
    return [
        _session_gap(GapKind.UNPRICED, s, s.energy_wh, str(_("Session %(session)s has no price.") % {"session": s.pk}))
        for s in sessions.filter(price__isnull=True).order_by("started_at", "pk")
    ]


def _gaps_meter_jumps(sessions: QuerySet[ChargingSession]) -> list[Gap]:
    jumps = (
        sessions.annotate(
            previous_stop=Window(
                Lag("meter_stop_wh"), partition_by=[F("connector_id")], order_by=[F("started_at").asc(), F("pk").asc()]
            )
        )
        .filter(previous_stop__isnull=False)
        .exclude(meter_start_wh=F("previous_stop"))
        .order_by("started_at", "pk")
    )
    return [
        _session_gap(
            GapKind.METER_JUMP,
            s,
            s.meter_start_wh - s.previous_stop,
            str(
                _("The meter moved by %(wh)s Wh between the previous session's stop and session %(session)s's start.")
                % {"wh": s.meter_start_wh - s.previous_stop, "session": s.pk}
            ),
        )
        for s in jumps
    ]


def _gaps_register_down(*, organization: Organization, start: datetime, end: datetime) -> list[Gap]:
    readings = (
        _registers(start=start, end=end)
        .filter(connector__charge_point__organization=organization)
        .annotate(
            previous_wh=Window(
                Lag(_register_wh()),
                partition_by=[F("connector_id")],
                order_by=[F("timestamp").asc(), F("pk").asc()],
                output_field=_WH,
            )
        )
        .filter(Q(wh__lt=0) | Q(wh__lt=F("previous_wh")))
        .order_by("timestamp", "pk")
    )
    gaps = []
    for reading in readings:
        drop = None if reading.previous_wh is None else int(reading.wh - reading.previous_wh)
        gaps.append(
            Gap(
                GapKind.REGISTER_DOWN,
                cast(int, reading.connector_id),  # filtered through the connector
                reading.timestamp,
                reading.session_id,
                drop,
                str(
                    _("Register read %(wh)s Wh after %(previous)s Wh.")
                    % {
                        "wh": reading.wh.normalize(),
                        "previous": "—" if reading.previous_wh is None else reading.previous_wh.normalize(),
                    }
                ),
            )
        )
    return gaps


def _gaps_implausible_power(sessions: QuerySet[ChargingSession]) -> list[Gap]:
    # energy (Wh) > max power (kW) * 1000 * duration (h). Durations are compared as durations,
    # which every backend can do: the shortest time the energy could take at full power.
    shortest = ExpressionWrapper(
        F("energy_wh") * Value(3_600_000) / (F("connector__max_power_kw") * 1000),
        output_field=DecimalField(max_digits=30, decimal_places=6),
    )
    candidates = (
        sessions.filter(energy_wh__gt=0, connector__max_power_kw__gt=0)
        .annotate(shortest_ms=shortest)
        .select_related("connector")
        .order_by("started_at", "pk")
    )
    gaps = []
    # The comparison with the duration is made here: a duration in milliseconds is not portable SQL.
    for s in candidates:
        stopped_at, connector = cast(datetime, s.stopped_at), cast(Connector, s.connector)  # completed, on one
        duration_ms = Decimal((stopped_at - s.started_at).total_seconds() * 1000).quantize(Decimal(1))
        if s.shortest_ms > duration_ms:
            gaps.append(
                _session_gap(
                    GapKind.IMPLAUSIBLE_POWER,
                    s,
                    s.energy_wh,
                    str(
                        _("%(wh)s Wh in %(minutes)s minutes needs more than the connector's %(kw)s kW.")
                        % {"wh": s.energy_wh, "minutes": round(duration_ms / 60_000, 1), "kw": connector.max_power_kw}
                    ),
                )
            )
    return gaps


def reconciliation_report(
    *,
    organization: Organization,
    start: datetime,
    end: datetime,
) -> list[ConnectorReconciliation]:
    """Per connector of the organization: billed and metered energy in [start, end), and the gaps."""
    sessions = _completed_sessions(organization=organization, start=start, end=end)
    gaps = (
        _gaps_unpriced(sessions)
        + _gaps_meter_jumps(sessions)
        + _gaps_register_down(organization=organization, start=start, end=end)
        + _gaps_implausible_power(sessions)
    )
    gaps.sort(key=lambda gap: (gap.at, gap.kind))
    report = []
    for connector in reconciliation_connectors(organization=organization, start=start, end=end):
        metered: int | None
        if connector.register_first is not None and connector.register_last is not None:
            metered = int(connector.register_last - connector.register_first)
        elif connector.sessions_first is not None and connector.sessions_last is not None:
            metered = connector.sessions_last - connector.sessions_first
        else:
            metered = None if not connector.billed_wh else 0
        report.append(
            ConnectorReconciliation(
                connector=connector,
                billed_wh=int(connector.billed_wh),
                metered_wh=metered,
                metered_from_register=connector.register_first is not None,
                gaps=[gap for gap in gaps if gap.connector_id == connector.pk],
            )
        )
    return report

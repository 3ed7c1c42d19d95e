"""The charging profiles a simulated charger holds, and the limit they put on a connector (OCPP Smart Charging).

Pure and version-free: the wire modules turn 1.6's or 2.0.1's SetChargingProfile into a :class:`ChargingProfile`
(purposes by 1.6's names) and the simulator asks :meth:`ProfileStore.connector_limit_w` what a car may draw now.

The rules followed, as far as a simulator needs them: the period in force is the last one whose ``startPeriod``
has passed (Absolute from ``startSchedule``, Relative from the transaction's start, Recurring from
``startSchedule`` modulo a day or a week); past ``duration`` or outside ``validFrom``/``validTo`` a profile does
not apply and the next lower stack level does. Per connector a TxProfile in force wins over any TxDefaultProfile
(the connector's own or connector 0's), the highest stack level first; a ChargePointMaxProfile (connector 0) caps
the whole station. Amperes are per phase: times the phases used (the period's ``numberPhases``, 3 if not said,
at most the car's) and 230 V.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

VOLTAGE = 230
TX, TX_DEFAULT, STATION_MAX = "TxProfile", "TxDefaultProfile", "ChargePointMaxProfile"
RECURRENCE_S = {"Daily": 86_400, "Weekly": 7 * 86_400}


@dataclass(frozen=True)
class Period:
    start_s: int
    limit: float
    phases: int | None = None


@dataclass(frozen=True)
class ChargingProfile:
    id: int
    connector: int  # 0: the station (TxDefaultProfile: every connector)
    purpose: str  # TX, TX_DEFAULT or STATION_MAX
    stack_level: int
    kind: str  # Absolute, Relative or Recurring
    unit: str  # "A" (per phase) or "W"
    periods: tuple[Period, ...]
    received_at: datetime
    start: datetime | None = None
    duration_s: int | None = None
    recurrency: str | None = None
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    transaction_id: int | str | None = None

    def period_at(self, at: datetime, *, session_start: datetime | None) -> Period | None:
        """The period in force at ``at``; None when the profile does not apply then."""
        if (self.valid_from and at < self.valid_from) or (self.valid_to and at >= self.valid_to):
            return None
        origin = self._origin(session_start)
        elapsed = (at - origin).total_seconds()
        if self.kind == "Recurring" and self.recurrency in RECURRENCE_S:
            elapsed %= RECURRENCE_S[self.recurrency]
        if elapsed < 0 or (self.duration_s is not None and elapsed >= self.duration_s):
            return None
        started = [p for p in self.periods if p.start_s <= elapsed]
        return max(started, key=lambda p: p.start_s) if started else None

    def _origin(self, session_start: datetime | None) -> datetime:
        if self.kind == "Relative":
            return session_start or self.received_at
        return self.start or self.received_at

    def boundaries(self, since: datetime, until: datetime, *, session_start: datetime | None) -> set[datetime]:
        """The moments within ``[since, until)`` where its limit may change (for a composite schedule)."""
        origin = self._origin(session_start)
        offsets = [p.start_s for p in self.periods] + ([self.duration_s] if self.duration_s is not None else [])
        cycle = RECURRENCE_S.get(self.recurrency or "") if self.kind == "Recurring" else None
        cycles = [0]
        if cycle:
            first = int((since - origin).total_seconds() // cycle)
            cycles = list(range(first, first + int((until - since).total_seconds() // cycle) + 2))
        moments = {origin + timedelta(seconds=k * (cycle or 0) + s) for k in cycles for s in offsets}
        moments |= {m for m in (self.valid_from, self.valid_to) if m}
        return {m for m in moments if since <= m < until}


def watts(period: Period, unit: str, *, phases: int) -> float:
    """A period's limit in W for a car charging on ``phases`` phases."""
    if unit == "W":
        return period.limit
    return period.limit * min(period.phases or 3, phases) * VOLTAGE


class ProfileStore:
    """The profiles one charger holds, by id."""

    def __init__(self) -> None:
        self.profiles: dict[int, ChargingProfile] = {}

    def install(self, profile: ChargingProfile, *, connectors: dict[int, int | str | None], units: tuple) -> bool:
        """Take ``profile`` (replacing one of its id, or of its connector, purpose and stack level): whether it was
        taken. ``connectors`` maps each connector to its running transaction (None: none); ``units`` those the
        charger accepts. A TxProfile needs a transaction running on its connector (the one it names, if any)."""
        running = connectors.get(profile.connector)
        valid = (
            profile.periods
            and profile.unit in units
            and (profile.connector == 0 or profile.connector in connectors)
            and (profile.purpose != STATION_MAX or profile.connector == 0)
            and (
                profile.purpose != TX
                or (running is not None and profile.transaction_id in (None, running) and profile.connector != 0)
            )
        )
        if not valid:
            return False
        if profile.purpose == TX and profile.transaction_id is None:
            profile = replace(profile, transaction_id=running)
        key = (profile.connector, profile.purpose, profile.stack_level)
        self.profiles = {
            pid: p
            for pid, p in self.profiles.items()
            if pid != profile.id and (p.connector, p.purpose, p.stack_level) != key
        }
        self.profiles[profile.id] = profile
        return True

    def clear(
        self,
        *,
        profile_id: int | None = None,
        connector: int | None = None,
        purpose: str | None = None,
        stack_level: int | None = None,
    ) -> bool:
        """ClearChargingProfile: remove those matching every criterion given; whether any was removed."""

        def matches(p: ChargingProfile) -> bool:
            if profile_id is not None:
                return p.id == profile_id
            return (
                (connector is None or p.connector == connector)
                and (purpose is None or p.purpose == purpose)
                and (stack_level is None or p.stack_level == stack_level)
            )

        kept = {pid: p for pid, p in self.profiles.items() if not matches(p)}
        removed = len(kept) < len(self.profiles)
        self.profiles = kept
        return removed

    def transaction_ended(self, connector: int) -> None:
        """A TxProfile lasts as long as its transaction."""
        self.profiles = {
            pid: p for pid, p in self.profiles.items() if not (p.purpose == TX and p.connector == connector)
        }

    def connector_limit_w(
        self, connector: int, at: datetime, *, phases: int, session_start: datetime | None
    ) -> float | None:
        """The connector's own limit now (TxProfile over TxDefaultProfile); None: no profile limits it."""
        candidates = sorted(
            (p for p in self.profiles.values() if _applies(p, connector)),
            key=lambda p: (p.purpose == TX, p.stack_level, p.connector == connector),
            reverse=True,
        )
        return _first_limit(candidates, at, phases=phases, session_start=session_start)

    def station_limit_w(self, at: datetime) -> float | None:
        """What the whole station may draw now (ChargePointMaxProfile); None: no limit."""
        candidates = sorted(
            (p for p in self.profiles.values() if p.purpose == STATION_MAX), key=lambda p: p.stack_level, reverse=True
        )
        return _first_limit(candidates, at, phases=3, session_start=None)

    def composite(
        self,
        connector: int,
        at: datetime,
        duration_s: int,
        *,
        phases: int,
        session_start: datetime | None,
        max_w: float,
    ) -> list[tuple[int, float]]:
        """GetCompositeSchedule: ``(seconds from at, limit in W)`` for the next ``duration_s`` seconds, the station's
        cap included; ``max_w`` where nothing limits it. Consecutive equal limits are one period."""
        until = at + timedelta(seconds=duration_s)
        moments = {at}
        for profile in self.profiles.values():
            moments |= profile.boundaries(at, until, session_start=session_start)
        periods: list[tuple[int, float]] = []
        for moment in sorted(moments):
            limits = [max_w, self.station_limit_w(moment)]
            if connector:
                limits.append(self.connector_limit_w(connector, moment, phases=phases, session_start=session_start))
            limit = min(x for x in limits if x is not None)
            if not periods or periods[-1][1] != limit:
                periods.append((int((moment - at).total_seconds()), limit))
        return periods


def _applies(profile: ChargingProfile, connector: int) -> bool:
    if profile.purpose == TX:
        return profile.connector == connector
    return profile.purpose == TX_DEFAULT and profile.connector in (0, connector)


def _first_limit(
    candidates: list[ChargingProfile], at: datetime, *, phases: int, session_start: datetime | None
) -> float | None:
    for profile in candidates:
        period = profile.period_at(at, session_start=session_start)
        if period is not None:
            return watts(period, profile.unit, phases=phases)
    return None


PURPOSES = {"ChargingStationMaxProfile": STATION_MAX}  # 2.0.1's name -> 1.6's, the model's


def from_wire(
    profile: dict, schedule: dict, *, profile_id: int, connector: int, received_at: datetime
) -> ChargingProfile:
    """A profile from a SetChargingProfile payload (snake_case, as the ocpp package hands it): the fields 1.6 and
    2.0.1 share; the caller picks the id, the connector (EVSE) and the schedule, where the versions differ."""
    periods = tuple(
        Period(int(p["start_period"]), float(p["limit"]), p.get("number_phases"))
        for p in sorted(schedule.get("charging_schedule_period") or [], key=lambda p: p["start_period"])
    )
    purpose = profile["charging_profile_purpose"]
    return ChargingProfile(
        id=profile_id,
        connector=connector,
        purpose=PURPOSES.get(purpose, purpose),
        stack_level=int(profile["stack_level"]),
        kind=profile["charging_profile_kind"],
        unit=schedule["charging_rate_unit"],
        periods=periods,
        received_at=received_at,
        start=_time(schedule.get("start_schedule")),
        duration_s=schedule.get("duration"),
        recurrency=profile.get("recurrency_kind"),
        valid_from=_time(profile.get("valid_from")),
        valid_to=_time(profile.get("valid_to")),
        transaction_id=profile.get("transaction_id"),
    )


def _time(stamp: str | None) -> datetime | None:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")) if stamp else None

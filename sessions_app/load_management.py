"""Site load management (issue 17): each load group's limit shared among its running sessions, sent as profiles.

A rebalance of one group (``load_rebalance``) gathers what the allocator needs (``load_allocation.allocate``):

- **Members**: the group's charge points, or with none chosen every charge point of its site that no other
  enabled group of the site names (a charger chosen by name belongs to that group only).
- **The limit now**: the lowest ``LoadLimitWindow`` applying now in the site's time zone, else the group's limit;
  kW, or A per phase times the phases and the voltage.
- **Other loads**: the site meter's last reading (operator API) when the group has one and it is younger than
  ``METER_FRESH``, else the group's margin.
- **Counted at their maximum** (taken off what is available, never given a share): every connector of a charger
  that is offline, and a connector whose profile its charger refused (for its running session, or its default
  profile while idle). A refusal holds until the session changes or the charger boots again.
- **Demands**: the running sessions of the other connectors, with the connector's maximum and phases, the car's
  latest draw (``Power.Active.Import`` of that session within ``DRAW_FRESH``; None while unknown or while the car
  draws about the limit it was given) and its priority (``hooks.load_priorities``: billing's customer groups).

What it decides is kept per managed connector (``ConnectorAllocation``) and sent through
``commands.command_send`` (so it is on the charger's command history), in the charger's rate unit
(``ChargePoint.charging_rate_units``, read at boot; amperes when unknown):

- A ``TxProfile`` per running transaction when its share is new, lower, higher by ``RAISE_STEP_A`` or more,
  starts or ends a wait, or was not confirmed. Lowered shares go first, so the sum stays within the limit while
  they are sent; a rise smaller than the step is not sent (what the charger holds stays at or below the share).
  A session waiting its turn gets a limit of 0 (the car pauses).
- A safe ``TxDefaultProfile`` on connector 0 of every managed charger, for the transactions that start before the
  server hears of them (or while the charger cannot reach it): the group's lowest limit (of its own and every
  window) less the margin for other loads, divided by the group's connectors, per phase; never below the IEC
  minimum (below it a car could not charge at all; then the default alone does not keep the limit with every
  connector busy) nor above the connector's maximum. It is sent again when it changes and after a boot.
- ``ClearChargingProfile`` (our purposes at ``STACK_LEVEL``) to a charger that leaves management: its group
  disabled or deleted, or the charger no longer a member.

A refused profile (Rejected, NotSupported, an error) makes its connector count at its maximum and the group is
shared again at once, in the same run.
"""

import logging
import threading
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal

from django.core.cache import cache
from django.utils import timezone

from sessions_app import hooks
from sessions_app.load_allocation import MIN_AMPERES, Demand, Share, allocate
from sessions_app.models import (
    ChargePoint,
    ChargingSession,
    Connector,
    ConnectorAllocation,
    LoadGroup,
    LoadLimitWindow,
    MeterValue,
    SiteMeterReading,
)
from sessions_app.ocpp import command_payloads, commands
from sessions_app.ocpp.commands import CommandResult
from sessions_app.selectors import POWER_IMPORT

logger = logging.getLogger(__name__)

#: A site meter reading older than this no longer says what the other loads are: the margin is used instead.
METER_FRESH = timedelta(minutes=5)
#: A car's draw older than this is not known.
DRAW_FRESH = timedelta(minutes=2)
#: A car drawing at least this share (percent) of the limit it was given, on some of the connector's phases, is
#: held back by it, not slow. Above the allocator's slow cap (draw + 10 %: 91 % of it), so a capped car stays capped.
HELD_PERCENT = 95
#: A share this much higher (A per phase) than what the charger holds is sent; a smaller rise waits.
RAISE_STEP_A = Decimal("1.0")
#: Our profiles: their stack level, the default's id, and the TxProfiles' ids (plus the connector's number).
STACK_LEVEL = 1
DEFAULT_PROFILE_ID = 1700
TX_PROFILE_ID = 1710
#: Seconds a profile command waits for the charger's answer.
COMMAND_TIMEOUT = 15
#: Runs of one rebalance at most (each refusal found makes another).
MAX_PASSES = 3
#: OCPP 1.6 ChargingScheduleAllowedChargingRateUnit ("Current,Power"); 2.0.1's SmartChargingCtrlr.RateUnit ("A,W").
RATE_UNIT_KEY = "ChargingScheduleAllowedChargingRateUnit"
_RATE_UNITS = {"current": "A", "a": "A", "power": "W", "w": "W"}
_REFUSED = ("Rejected", "NotSupported")
_PHASE_TOTALS = ("L1", "L2", "L3", "L1-N", "L2-N", "L3-N")


# --- which chargers, which limit ---------------------------------------------------------------------------------


def load_group_charge_points(group: LoadGroup) -> list[ChargePoint]:
    """The charge points the group manages (module docstring), by id."""
    chosen = list(group.charge_points.order_by("pk"))
    if chosen:
        return chosen
    named_elsewhere = LoadGroup.objects.filter(site_id=group.site_id, enabled=True).exclude(pk=group.pk)
    return list(
        ChargePoint.objects.filter(site_id=group.site_id)
        .exclude(load_groups__in=named_elsewhere)
        .order_by("pk")
        .distinct()
    )


def charge_point_group(charge_point: ChargePoint) -> LoadGroup | None:
    """The enabled group managing the charger: one naming it, else its site's group of every charge point."""
    groups = LoadGroup.objects.filter(enabled=True).order_by("pk")
    named = groups.filter(charge_points=charge_point).first()
    if named is not None or charge_point.site_id is None:
        return named
    return groups.filter(site_id=charge_point.site_id, charge_points__isnull=True).first()


def window_applies(window: LoadLimitWindow, local: datetime) -> bool:
    """Whether the window holds at that local time: on one of its weekdays from its start, or, one running past
    midnight (its end before its start), until its end the next day. The same start and end: all day."""
    today, yesterday = str(local.isoweekday()), str((local - timedelta(days=1)).isoweekday())
    clock = local.time()
    if window.end > window.start:
        return today in window.weekdays and window.start <= clock < window.end
    if window.end == window.start:
        return today in window.weekdays
    return (today in window.weekdays and clock >= window.start) or (yesterday in window.weekdays and clock < window.end)


def _in_watts(group: LoadGroup, limit: Decimal) -> int:
    if group.limit_unit == LoadGroup.LimitUnit.AMPERES:
        return int(limit * group.phases * group.voltage)
    return int(limit * 1000)


def load_group_limit_w(group: LoadGroup, now: datetime) -> int:
    """The group's limit now in W: the lowest window applying in the site's local time, else its own."""
    local = now.astimezone(group.site.tzinfo)
    applying = [window.limit for window in group.windows.all() if window_applies(window, local)]
    return _in_watts(group, min(applying) if applying else group.limit)


def _lowest_limit_w(group: LoadGroup) -> int:
    return _in_watts(group, min([group.limit, *(window.limit for window in group.windows.all())]))


def load_other_loads_w(group: LoadGroup, now: datetime) -> int:
    """What the site's other loads take now: the meter's recent reading (never below 0), else the margin."""
    if group.site_meter:
        reading = group.meter_readings.filter(measured_at__gt=now - METER_FRESH).order_by("-measured_at").first()
        if reading is not None:
            return max(int(reading.power_kw * 1000), 0)
    return int(group.other_loads_kw * 1000)


# --- what the cars draw --------------------------------------------------------------------------------------------


def sessions_drawing_w(session_ids: Iterable[int], now: datetime) -> dict[int, int]:
    """Each session's latest active power import in W (its total, else the sum of its phases), when recent."""
    rows = (
        MeterValue.objects.filter(
            session_id__in=list(session_ids), measurand=POWER_IMPORT, timestamp__gt=now - DRAW_FRESH
        )
        .order_by("session_id", "-timestamp")
        .values_list("session_id", "timestamp", "phase", "value")
    )
    latest: dict[int, list[tuple[str, Decimal]]] = {}
    latest_at: dict[int, datetime] = {}
    for session_id, at, phase, value in rows:
        if latest_at.setdefault(session_id, at) == at:
            latest.setdefault(session_id, []).append((phase, value))
    return {session_id: draw_w(values) for session_id, values in latest.items()}


def draw_w(values: Iterable[tuple[str, Decimal]]) -> int:
    """A car's draw in W from one reading's (phase, active power import) values: its total, else the sum of its
    phases (line to neutral or phase alone; never between phases)."""
    values = list(values)
    totals = [value for phase, value in values if not phase]
    by_phase = [value for phase, value in values if phase in _PHASE_TOTALS]
    return max(int(sum(totals[:1] or by_phase)), 0)


def _draw_key(session_id: int) -> str:
    return f"load-management:draw:{session_id}"


def load_draw_changed(session_id: int, drawing_w: int, phases: int, voltage: int) -> bool:
    """Whether a car's new draw differs from the one its share was last decided with by an ampere per phase or
    more (or none was known then): cheap, from the cache, for the meter values' path."""
    known = cache.get(_draw_key(session_id))
    return known is None or abs(drawing_w - known) >= phases * voltage


# --- the rebalance -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rebalance:
    """What one rebalance did: the shares sent and what was cleared (charger ids)."""

    sent: int
    refused: int
    cleared: list[int]


def _rate_unit(charge_point: ChargePoint) -> str:
    units = {unit.strip() for unit in charge_point.charging_rate_units.split(",") if unit.strip()}
    return "A" if not units or "A" in units else "W"


def _limit(unit: str, limit_a: Decimal, limit_w: int) -> Decimal:
    return limit_a if unit == "A" else Decimal(limit_w)


def _profile_send(
    charge_point: ChargePoint, *, connector_id: int, purpose: str, limit: Decimal, phases: int, **extra
) -> CommandResult:
    """A one-period Relative profile (from each transaction's start: the limit holds throughout)."""
    unit = _rate_unit(charge_point)
    request = command_payloads.set_charging_profile(
        connector_id=connector_id,
        charging_profile_id=(DEFAULT_PROFILE_ID if purpose == "TxDefaultProfile" else TX_PROFILE_ID + connector_id),
        stack_level=STACK_LEVEL,
        charging_profile_purpose=purpose,
        charging_profile_kind="Relative",
        charging_rate_unit=unit,
        schedule_periods=[(0, limit, phases)],
        pause_allowed=True,
        **extra,
    )
    return _command(charge_point, *command_payloads.command_payload(request))


def _command(charge_point: ChargePoint, action: str, payload: dict) -> CommandResult:
    """Send one command and wait for its answer; the run's lock is then held a while longer (``_run``)."""
    result = commands.command_send(charge_point, action, payload, COMMAND_TIMEOUT)
    lock = getattr(_run, "lock", None)
    if lock is not None:
        cache.touch(lock, LOCK_SECONDS)
    return result


def _status_of(result: CommandResult, charging: bool) -> str:
    if result.outcome == "offline":
        return ConnectorAllocation.Status.OFFLINE
    if result.outcome == "error" or result.status in _REFUSED:
        return ConnectorAllocation.Status.REJECTED
    if result.outcome != "answered":
        return ConnectorAllocation.Status.PENDING  # no answer: sent again next time
    return ConnectorAllocation.Status.ACCEPTED if charging else ConnectorAllocation.Status.WAITING


def _default_key(charge_point_id: int) -> str:
    return f"load-management:default:{charge_point_id}"


def load_default_forget(charge_point_id: int) -> None:
    """The charger booted (it may have lost its profiles): its default is sent again at the next rebalance."""
    cache.delete(_default_key(charge_point_id))


def _default_share_a(group: LoadGroup, connector: Connector, connectors: int) -> Decimal:
    """The connector's safe default per phase (module docstring), rounded down to 0.1 A."""
    per_connector_w = max(_lowest_limit_w(group) - int(group.other_loads_kw * 1000), 0) / max(connectors, 1)
    per_phase = Decimal(per_connector_w) / (connector.phases * group.voltage)
    maximum = connector.max_power_kw * 1000 / (connector.phases * group.voltage)
    share = min(max(per_phase, MIN_AMPERES), maximum) if maximum >= MIN_AMPERES else maximum
    return share.quantize(Decimal("0.1"), rounding=ROUND_DOWN)


def _defaults_send(group: LoadGroup, by_charger: dict[ChargePoint, list[Connector]], total: int) -> dict[int, str]:
    """Each online charger's TxDefaultProfile, sent when it is not the one it holds; the answer's status by charger
    (refused, or what it last answered to the same default)."""
    statuses = {}
    for charge_point, connectors in by_charger.items():
        if not charge_point.channel_name or not connectors:
            continue
        unit = _rate_unit(charge_point)
        # One default for the whole charger (connector 0): its connectors' lowest.
        limit_a, phases = min(
            ((_default_share_a(group, connector, total), connector.phases) for connector in connectors),
            key=lambda default: default[0] * default[1],
        )
        limit = limit_a if unit == "A" else Decimal(int(limit_a * phases * group.voltage))
        wanted = (unit, str(limit))
        memo = cache.get(_default_key(charge_point.pk))
        if memo is not None and tuple(memo[:2]) == wanted:
            statuses[charge_point.pk] = memo[2]
            continue
        if limit <= 0:
            continue
        result = _profile_send(charge_point, connector_id=0, purpose="TxDefaultProfile", limit=limit, phases=phases)
        status = _status_of(result, charging=True)
        if status in (ConnectorAllocation.Status.ACCEPTED, ConnectorAllocation.Status.REJECTED):
            cache.set(_default_key(charge_point.pk), [*wanted, status], None)
        statuses[charge_point.pk] = status
    return statuses


@dataclass
class _Connector:
    connector: Connector
    charge_point: ChargePoint
    session: ChargingSession | None
    row: ConnectorAllocation | None

    @property
    def max_w(self) -> int:
        return int(self.connector.max_power_kw * 1000)


def _counted_at_maximum(item: _Connector, default_status: str | None) -> str | None:
    """The status of a connector taken off what is available at its maximum, or None when it gets a share."""
    if not item.charge_point.channel_name:
        return ConnectorAllocation.Status.OFFLINE
    row = item.row
    refused = row is not None and row.status == ConnectorAllocation.Status.REJECTED
    if item.session is not None and refused and row is not None and row.session_id == item.session.pk:
        return ConnectorAllocation.Status.REJECTED
    if item.session is None and default_status == ConnectorAllocation.Status.REJECTED:
        return ConnectorAllocation.Status.REJECTED
    return None


def _must_send(item: _Connector, share: Share) -> bool:
    row = item.row
    if row is None or item.session is None or row.session_id != item.session.pk:
        return True
    if row.status not in (ConnectorAllocation.Status.ACCEPTED, ConnectorAllocation.Status.WAITING):
        return True
    if share.charging != (row.status == ConnectorAllocation.Status.ACCEPTED):
        return True
    return share.limit_a < row.limit_a or share.limit_a >= row.limit_a + RAISE_STEP_A


def _held_w(item: _Connector) -> int:
    """The limit the charger holds for the connector's session (0: none yet)."""
    row, session = item.row, item.session
    return row.limit_w if row is not None and session is not None and row.session_id == session.pk else 0


def _row_save(
    item: _Connector, group: LoadGroup, *, limit_w: int, limit_a: Decimal, status: str, now: datetime, sent: bool
) -> None:
    values = {
        "group": group,
        "session": item.session,
        "limit_w": limit_w,
        "limit_a": limit_a,
        "status": status,
        "decided_at": now,
    }
    if sent:
        values["answered_at"] = None if status == ConnectorAllocation.Status.PENDING else timezone.now()
    item.row, _created = ConnectorAllocation.objects.update_or_create(connector=item.connector, defaults=values)


def _held(item: _Connector, session: ChargingSession, draw: int, voltage: int) -> bool:
    """Whether the car draws about the ampere limit it was given, on all of the connector's phases or on fewer (a
    one-phase car on a three-phase connector draws a third of the watts): held back by it, not slow. Its share
    stays in amperes on every phase, so a car that used more phases than it showed still keeps the limit."""
    if item.row is None or item.row.session_id != session.pk or item.row.limit_a <= 0:
        return False
    per_phase_w = item.row.limit_a * voltage
    return (
        any(
            per_phase_w * phases * HELD_PERCENT <= draw * 100 <= per_phase_w * phases * 105
            for phases in range(1, item.connector.phases)
        )
        or draw * 100 >= per_phase_w * item.connector.phases * HELD_PERCENT
    )


def _pass(group: LoadGroup, items: list[_Connector], defaults: dict[int, str], now: datetime) -> tuple[int, int]:
    """One allocation and its sends; returns (profiles sent, refusals found)."""
    limit_w = load_group_limit_w(group, now)
    reserved_w = 0
    running: list[_Connector] = []
    for item in items:
        status = _counted_at_maximum(item, defaults.get(item.charge_point.pk))
        if status is not None:
            reserved_w += item.max_w
            maximum_a = (item.connector.max_power_kw * 1000 / (item.connector.phases * group.voltage)).quantize(
                Decimal("0.1"), rounding=ROUND_DOWN
            )
            _row_save(item, group, limit_w=item.max_w, limit_a=maximum_a, status=status, now=now, sent=False)
        elif item.session is not None:
            running.append(item)
    drawing = sessions_drawing_w((item.session.pk for item in running if item.session), now)
    demands = []
    priorities = hooks.load_priorities([item.session.pk for item in running if item.session])
    for item in running:
        session = item.session
        assert session is not None  # noqa: S101 - running items have one
        draw = drawing.get(session.pk)
        if draw is not None and _held(item, session, draw, group.voltage):
            draw = None  # held back by its limit: free to take a bigger share
        demands.append(
            Demand(
                connector_id=item.connector.pk,
                max_w=item.max_w,
                phases=item.connector.phases,
                drawing_w=draw,
                priority=priorities.get(session.pk, 0),
                started_at=session.started_at,
                session_id=session.pk,
            )
        )
        if session.pk in drawing:
            cache.set(_draw_key(session.pk), drawing[session.pk], int(DRAW_FRESH.total_seconds()) * 5)
    available_w = limit_w - load_other_loads_w(group, now) - reserved_w
    shares = allocate(
        available_w=available_w,
        voltage=group.voltage,
        demands=demands,
        now=now,
        turn=timedelta(minutes=group.rotation_minutes),
    )
    by_connector = {item.connector.pk: item for item in running}
    sends = []
    for share in shares:
        item = by_connector[share.connector_id]
        if _must_send(item, share):
            sends.append((share.limit_w - _held_w(item), share, item))
        elif item.row is not None:  # what the charger holds stands
            _row_save(
                item,
                group,
                limit_w=item.row.limit_w,
                limit_a=item.row.limit_a,
                status=item.row.status,
                now=now,
                sent=False,
            )
    sent = refused = 0
    for _change, share, item in sorted(sends, key=lambda send: (send[0], send[1].connector_id)):  # lowered first
        assert item.session is not None  # noqa: S101
        unit = _rate_unit(item.charge_point)
        result = _profile_send(
            item.charge_point,
            connector_id=item.connector.number,
            purpose="TxProfile",
            limit=_limit(unit, share.limit_a, share.limit_w),
            phases=item.connector.phases,
            transaction_id=item.session.pk,
        )
        status = _status_of(result, share.charging)
        sent += 1
        refused += status in (ConnectorAllocation.Status.REJECTED, ConnectorAllocation.Status.OFFLINE)
        _row_save(item, group, limit_w=share.limit_w, limit_a=share.limit_a, status=status, now=now, sent=True)
    for item in items:
        if item.session is None and _counted_at_maximum(item, defaults.get(item.charge_point.pk)) is None:
            default_a = _default_share_a(group, item.connector, len(items))
            default_w = int(default_a * item.connector.phases * group.voltage)
            status = defaults.get(item.charge_point.pk, ConnectorAllocation.Status.PENDING)
            _row_save(item, group, limit_w=default_w, limit_a=default_a, status=status, now=now, sent=False)
    return sent, refused


def _items(charge_points: list[ChargePoint]) -> list[_Connector]:
    connectors = list(
        Connector.objects.filter(charge_point__in=charge_points).select_related("charge_point").order_by("pk")
    )
    sessions = {
        session.connector_id: session
        for session in ChargingSession.objects.filter(
            connector__in=connectors, state=ChargingSession.State.ACTIVE
        ).order_by("started_at", "pk")
    }
    rows = {row.connector_id: row for row in ConnectorAllocation.objects.filter(connector__in=connectors)}
    return [_Connector(c, c.charge_point, sessions.get(c.pk), rows.get(c.pk)) for c in connectors]


def load_rebalance(*, group_id: int, release_ids: Iterable[int] = (), now: datetime | None = None) -> Rebalance:
    """Share the group's limit now and send what changed (module docstring); clear the profiles of the chargers
    among ``release_ids`` (or holding this group's allocations) that no enabled group manages any more."""
    now = now or timezone.now()
    group = LoadGroup.objects.select_related("site").filter(pk=group_id).first()
    members = load_group_charge_points(group) if group is not None and group.enabled else []
    leaving = set(release_ids) | set(
        ConnectorAllocation.objects.filter(group_id=group_id)
        .exclude(connector__charge_point__in=members)
        .values_list("connector__charge_point_id", flat=True)
    )
    cleared = load_release(charge_point_ids=sorted(leaving - {cp.pk for cp in members}))
    if group is None or not members:
        return Rebalance(0, 0, cleared)
    items = _items(members)
    by_charger: dict[ChargePoint, list[Connector]] = defaultdict(list)
    for item in items:
        by_charger[item.charge_point].append(item.connector)
    defaults = _defaults_send(group, by_charger, len(items))
    sent = refused = 0
    for _ in range(MAX_PASSES):
        sent_now, refused_now = _pass(group, items, defaults, now)
        sent, refused = sent + sent_now, refused + refused_now
        if not refused_now:
            break
    return Rebalance(sent, refused, cleared)


def load_release(*, charge_point_ids: list[int]) -> list[int]:
    """Clear our profiles from these chargers unless an enabled group manages them; their allocations go once the
    charger confirmed (an offline one is tried again by the sweep while its group's rows remain). Returns the ids
    cleared."""
    cleared = []
    for charge_point in ChargePoint.objects.filter(pk__in=charge_point_ids).order_by("pk"):
        if charge_point_group(charge_point) is not None:
            continue
        results = [
            _command(
                charge_point,
                *command_payloads.command_payload(
                    command_payloads.clear_charging_profile(charging_profile_purpose=purpose, stack_level=STACK_LEVEL)
                ),
            )
            for purpose in ("TxDefaultProfile", "TxProfile")
        ]
        if any(result.outcome == "offline" for result in results):
            continue
        ConnectorAllocation.objects.filter(connector__charge_point=charge_point).delete()
        load_default_forget(charge_point.pk)
        cleared.append(charge_point.pk)
    return cleared


# --- the charger's rate unit, at boot ------------------------------------------------------------------------------


def load_charger_boot(*, charge_point_id: int) -> str:
    """After a managed charger's boot: read the rate units its profiles may use, forget what it held (a reboot may
    have lost it: the default and refusals are sent again) and share its group again. Returns the units."""
    charge_point = ChargePoint.objects.get(pk=charge_point_id)
    group = charge_point_group(charge_point)
    if group is None:
        return charge_point.charging_rate_units
    answer = _command(charge_point, "GetConfiguration", {"key": [RATE_UNIT_KEY]})
    values = {
        item.get("key"): item.get("value")
        for item in answer.payload.get("configuration_key") or []
        if isinstance(item, dict)
    }
    reported = values.get(RATE_UNIT_KEY)
    if isinstance(reported, str):
        units = [_RATE_UNITS.get(unit.strip().lower()) for unit in reported.split(",")]
        charge_point.charging_rate_units = ",".join(sorted({unit for unit in units if unit}))
        ChargePoint.objects.filter(pk=charge_point.pk).update(charging_rate_units=charge_point.charging_rate_units)
    load_default_forget(charge_point.pk)
    ConnectorAllocation.objects.filter(
        connector__charge_point=charge_point, status=ConnectorAllocation.Status.REJECTED
    ).update(status=ConnectorAllocation.Status.PENDING)
    load_rebalance_run(group_id=group.pk)
    return charge_point.charging_rate_units


# --- one run per group at a time ---------------------------------------------------------------------------------

#: How long a run's lock holds after its start or its last command's answer (a command waits COMMAND_TIMEOUT at
#: most): a run killed midway (its server process stopped) frees its group after that.
LOCK_SECONDS = 4 * COMMAND_TIMEOUT
#: The lock of the run in this thread, if any (``_command`` extends it).
_run = threading.local()


def load_rebalance_run(*, group_id: int, release_ids: Iterable[int] = ()) -> bool:
    """The task's body: one run per group at a time (a cache lock). Every call marks the group (with the chargers to
    release) before it tries the lock; the run holding it takes marks until none is left, and looks once more after
    it lets go, so a mark made while it held the lock is never left behind. Returns whether this call ran."""
    lock, again = f"load-management:run:{group_id}", f"load-management:again:{group_id}"
    cache.set(again, sorted({*(cache.get(again) or []), *release_ids}), LOCK_SECONDS)
    ran = False
    while cache.add(lock, 1, LOCK_SECONDS):
        ran, _run.lock = True, lock
        try:
            while (pending := cache.get(again)) is not None:
                cache.delete(again)
                load_rebalance(group_id=group_id, release_ids=pending)
        finally:
            _run.lock = None
            cache.delete(lock)
        if cache.get(again) is None:
            break
    return ran


# --- the site meter ----------------------------------------------------------------------------------------------


def site_meter_record(*, group: LoadGroup, power_kw: Decimal, measured_at: datetime) -> SiteMeterReading:
    """A reading the site meter pushed (operator API); the group is shared again after the commit."""
    from sessions_app.load_triggers import load_rebalance_soon  # it imports the tasks, which import this module

    reading = SiteMeterReading.objects.create(group=group, power_kw=power_kw, measured_at=measured_at)
    load_rebalance_soon(group.pk)
    return reading


# --- the sweep ---------------------------------------------------------------------------------------------------


def load_sweep() -> int:
    """Every minute: every enabled group is shared again (windows starting and ending, turns, chargers back online
    or gone, a site meter gone quiet), and disabled groups that still hold allocations let their chargers go.
    Returns how many groups were queued."""
    from sessions_app.load_triggers import load_rebalance_enqueue

    ids = set(LoadGroup.objects.filter(enabled=True).values_list("pk", flat=True))
    ids |= set(ConnectorAllocation.objects.filter(group__enabled=False).values_list("group_id", flat=True))
    for group_id in sorted(ids):
        load_rebalance_enqueue(group_id, [])
    return len(ids)

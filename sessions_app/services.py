"""Writes and decisions about chargers and charging sessions.

Each function is what one OCPP message means to the domain. They never refuse a
charger's report because it looks wrong: odd data is stored and flagged for review
(DOMAIN.md, "Transactions"), so the charger always gets its answer and stops retrying.
"""

import hashlib
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import TypeVar, cast

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import F, Model, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from accounts.models import AuthorizationStatus, IdTag, Organization
from accounts.selectors import TagVerdict, id_tag_judge, id_tag_verdict
from accounts.uids import id_tag_presented
from sessions_app import card_refusals, charger_auth, hooks, lockout, signed_meter
from sessions_app.board_push import board_changed
from sessions_app.load_triggers import load_changed, load_connections_changed, load_draws_reported
from sessions_app.models import (
    ChargePoint,
    ChargerCommand,
    ChargerConnection,
    ChargerEvent,
    ChargingSession,
    Connector,
    MeterValue,
    SecurityEvent,
    SessionFlag,
    StatusEvent,
    offline_after,
)
from sessions_app.ocpp.log_redaction import command_redacted
from sessions_app.post_stop import post_stop_work_begin

logger = logging.getLogger(__name__)

ENERGY_REGISTER = "Energy.Active.Import.Register"
#: Units stored in their base form so sums need no conversion.
_UNIT_SCALE = {"kWh": ("Wh", 1000), "kW": ("W", 1000), "kvarh": ("varh", 1000), "kvar": ("var", 1000)}


@card_refusals.remembered
def id_tag_authorize(
    *, charge_point: ChargePoint, raw_uid: str, at: datetime, running_session: int | None = None
) -> TagVerdict:
    """May this tag charge at this station now? The one answer the OCPP Authorize handler gives.

    Accepted, Blocked, Expired and Invalid come from the card itself (see
    ``accounts.selectors.id_tag_verdict``), unless a real-time authorization handler has its say first
    (``hooks.realtime_authorization``: a roaming partner asked about its token, which may refuse it or
    make an unknown uid a card); ConcurrentTx when the card already runs as
    many sessions as it is allowed, not counting ``running_session`` (the session a 2.0.1 charger asks
    about again while it runs). A charger not yet accepted learns nothing about cards.

    The registration status is read from the database, not from ``charge_point``: the connection
    holds that object from its handshake, and an operator who rejects the charger meanwhile must
    not have to wait for it to reboot.
    """
    status = ChargePoint.objects.filter(pk=charge_point.pk).values_list("registration_status", flat=True).first()
    if status != ChargePoint.RegistrationStatus.ACCEPTED:
        return TagVerdict(AuthorizationStatus.INVALID, None, None, None)
    verdict = id_tag_verdict(raw_uid=raw_uid, organization=charge_point.organization, at=at)
    answer = hooks.realtime_authorization(charge_point=charge_point, raw_uid=raw_uid, id_tag=verdict.id_tag, at=at)
    if isinstance(answer, IdTag) and answer.customer_account.organization_id == charge_point.organization_id:
        verdict = id_tag_judge(tag=answer, at=at)
    elif isinstance(answer, AuthorizationStatus):
        return TagVerdict(answer, verdict.id_tag, verdict.expiry_date, verdict.parent_id_tag)
    if verdict.status != AuthorizationStatus.ACCEPTED:
        return verdict
    id_tag = cast(IdTag, verdict.id_tag)  # an accepted verdict names its tag
    running = ChargingSession.objects.filter(id_tag=id_tag, state=ChargingSession.State.ACTIVE)
    if running_session is not None:
        running = running.exclude(pk=running_session)
    refusal = id_tag_refusal_now(id_tag=id_tag, at=at, running=running.count())
    if refusal is not None:
        return TagVerdict(refusal, verdict.id_tag, verdict.expiry_date, verdict.parent_id_tag)
    return verdict


def id_tag_refusal_now(*, id_tag: IdTag, at: datetime, running: int | None = None) -> AuthorizationStatus | None:
    """What refuses a card valid in itself at ``at``: ConcurrentTx when it runs as many sessions as it may, or a
    registered check (an empty prepaid wallet: NoCredit); None when it may charge. Authorize's rule, and the
    driver's card page's (which counts the ``running`` sessions of all its cards in one query)."""
    if running is None:
        running = ChargingSession.objects.filter(id_tag=id_tag, state=ChargingSession.State.ACTIVE).count()
    if running >= id_tag.max_concurrent_sessions:
        return AuthorizationStatus.CONCURRENT_TX
    return hooks.authorization_refusal(id_tag, at)


def session_flags_resolve(*, flags: QuerySet[SessionFlag], at: datetime) -> int:
    """An operator has looked at these flags; already resolved ones keep their time. Returns how many."""
    return flags.filter(resolved_at__isnull=True).update(resolved_at=at)


# --- charger time and resent reports --------------------------------------------------------

_M = TypeVar("_M", bound=Model)


def charger_time(*, charge_point: ChargePoint, reported: datetime, received: datetime) -> datetime:
    """The time to store for one a charger reported: its own when plausible, else the time it was received.

    Plausible is from the charger's registration less OCPP_TIME_BEFORE_REGISTRATION (it may have
    charged offline before an operator added it) to OCPP_TIME_AHEAD past the server's clock (clocks drift;
    NTP is not universal). A clock outside that is wrong (reset to 2000, or a year 9999): its times would
    sort, price and roll a session up decades away. Callers keep the charger's time and flag it.
    """
    earliest = _earliest_plausible(charge_point)
    latest = received + timedelta(seconds=settings.OCPP_TIME_AHEAD)
    return reported if earliest <= reported <= latest else received


def _earliest_plausible(charge_point: ChargePoint) -> datetime:
    return charge_point.created_at - timedelta(seconds=settings.OCPP_TIME_BEFORE_REGISTRATION)


def charger_times(*, charge_point: ChargePoint, reported: list[datetime], received: datetime) -> list[datetime]:
    """The times to store for the readings of one message: ``charger_time`` each, but implausible ones keep
    their order and spacing.

    A charger whose clock was reset buffers readings 2000-01-01 10:00, 10:05, 10:10; all at the time received
    they would be one instant, and all but one reading of a measurand dropped as sent again. So each is placed
    at the time received less its distance from the latest implausible one of the message (which lands on the
    time received). One that would land before the plausible window (the times span too long to be believed)
    gets the time received, as does one alone.
    """
    stored = [charger_time(charge_point=charge_point, reported=at, received=received) for at in reported]
    wrong = [at for at, used in zip(reported, stored, strict=True) if at != used]
    if len(wrong) < 2:
        return stored
    last, earliest = max(wrong), _earliest_plausible(charge_point)
    placed = []
    for at, used in zip(reported, stored, strict=True):
        if at != used:
            try:
                shifted = received - (last - at)
            except OverflowError:  # a span of thousands of years, before the year 1
                shifted = received
            used = shifted if shifted >= earliest else received
        placed.append(used)
    return placed


def _create_once(
    model: type[_M], rows: list[_M], *, key: Callable[[_M], tuple], stored: Callable[[list[_M]], Iterable[tuple]]
) -> list[_M]:
    """Insert the rows whose natural key is not stored yet; returns those inserted, with their ids.

    A report sent again (its answer lost in a crash, resent under a new message id) must not be stored
    twice: the model's unique constraints on that key decide. Rows equal among themselves count once.
    When nothing was sent again (the usual case) this is one insert; only when the database refuses
    one are the ``stored`` keys looked up, and a refusal with no stored key behind it is raised.
    """
    firsts: dict[tuple, _M] = {}
    for row in rows:
        firsts.setdefault(key(row), row)
    unique = list(firsts.values())
    try:
        with transaction.atomic():
            return model._default_manager.bulk_create(unique)
    except IntegrityError:
        for row in unique:  # a batch written before the refusal was rolled back with it
            row.pk, row._state.adding = None, True
        known = set(stored(unique))
        new = [row for row in unique if key(row) not in known]
        if len(new) == len(unique):
            raise
        return model._default_manager.bulk_create(new)


# --- connections -------------------------------------------------------------------------


@dataclass(frozen=True)
class Connection:
    """The outcome of a charger's websocket handshake."""

    charge_point: ChargePoint | None
    replaced_channel: str = ""  # the older socket of the same charger, to be closed
    contested_channel: str = ""  # a connection that looks alive: ask it before deciding
    unauthorized: bool = False  # refused for its credentials (unknown id, wrong or missing password, locked out)

    @property
    def accepted(self) -> bool:
        return self.charge_point is not None


def _security_event(
    kind: str,
    *,
    ocpp_id: str,
    remote_address: str | None,
    charge_point: ChargePoint | None = None,
    organization: Organization | None = None,
    detail: str = "",
    event_type: str = "",
) -> SecurityEvent | None:
    """Record it, or count it into an equal event of the last ``SECURITY_EVENT_WINDOW`` seconds, so a flood
    is a handful of rows. Equal: kind, operator, detail, the charger's ``event_type`` and charger; or, without a
    charger, address (a flood of unknown ids varies the id). Returns the new event; None when it was counted."""
    organization = organization or (charge_point.organization if charge_point else None)
    subject = f"charger {charge_point.pk}" if charge_point else f"address {remote_address}"
    equal = f"{kind}|{organization.pk if organization else ''}|{subject}|{detail}" + (
        f"|{event_type}" if event_type else ""
    )
    key = "security-event:" + hashlib.sha256(equal.encode()).hexdigest()
    now = timezone.now()
    window = timedelta(seconds=settings.SECURITY_EVENT_WINDOW)
    pk = cache.get(key)
    if pk and SecurityEvent.objects.filter(pk=pk, kind=kind, created_at__gte=now - window).update(
        count=F("count") + 1, last_at=now
    ):
        return None
    event = SecurityEvent.objects.create(
        kind=kind,
        ocpp_id=ocpp_id[:255],
        remote_address=remote_address,
        charge_point=charge_point,
        organization=organization,
        event_type=event_type,
        detail=detail,
        created_at=now,
        last_at=now,
    )
    cache.set(key, event.pk, window.total_seconds())
    return event


def charge_point_subprotocol_refused(*, ocpp_id: str, remote_address: str | None, offered: list[str]) -> None:
    """A handshake that offers no OCPP version we speak is refused before anything else: the operator of a
    known charger learns which versions it offered (a misconfigured charger, or someone probing)."""
    _security_event(
        SecurityEvent.Kind.SUBPROTOCOL_REFUSED,
        ocpp_id=ocpp_id,
        remote_address=remote_address,
        charge_point=ChargePoint.objects.select_related("organization").filter(ocpp_id=ocpp_id).first(),
        detail=("offered: " + ", ".join(offered) if offered else "offered: none")[:200],
    )


@transaction.atomic
def charge_point_connect(
    *,
    ocpp_id: str,
    organization_slug: str | None,
    password: str | None,
    remote_address: str | None,
    channel_name: str,
    at: datetime,
    previous_alive: bool | None = None,
    transport: charger_auth.Transport = charger_auth.PLAIN,
    protocol: str = ChargePoint.OcppProtocol.OCPP16,
) -> Connection:
    """Decide whether a websocket handshake may become this charger's connection.

    Refused: unknown ids (unless the operator named in the URL auto-registers chargers),
    a known id under another operator's URL, a handshake short of the charger's security profile
    (``charger_auth``: a wrong or missing password, no TLS, a missing or wrong client certificate),
    and an unauthenticated newcomer while the charger's current
    connection is alive. Every refusal and takeover is a security event.

    Whether the current connection is alive the database cannot tell for sure (a server
    process may have died holding it): when it looks alive, the answer is ``contested`` and
    the caller asks the connection itself, then calls again with ``previous_alive``.

    Failed passwords and unknown ids lock the charger id or the address out for a while (``lockout``):
    then the handshake is refused before any password is hashed.
    """
    if locked := lockout.handshake_lock(ocpp_id=ocpp_id, remote_address=remote_address):
        _security_event(
            SecurityEvent.Kind.LOCKED_OUT,
            ocpp_id=ocpp_id,
            remote_address=remote_address,
            charge_point=ChargePoint.objects.select_related("organization").filter(ocpp_id=ocpp_id).first(),
            detail=f"{locked} locked",
        )
        return Connection(None, unauthorized=True)
    known = ChargePoint.objects.select_for_update().select_related("organization").filter(ocpp_id=ocpp_id).first()
    organization = Organization.objects.filter(slug=organization_slug).first() if organization_slug else None
    if known is None or (organization_slug and known.organization != organization):
        if known is None and organization is not None and organization.auto_register_chargers:
            known = ChargePoint.objects.create(organization=organization, ocpp_id=ocpp_id, created_at=at)
            _security_event(
                SecurityEvent.Kind.REGISTERED, ocpp_id=ocpp_id, remote_address=remote_address, charge_point=known
            )
        else:
            _security_event(
                SecurityEvent.Kind.UNKNOWN_CHARGER,
                ocpp_id=ocpp_id,
                remote_address=remote_address,
                organization=organization,
            )
            lockout.handshake_failed(ocpp_id=None, remote_address=remote_address)
            return Connection(None, unauthorized=True)

    refusal = charger_auth.handshake_refusal(charge_point=known, password=password, transport=transport, at=at)
    if refusal is not None:
        _security_event(
            refusal.kind, ocpp_id=ocpp_id, remote_address=remote_address, charge_point=known, detail=refusal.detail
        )
        if refusal.failed_attempt:
            lockout.handshake_failed(ocpp_id=ocpp_id, remote_address=remote_address)
        return Connection(None, unauthorized=True)
    authenticated = charger_auth.authenticated(known)
    if authenticated:
        lockout.handshake_succeeded(ocpp_id=ocpp_id, remote_address=remote_address)

    previous = known.channel_name
    if previous and not authenticated and known.is_online(at) and previous_alive is not False:
        if previous_alive is None:
            return Connection(None, contested_channel=previous)
        _security_event(
            SecurityEvent.Kind.HIJACK_REFUSED,
            ocpp_id=ocpp_id,
            remote_address=remote_address,
            charge_point=known,
            detail="The charger's current connection is alive.",
        )
        return Connection(None)
    if previous:
        _security_event(
            SecurityEvent.Kind.CONNECTION_REPLACED, ocpp_id=ocpp_id, remote_address=remote_address, charge_point=known
        )
    # The connection history (offline time is the gaps between connections). A connection still open here
    # is being replaced: one that looks alive ends now; one a dead server process left open (it never saw
    # its socket close) ended with the charger's last message.
    alive = bool(previous) and known.is_online(at) and previous_alive is not False
    _connections_close(known, at=at if alive else min(known.last_seen_at or at, at))
    ChargerConnection.objects.create(charge_point=known, connected_at=at)
    known.channel_name, known.connected_at, known.last_seen_at = channel_name, at, at
    known.ocpp_protocol = protocol  # the subprotocol agreed at this handshake (the consumer's choice)
    known.save(update_fields=["channel_name", "connected_at", "last_seen_at", "ocpp_protocol"])
    board_changed([known])
    if not alive:  # back online (a connection replaced while alive kept it online)
        load_connections_changed([known.pk])
        hooks.connector_status_changed([known.pk])
    return Connection(known, previous)


def _connections_close(charge_point: ChargePoint, *, at: datetime) -> None:
    """End the charger's open connections at ``at`` (never before each one began)."""
    for connection in ChargerConnection.objects.filter(charge_point=charge_point, disconnected_at__isnull=True):
        connection.disconnected_at = max(at, connection.connected_at)
        connection.save(update_fields=["disconnected_at"])


def charge_point_disconnect(*, charge_point_id: int, channel_name: str, at: datetime | None = None) -> None:
    """The socket closed; forget it unless a newer connection has already taken its place.

    Its connection ends at ``at`` (now by default).
    """
    charge_point_disconnect_many(reports=[Disconnect(charge_point_id, channel_name)], now=at or timezone.now())


@dataclass(frozen=True)
class Disconnect:
    """One closed socket: the charger and the channel its connection had."""

    charge_point_id: int
    channel_name: str


@transaction.atomic
def charge_point_disconnect_many(*, reports: list[Disconnect], now: datetime) -> list[bool]:
    """Sockets closed at ``now``; each charger is forgotten unless a newer connection has taken its place.

    A server that stops closes thousands at once: the same few statements serve them all (the server
    batches disconnects through ``ocpp.batching``). The chargers' rows are locked first, so a newer
    connection being accepted at the same moment cannot have its own record closed here. Returns, per
    report, whether the socket was still the charger's connection.
    """
    current = {
        (pk, channel): organization_id
        for pk, channel, organization_id in ChargePoint.objects.select_for_update()
        .filter(pk__in={r.charge_point_id for r in reports}, channel_name__in={r.channel_name for r in reports})
        .order_by("pk")  # one locking order: two batches sharing chargers cannot deadlock
        .values_list("pk", "channel_name", "organization_id")
    }
    ended = [(r.charge_point_id, r.channel_name) for r in reports if (r.charge_point_id, r.channel_name) in current]
    ids = [pk for pk, _channel in ended]
    if ids:
        ChargePoint.objects.filter(pk__in=ids).update(channel_name="")
        ChargerConnection.objects.filter(charge_point_id__in=ids, disconnected_at__isnull=True).update(
            disconnected_at=Greatest(Value(now), F("connected_at")),  # never before the connection began
        )
        board_changed(ChargePoint(pk=key[0], organization_id=current[key]) for key in ended)
        load_connections_changed(ids)
        hooks.connector_status_changed(ids)
    held = [(r.charge_point_id, r.channel_name) in current for r in reports]
    return held


@transaction.atomic
def charge_point_seen(*, charge_point_id: int, at: datetime, channel_name: str | None = None) -> None:
    """The charger sent a message at ``at`` on the connection with ``channel_name`` (without one, only the
    time is written).

    A connection the sweep ended for its silence (``charge_points_disconnect_silent``) is the charger's again:
    it was offline meanwhile (DOMAIN: "Uptime"), so a new connection record begins now. The first update takes
    the row's lock: a sweep waits for it and then finds the charger heard from, or one that ended the
    connection first leaves nothing for it to update, and the connection is restored.
    """
    chargers = ChargePoint.objects.filter(pk=charge_point_id)
    connected = chargers.exclude(channel_name="") if channel_name else chargers
    if connected.update(last_seen_at=at) or not channel_name:
        return
    if chargers.filter(channel_name="").update(channel_name=channel_name, connected_at=at, last_seen_at=at):
        ChargerConnection.objects.create(charge_point_id=charge_point_id, connected_at=at)
        board_changed(chargers.only("organization_id"))
        load_connections_changed([charge_point_id])
        hooks.connector_status_changed([charge_point_id])


def charge_points_disconnect_silent(*, now: datetime | None = None) -> int:
    """End the connections of chargers silent for longer than ``offline_after`` their heartbeat interval.

    A server process killed right after a socket closed never stored that disconnect: the charger stays
    "connected" until it connects again, which one that is gone for good never does. Each connection ends at
    the charger's last message (``last_seen_at``), not now. Returns how many were ended.
    """
    now = now or timezone.now()
    connected = ChargePoint.objects.exclude(channel_name="").filter(last_seen_at__isnull=False)
    intervals = set(connected.values_list("heartbeat_interval", flat=True))
    silent = [
        pk
        for interval in sorted(intervals)
        for pk in connected.filter(heartbeat_interval=interval, last_seen_at__lt=now - offline_after(interval))
        .order_by("pk")
        .values_list("pk", flat=True)
    ]
    return sum(_charge_point_disconnect_silent(charge_point_id=pk, now=now) for pk in silent)


@transaction.atomic
def _charge_point_disconnect_silent(*, charge_point_id: int, now: datetime) -> bool:
    """End one silent charger's connection, checked again under its row's lock: one that connected again,
    sent a message or closed its socket meanwhile is left as it is."""
    charge_point = ChargePoint.objects.select_for_update().filter(pk=charge_point_id).first()
    if charge_point is None or not charge_point.channel_name or charge_point.is_online(now):
        return False
    _connections_close(charge_point, at=charge_point.last_seen_at or now)
    charge_point.channel_name = ""
    charge_point.save(update_fields=["channel_name"])
    board_changed([charge_point])
    load_connections_changed([charge_point.pk])
    hooks.connector_status_changed([charge_point.pk])
    return True


def charge_point_boot(
    *,
    charge_point: ChargePoint,
    vendor: str,
    model: str,
    serial_number: str,
    firmware_version: str,
    at: datetime,
    reason: str = "",
) -> ChargePoint:
    """Record what the charger says it is, and why it booted (2.0.1 says: a Watchdog reboot is a fault to look
    into); its registration status is the operator's decision."""
    charge_point.vendor, charge_point.model = vendor, model
    charge_point.serial_number, charge_point.firmware_version = serial_number, firmware_version
    charge_point.last_boot_at = charge_point.last_seen_at = at
    charge_point.last_boot_reason = reason
    charge_point.save(
        update_fields=[
            "vendor",
            "model",
            "serial_number",
            "firmware_version",
            "last_boot_at",
            "last_boot_reason",
            "last_seen_at",
        ]
    )
    return charge_point


# --- status --------------------------------------------------------------------------------


def connector_by_number(charge_point: ChargePoint, number: int) -> Connector | None:
    """Connector 0 is the station itself; other numbers are created as the charger reports them."""
    if number == 0:
        return None
    connector, _created = Connector.objects.get_or_create(
        charge_point=charge_point,
        number=number,
        defaults={"max_power_kw": Decimal(0)},
    )
    return connector


def _connectors_of(reports: list) -> dict[tuple[int, int], Connector | None]:
    """The connectors the reports name, by (charge point id, number), in one query; new numbers are created."""
    known: dict[tuple[int, int], Connector | None] = {
        (c.charge_point_id, c.number): c
        for c in Connector.objects.filter(charge_point_id__in={report.charge_point.pk for report in reports})
    }
    for report in reports:
        key = (report.charge_point.pk, report.connector_id)
        if key not in known:
            known[key] = connector_by_number(report.charge_point, report.connector_id)
    return known


@dataclass(frozen=True)
class StatusReport:
    """One StatusNotification."""

    charge_point: ChargePoint
    connector_id: int
    status: str
    error_code: str
    timestamp: datetime
    info: str = ""
    vendor_id: str = ""
    vendor_error_code: str = ""


def _status_key(event: StatusEvent) -> tuple:
    return event.charge_point_id, event.connector_id, event.timestamp, event.status, event.error_code


def _status_keys_stored(events: list[StatusEvent]) -> Iterable[tuple]:
    return StatusEvent.objects.filter(
        charge_point_id__in={event.charge_point_id for event in events},
        timestamp__in={event.timestamp for event in events},
    ).values_list("charge_point_id", "connector_id", "timestamp", "status", "error_code")


def _status_event(report: StatusReport, connector: Connector | None, now: datetime) -> StatusEvent:
    at = charger_time(charge_point=report.charge_point, reported=report.timestamp, received=now)
    return StatusEvent(
        charge_point=report.charge_point,
        connector=connector,
        status=report.status,
        error_code=report.error_code,
        info=report.info,
        vendor_id=report.vendor_id,
        vendor_error_code=report.vendor_error_code,
        timestamp=at,
        charger_timestamp=None if at == report.timestamp else report.timestamp,
        received_at=now,
    )


@transaction.atomic
def connector_status_record_many(*, reports: list[StatusReport], now: datetime) -> list[int | None]:
    """Keep every status report in the history, once; a connector's current status only moves forward in time.

    The server batches StatusNotifications from all chargers through here (``ocpp.batching``). A report
    already stored (see ``StatusEvent``) changes nothing; an implausible time is replaced by ``now`` (see
    ``charger_time``), so a clock at 9999 cannot hold a connector's status. Returns each report's new
    event id, None for one stored before.
    """
    connectors = _connectors_of(reports)
    events = [
        _status_event(report, connectors[(report.charge_point.pk, report.connector_id)], now) for report in reports
    ]
    status_times: dict[int, list[tuple[datetime, datetime]]] = defaultdict(list)
    for report, event in zip(reports, events, strict=True):
        status_times[report.charge_point.pk].append((report.timestamp, event.timestamp))
    _clock_wrong_note(status_times, now)
    created = {id(event) for event in _create_once(StatusEvent, events, key=_status_key, stored=_status_keys_stored)}
    stored_events = [event if id(event) in created else None for event in events]
    latest: dict[int, StatusEvent] = {}
    for event in filter(None, stored_events):
        if event.connector_id is not None and (
            event.connector_id not in latest or event.timestamp >= latest[event.connector_id].timestamp
        ):
            latest[event.connector_id] = event
    statuses_before = dict(Connector.objects.filter(pk__in=list(latest)).values_list("pk", "status"))
    moved: dict[int, int] = {}  # connector id -> charge point id, of the connectors whose status changed
    for connector_id, event in latest.items():
        updated = (
            Connector.objects.filter(pk=connector_id)
            .filter(Q(status_changed_at__isnull=True) | Q(status_changed_at__lte=event.timestamp))
            .update(status=event.status, error_code=event.error_code, status_changed_at=event.timestamp)
        )
        if updated and statuses_before.get(connector_id) != event.status:
            moved[connector_id] = event.charge_point_id
    hooks.connector_status_changed(moved.values(), connector_ids=moved)
    from sessions_app.reservations import ENDING_STATUSES, reservations_end_on_status  # it imports this module

    for event in filter(None, stored_events):
        if event.status in ENDING_STATUSES:  # a faulted or unavailable connector (0: charger) ends its reservations
            reservations_end_on_status(
                charge_point_id=event.charge_point_id, connector_id=event.connector_id, at=event.timestamp, now=now
            )
    board_changed(report.charge_point for report, event in zip(reports, stored_events, strict=True) if event)
    return [event.pk if event else None for event in stored_events]


# --- sessions ------------------------------------------------------------------------------


def session_flag(session: ChargingSession, code: str, detail: str = "") -> None:
    SessionFlag.objects.get_or_create(session=session, code=code, defaults={"detail": detail})


def _span(times: list[datetime]) -> str:
    first, last = min(times).isoformat(), max(times).isoformat()
    return first if first == last else f"{first} to {last}"


def _clock_wrong_note(times_by_charger: Mapping[int, Iterable[tuple[datetime, datetime]]], now: datetime) -> None:
    """Mark chargers for review when any of their times (reported, stored) was implausible and replaced: the
    operator's "needs attention" lists them, with the latest wrong time each sent. One write per such charger,
    whatever the number of reports in the batch."""
    for charge_point_id, times in times_by_charger.items():
        wrong = [reported for reported, stored in times if reported != stored]
        if wrong:
            ChargePoint.objects.filter(pk=charge_point_id).update(clock_wrong_at=now, clock_wrong_sent=max(wrong))


def session_flag_times(session: ChargingSession, times: Iterable[tuple[datetime, datetime]], now: datetime) -> None:
    """Flag a session whose charger times (reported, stored) were implausible and replaced (see ``charger_time``).

    One flag per kind, whatever the number of readings, its detail naming the charger's times (the original
    is kept there) and the ones used; the charger is marked for review too (``_clock_wrong_note``).
    """
    times = list(times)
    _clock_wrong_note({session.charge_point_id: times}, now)
    replaced: dict[str, list[tuple[datetime, datetime]]] = {}
    for reported, stored in times:
        if reported != stored:
            code: str = SessionFlag.Code.FUTURE_TIMESTAMP if reported > stored else SessionFlag.Code.PAST_TIMESTAMP
            replaced.setdefault(code, []).append((reported, stored))
    for code, pairs in replaced.items():
        session_flag(
            session,
            code,
            f"Charger time {_span([reported for reported, _ in pairs])}, "
            f"server time {_span([stored for _, stored in pairs])} used.",
        )


def session_start(
    *,
    charge_point: ChargePoint,
    connector_id: int,
    raw_uid: str,
    meter_start_wh: int,
    timestamp: datetime,
    now: datetime,
    reservation_id: int | None = None,
) -> ChargingSession:
    """Open a session from StartTransaction; a repeat of the same start returns the same session.

    The reservation it used (``reservation_id``, or the card's own on that connector) ends, linked to it
    (``reservations.reservation_use``).

    An implausible start time (a clock reset to 2000) is replaced by ``now`` (see ``charger_time``),
    kept in ``charger_started_at`` and flagged.

    The session is recorded even when the tag is not accepted (the charger may have started
    offline): it keeps the tag's real status and a flag, and the charger is told that status.
    """
    uid = id_tag_presented(raw_uid)
    connector = connector_by_number(charge_point, connector_id)
    started_at = charger_time(charge_point=charge_point, reported=timestamp, received=now)
    key: dict[str, object] = {"connector": connector, "id_tag_uid": uid, "meter_start_wh": meter_start_wh}
    # Its time as sent identifies a repeat, whether it was used or replaced (session_start_once, ..._as_sent).
    same = ChargingSession.objects.filter(
        Q(started_at=timestamp) | Q(charger_started_at=timestamp), charge_point=charge_point, **key
    )
    existing = same.first()
    if existing is not None:
        return existing
    if started_at != timestamp:
        key["charger_started_at"] = timestamp
    verdict = id_tag_authorize(charge_point=charge_point, raw_uid=raw_uid, at=started_at)
    try:
        with transaction.atomic():
            busy = ChargingSession.objects.filter(connector=connector, state=ChargingSession.State.ACTIVE).exists()
            session = ChargingSession.objects.create(
                charge_point=charge_point,
                id_tag=verdict.id_tag,
                customer_account=verdict.id_tag.customer_account if verdict.id_tag else None,
                auth_status=verdict.status,
                started_at=started_at,
                created_at=now,
                **key,
            )
            if verdict.status != AuthorizationStatus.ACCEPTED:
                session_flag(session, SessionFlag.Code.UNAUTHORIZED_START, f"The tag's status was {verdict.status}.")
            if busy:
                session_flag(
                    session, SessionFlag.Code.CONCURRENT_START, "Another session was still open on the connector."
                )
            session_flag_times(session, [(timestamp, started_at)], now)
            from sessions_app.reservations import reservation_use  # it imports this module

            reservation_use(session=session, reservation_id=reservation_id, now=now)
    except IntegrityError:
        existing = same.first()  # the same start, sent twice at once
        if existing is None:
            raise
        return existing
    board_changed([charge_point])
    load_changed([charge_point])
    hooks.sessions_changed([session.pk])
    return session


#: What MeterValue.value holds (20 digits, 6 after the point): a reading in base units stays below this.
METER_VALUE_LIMIT = Decimal(10) ** 14


def _number(sampled: dict) -> Decimal | None:
    """The sampled value as a number; None for text that is none (signed data, say)."""
    try:
        return Decimal(str(sampled["value"]))
    except (InvalidOperation, KeyError):
        return None


def _in_base_units(value: Decimal, unit: str) -> tuple[Decimal, str] | None:
    """(value, unit) with kWh, kW... turned into Wh, W...; None for NaN, infinity or a value too large to store."""
    scale = 1
    if unit in _UNIT_SCALE:
        unit, scale = _UNIT_SCALE[unit]
    if not value.is_finite() or value.copy_abs() >= METER_VALUE_LIMIT / scale:
        return None
    return value * scale, unit


def sampled_measurement(sampled: dict) -> tuple[str, Decimal, str] | None:
    """(measurand, value, unit) in base units, or None for a value that is not a number."""
    value = _number(sampled)
    based = None if value is None else _in_base_units(value, sampled.get("unit") or "Wh")
    if based is None:
        return None
    return sampled.get("measurand") or ENERGY_REGISTER, *based


def meter_value_unstorable(meter_value: list[dict]) -> str | None:
    """Why a MeterValues message cannot be stored as sent: a reading written as a number that is NaN, infinite
    or beyond any meter (1e400). The charger is told (a CALLERROR) rather than the reading silently dropped;
    text that is no number at all is still skipped, and signed data (``format: SignedData``) is never a number
    here: it is kept as sent (``signed_meter``)."""
    for reading in meter_value:
        for sampled in reading.get("sampled_value", []):
            if signed_meter.is_signed(sampled):
                continue
            value = _number(sampled)
            if value is not None and _in_base_units(value, sampled.get("unit") or "Wh") is None:
                return f"Sampled value {str(sampled['value'])[:40]!r} is not a finite number a meter can hold."
    return None


@dataclass(frozen=True)
class MeterValuesReport:
    """One MeterValues message (or a StopTransaction's transactionData), readings' times already parsed."""

    charge_point: ChargePoint
    connector_id: int
    transaction_id: int | None
    meter_value: list[dict]


def _meter_rows(
    *,
    charge_point: ChargePoint,
    connector: Connector | None,
    session: ChargingSession | None,
    meter_value: list[dict],
    now: datetime,
) -> tuple[list[MeterValue], list[tuple[datetime, datetime]]]:
    """The message's rows to store, and each reading's (reported, stored) time (see ``charger_times``)."""
    rows = []
    reported = [reading["timestamp"] for reading in meter_value]
    times = charger_times(charge_point=charge_point, reported=reported, received=now)
    for reading, sent, at in zip(meter_value, reported, times, strict=True):
        for sampled in reading.get("sampled_value", []):
            measured = None if signed_meter.is_signed(sampled) else sampled_measurement(sampled)
            if measured is None:
                continue
            measurand, value, unit = measured
            rows.append(
                MeterValue(
                    charge_point=charge_point,
                    connector=connector,
                    session=session,
                    timestamp=at,
                    measurand=measurand,
                    value=value,
                    unit=unit,
                    phase=sampled.get("phase") or "",
                    context=sampled.get("context") or "Sample.Periodic",
                    location=sampled.get("location") or "",
                    charger_timestamp=None if at == sent else sent,
                )
            )
    return rows, list(zip(reported, times, strict=True))


def _check_register(
    session: ChargingSession, floor: Decimal, floor_at: datetime | None, rows: list[MeterValue]
) -> tuple[Decimal, datetime | None]:
    """Flag a session whose energy register reads lower than an earlier reading (a meter fault or reset).

    Readings older than the last one stored (e.g. a Transaction.Begin value in the stop's
    transactionData) are history arriving late, not the meter going back. Returns the new
    latest reading and its time.
    """
    registers = sorted((row for row in rows if row.measurand == ENERGY_REGISTER), key=lambda row: row.timestamp)
    for row in registers:
        if floor_at is not None and row.timestamp < floor_at:
            continue
        if row.value < floor:
            session_flag(session, SessionFlag.Code.METER_BACKWARDS, f"Register read {row.value} Wh after {floor} Wh.")
        floor, floor_at = row.value, row.timestamp
    return floor, floor_at


def _reading_key(row: MeterValue) -> tuple:
    return (row.charge_point_id, row.connector_id, row.measurand, row.timestamp, row.phase, row.location, row.context)


def _reading_keys_stored(rows: list[MeterValue]) -> Iterable[tuple]:
    """The keys among ``rows`` already stored: looked up by the unique indexes' leading columns."""
    return MeterValue.objects.filter(
        Q(connector_id__in={row.connector_id for row in rows if row.connector_id is not None})
        | Q(
            connector__isnull=True,
            charge_point_id__in={row.charge_point_id for row in rows if row.connector_id is None},
        ),
        measurand__in={row.measurand for row in rows},
        timestamp__in={row.timestamp for row in rows},
    ).values_list("charge_point_id", "connector_id", "measurand", "timestamp", "phase", "location", "context")


_latest_register = MeterValue.objects.filter(session=OuterRef("pk"), measurand=ENERGY_REGISTER).order_by("-timestamp")


def _store_meter_values(reports: list[MeterValuesReport], now: datetime) -> list[int]:
    """Store many reports with a handful of queries, whatever their number; see ``meter_values_record_many``."""
    connectors = _connectors_of(reports)
    transaction_ids = {report.transaction_id for report in reports if report.transaction_id is not None}
    sessions = (
        {
            session.pk: session
            for session in ChargingSession.objects.filter(pk__in=transaction_ids).annotate(
                last_register=Subquery(_latest_register.values("value")[:1]),
                last_register_at=Subquery(_latest_register.values("timestamp")[:1]),
            )
        }
        if transaction_ids
        else {}
    )

    per_report = []
    signed: list[signed_meter.SignedSample] = []
    times_of: dict[int, list[tuple[datetime, datetime]]] = {}  # by session id: its readings' times in the batch
    station_times: dict[int, list[tuple[datetime, datetime]]] = defaultdict(
        list
    )  # by charger: readings outside sessions
    for report in reports:
        cp = report.charge_point
        connector = connectors[(cp.pk, report.connector_id)]
        session = sessions.get(report.transaction_id) if report.transaction_id is not None else None
        if session is not None and session.charge_point_id != cp.pk:
            session = None  # another station's transaction: keep the values, not the link
        rows, times = _meter_rows(
            charge_point=cp, connector=connector, session=session, meter_value=report.meter_value, now=now
        )
        signed += signed_meter.signed_samples(
            charge_point=cp,
            connector=connector,
            session=session,
            meter_value=report.meter_value,
            times=[at for _reported, at in times],
        )
        if session is not None:
            times_of.setdefault(session.pk, []).extend(times)
        else:
            station_times[cp.pk].extend(times)
        per_report.append((session, rows))
    _clock_wrong_note(station_times, now)
    for session_id, times in times_of.items():
        session_flag_times(sessions[session_id], times, now)  # once per session and batch, not per reading
    created = {
        id(row)
        for row in _create_once(
            MeterValue,
            [row for _session, rows in per_report for row in rows],
            key=_reading_key,
            stored=_reading_keys_stored,
        )
    }
    per_report = [(session, [row for row in rows if id(row) in created]) for session, rows in per_report]
    signed_meter.signed_meter_values_store(signed)  # after the plain readings, which they are compared with

    for session, rows in per_report:
        if session is None:
            continue
        floor = session.last_register if session.last_register is not None else Decimal(session.meter_start_wh)
        session.last_register, session.last_register_at = _check_register(
            session,
            floor,
            session.last_register_at,
            rows,
        )
    return [len(rows) for _session, rows in per_report]


@transaction.atomic
def meter_values_record_many(*, reports: list[MeterValuesReport], now: datetime) -> list[int]:
    """Store every sampled value of many MeterValues messages in one transaction; how many per report.

    The server batches MeterValues from all chargers through here (``ocpp.batching``).
    Values are kept as sent (any measurand), kWh/kW turned into Wh/W, linked to their session when it
    is the sending station's; a session whose energy register goes backwards is flagged. A reading
    already stored (see ``MeterValue``) is not stored again nor counted. Readings at implausible times
    end at the time received, their spacing kept (see ``charger_times``), and their session gets a flag
    naming the charger's times; such readings, sent again, cannot be recognised.
    """
    stored = _store_meter_values(reports, now)
    board_changed(
        (r.charge_point for r, count in zip(reports, stored, strict=True) if count and r.transaction_id is not None),
        readings_only=True,
    )
    load_draws_reported(report for report, count in zip(reports, stored, strict=True) if count)
    hooks.sessions_changed(
        r.transaction_id for r, count in zip(reports, stored, strict=True) if count and r.transaction_id is not None
    )
    return stored


def _orphan_stop(
    *,
    charge_point: ChargePoint,
    transaction_id: int,
    raw_uid: str,
    meter_stop_wh: int,
    timestamp: datetime,
    reason: str,
    now: datetime,
    code: str,
) -> ChargingSession:
    """A stop we cannot apply (unknown transaction, or another station's): keep it as a closed, flagged session."""
    at = charger_time(charge_point=charge_point, reported=timestamp, received=now)
    as_sent = {"started_at": at, "stopped_at": at} if at == timestamp else {"charger_stopped_at": timestamp}
    session, created = ChargingSession.objects.get_or_create(
        charge_point=charge_point,
        connector=None,
        meter_start_wh=meter_stop_wh,
        meter_stop_wh=meter_stop_wh,
        **as_sent,
        defaults={
            "id_tag_uid": id_tag_presented(raw_uid),
            "auth_status": AuthorizationStatus.INVALID,
            "energy_wh": 0,
            "state": ChargingSession.State.COMPLETED,
            "stop_reason": reason,
            "created_at": now,
            "started_at": at,
            "stopped_at": at,
        },
    )
    if created:
        session_flag(session, code, f"StopTransaction for transaction {transaction_id}.")
        session_flag_times(session, [(timestamp, at)], now)
    return session


def _foreign_stop_report(*, sender: ChargePoint, session: ChargingSession) -> bool:
    """A security event for a stop sent by a station that does not run the session; True if both are one operator's.

    Each operator learns only about its own stations. Between two operators, the session's owner
    is told its transaction was targeted without naming the sender, and the sender's operator sees
    only an unknown transaction (no event), exactly as if the number did not exist. The server log
    keeps both sides for the platform's staff.
    """
    owner = session.charge_point
    if owner.organization_id == sender.organization_id:
        _security_event(
            SecurityEvent.Kind.FOREIGN_STOP,
            ocpp_id=sender.ocpp_id,
            remote_address=None,
            charge_point=sender,
            detail=f"Transaction {session.pk} runs on {owner.ocpp_id}.",
        )
        return True
    _security_event(
        SecurityEvent.Kind.FOREIGN_STOP,
        ocpp_id=owner.ocpp_id,
        remote_address=None,
        charge_point=owner,
        detail=f"A charger of another operator sent a stop for transaction {session.pk}, which runs "
        f"on this station; the session was left running.",
    )
    logger.warning(
        "Charger %s (operator %s) sent a stop for transaction %s of charger %s (operator %s).",
        sender.ocpp_id,
        sender.organization_id,
        session.pk,
        owner.ocpp_id,
        owner.organization_id,
    )
    return False


@transaction.atomic
def session_stop(
    *,
    charge_point: ChargePoint,
    transaction_id: int,
    raw_uid: str,
    meter_stop_wh: int,
    timestamp: datetime,
    reason: str,
    transaction_data: list[dict],
    now: datetime,
    price_from: datetime | None = None,
) -> ChargingSession:
    """Close a session from StopTransaction. A repeated stop changes nothing; an implausible stop time is
    replaced by ``now`` (see ``charger_time``), kept and flagged. Its price and charge follow after the commit,
    or from ``price_from`` on (``post_stop.post_stop_work_begin``).

    Only the station that runs a transaction may stop it: a stop from another station is
    kept as a flagged record on the sender and a security event, and the real session is
    left alone.
    """
    session = ChargingSession.objects.select_for_update().filter(pk=transaction_id).first()
    if session is None or session.charge_point_id != charge_point.pk:
        same_operator = session is not None and _foreign_stop_report(sender=charge_point, session=session)
        code = SessionFlag.Code.FOREIGN_STATION_STOP if same_operator else SessionFlag.Code.UNKNOWN_TRANSACTION
        return _orphan_stop(
            charge_point=charge_point,
            transaction_id=transaction_id,
            raw_uid=raw_uid,
            meter_stop_wh=meter_stop_wh,
            timestamp=timestamp,
            reason=reason,
            now=now,
            code=code,
        )
    if session.state == ChargingSession.State.COMPLETED:
        return session

    session.state = ChargingSession.State.COMPLETED
    session.stopped_at = charger_time(charge_point=charge_point, reported=timestamp, received=now)
    session.charger_stopped_at = None if session.stopped_at == timestamp else timestamp
    session.meter_stop_wh = meter_stop_wh
    session.energy_wh = max(0, meter_stop_wh - session.meter_start_wh)
    session.stop_reason = reason
    session.save(
        update_fields=["state", "stopped_at", "charger_stopped_at", "meter_stop_wh", "energy_wh", "stop_reason"]
    )
    post_stop_work_begin(session=session, now=now, due=price_from)  # price, charge, rollups: crash-safe
    if transaction_data:
        connector_id = session.connector.number if session.connector else 0
        _store_meter_values([MeterValuesReport(charge_point, connector_id, session.pk, transaction_data)], now)
        # A stop is never refused (MeterValues would get a CALLERROR): what cannot be stored is flagged instead.
        if problem := meter_value_unstorable(transaction_data):
            session_flag(session, SessionFlag.Code.UNSTORABLE_READING, problem)
    if meter_stop_wh < session.meter_start_wh:
        session_flag(
            session,
            SessionFlag.Code.METER_BACKWARDS,
            f"Meter stop {meter_stop_wh} Wh < start {session.meter_start_wh} Wh.",
        )
    elif session.energy_wh == 0:
        session_flag(session, SessionFlag.Code.ZERO_ENERGY)
    if session.stopped_at < session.started_at:
        session_flag(session, SessionFlag.Code.STOP_BEFORE_START)
    session_flag_times(session, [(timestamp, session.stopped_at)], now)
    board_changed([charge_point])
    load_changed([charge_point])
    hooks.sessions_changed([session.pk])
    return session


def _capped(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` bytes of UTF-8, with a marker saying how much arrived."""
    if len(text) * 4 <= limit:  # no character takes more than 4 bytes
        return text
    encoded = text.encode()
    if len(encoded) <= limit:
        return text
    kept = encoded[:limit].decode(errors="ignore")
    return f"{kept}\n[cut: {len(encoded)} bytes received, the first {limit} kept]"


#: A charger event equal to the charger's latest of its kind received this recently is that one sent again.
EVENT_RESEND_WINDOW = timedelta(minutes=10)


@transaction.atomic
def charger_event_record(
    *,
    charge_point: ChargePoint,
    kind: str,
    status: str = "",
    vendor_id: str = "",
    message_id: str = "",
    data: str = "",
    at: datetime,
) -> ChargerEvent:
    """Keep what a charger reported, once; data beyond OCPP_EVENT_DATA_MAX_BYTES is cut off (with a marker), as a
    charger may send megabytes in one DataTransfer.

    DataTransfer and firmware or diagnostics notifications carry no time of the charger's, and one resent
    after a crash may carry a new message id, so no key tells a resend from a repeat. The rule: equal to the
    charger's latest event of the same kind, vendor id and message id (status and data alike), received within
    EVENT_RESEND_WINDOW, it is that one sent again and is returned instead. So a status reported again after
    another one (Downloading, DownloadFailed, Downloading) is kept, and vendor data repeated unchanged within
    the window is kept once. The charger's row is locked meanwhile: two connections of one charger (a node
    taking over) cannot both store it.
    """
    data = _capped(data, settings.OCPP_EVENT_DATA_MAX_BYTES)
    list(ChargePoint.objects.select_for_update().filter(pk=charge_point.pk).values_list("pk"))
    latest = (
        ChargerEvent.objects.filter(
            charge_point=charge_point,
            received_at__gte=at - EVENT_RESEND_WINDOW,
            kind=kind,
            vendor_id=vendor_id,
            message_id=message_id,
        )
        .order_by("-received_at", "-pk")
        .first()
    )
    if latest is not None and (latest.status, latest.data) == (status, data):
        return latest
    return ChargerEvent.objects.create(
        charge_point=charge_point,
        kind=kind,
        status=status,
        vendor_id=vendor_id,
        message_id=message_id,
        data=data,
        received_at=at,
    )


def charger_command_record(
    *,
    charge_point: ChargePoint,
    action: str,
    request: dict,
    outcome: str,
    answer: dict,
    error_code: str = "",
    error_description: str = "",
    sent_at: datetime,
    finished_at: datetime,
) -> ChargerCommand:
    """Keep a command sent to a charger and what came of it on the charger's history; never a charger's password
    (``log_redaction.command_redacted``)."""
    request, answer = command_redacted(action, request, answer)
    return ChargerCommand.objects.create(
        charge_point=charge_point,
        action=action,
        request=request,
        outcome=outcome,
        status=str(answer.get("status", ""))[:50],
        answer=answer,
        error_code=error_code[:50],
        error_description=error_description[:255],
        sent_at=sent_at,
        finished_at=finished_at,
    )


def charge_points_approve(*, charge_points: QuerySet[ChargePoint]) -> int:
    """An operator accepts pending chargers; only those with a site can be. Returns how many."""
    return charge_points.filter(
        registration_status=ChargePoint.RegistrationStatus.PENDING,
        site__isnull=False,
    ).update(registration_status=ChargePoint.RegistrationStatus.ACCEPTED)

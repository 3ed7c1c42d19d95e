"""The local authorization list (OCPP 1.6 3.5, 5.15 SendLocalList, 6.x AuthorizationData) as a feature.

An operator chooses per charge point (``ChargePoint.local_auth_list``; empty: its site's ``local_auth_list``) to
keep on the charger a list of the cards that may charge there, so drivers can start while it is offline.

- **What the list should hold** (``local_list_desired``): every card of the charger's operator that may charge now,
  by the same rules as Authorize (``accounts.selectors.id_tag_judge`` and the registered authorization checks),
  with its expiry and group card (parentIdTag); the most recently used first.
- **What the charger holds** is ``LocalAuthList.entries``: only what it confirmed (Accepted), at ``version``.
- **What to send** (``local_list_plan``, pure): a Full list the first time, after VersionMismatch or Failed, or when
  the differential would be longer than the full list; else a Differential update: new and changed cards, cards
  that may no longer charge *with* their status (Blocked, Expired: a status on the list outranks the charger's
  cache and its offline rules), and cards gone from the system removed. A full list simply leaves refused cards
  out. Its size keeps to the charger's ``LocalAuthListMaxLength`` (the most recently used cards first; how many
  were left out is shown with the state) and each message to ``SendLocalListMaxLength`` (a long list goes as a
  Full message followed by Differential ones, each with the next version).
- **Sending** (``local_list_sync``) goes through ``commands.command_send`` (on the charger's command history).
  Accepted: the entries and version are stored. Failed (or no answer): a full list again later, waiting
  ``LOCAL_LIST_RETRY_BASE_SECONDS`` doubled per failed attempt. VersionMismatch: the charger's version is read
  (GetLocalListVersion) and a full list sent at once. NotSupported (or a CALLERROR saying so): the state is
  ``unsupported`` until the charger reports a list version at boot, or the operator asks for the full list again.
- **When**: cards change (``accounts.hooks.id_tag_changed_handlers``, registered in ``apps``), the charger boots
  (``local_list_boot``: GetConfiguration for LocalAuthListEnabled, LocalAuthListMaxLength and
  SendLocalListMaxLength, stored on the charge point; LocalAuthListEnabled switched on when it is off;
  GetLocalListVersion), every minute (``local_list_sweep``: beat, or the server's own sweeper without a broker),
  which also catches expiries, wallets running dry and a charger back online without a boot, and when the
  operator asks (``local_list_resend``). Each runs as a Celery task by charger id (inline without a broker).
"""

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Max, Q, QuerySet
from django.utils import timezone

from accounts.models import AuthorizationStatus, IdTag
from accounts.selectors import id_tag_judge
from core.timeutil import utc_text
from sessions_app import hooks
from sessions_app.models import ChargePoint, ChargingSession, LocalAuthList
from sessions_app.ocpp import command_payloads
from sessions_app.ocpp.commands import CommandResult, command_send

logger = logging.getLogger(__name__)

#: The configuration keys read at boot (OCPP 1.6 9.1, Local Auth List Management profile).
ENABLED_KEY = "LocalAuthListEnabled"
MAX_LENGTH_KEY = "LocalAuthListMaxLength"
SEND_MAX_LENGTH_KEY = "SendLocalListMaxLength"
#: Seconds each command of the feature waits for the charger's answer.
COMMAND_TIMEOUT = 30
#: The longest wait before a failed list is sent again.
MAX_RETRY_DELAY = timedelta(hours=6)
#: CALLERROR codes that say the charger has no local list.
_UNSUPPORTED_ERRORS = ("NotSupported", "NotImplemented")

Entries = dict[str, dict]  # id tag -> idTagInfo (snake_case: status, expiry_date, parent_id_tag; absent ones left out)


# --- which chargers, which cards -------------------------------------------------------------------------------


def local_list_wanted(charge_point: ChargePoint) -> bool:
    """Whether the operator wants a local list on this charger: its own choice, else its site's."""
    if charge_point.local_auth_list is not None:
        return charge_point.local_auth_list
    return bool(charge_point.site_id and charge_point.site and charge_point.site.local_auth_list)


def _wanted_q() -> Q:
    return Q(local_auth_list=True) | Q(local_auth_list__isnull=True, site__local_auth_list=True)


def local_list_charge_points(*, organization_ids: Iterable[int] | None = None) -> QuerySet[ChargePoint]:
    """Accepted chargers that keep a list, or still hold one the operator no longer wants (to be emptied)."""
    holding = Q(local_auth_list_state__isnull=False) & ~Q(local_auth_list_state__entries={})
    found = ChargePoint.objects.filter(registration_status=ChargePoint.RegistrationStatus.ACCEPTED).filter(
        _wanted_q() | holding
    )
    if organization_ids is not None:
        found = found.filter(organization_id__in=list(organization_ids))
    return found.select_related("site").order_by("pk")


@dataclass(frozen=True)
class DesiredList:
    """``accepted``: the cards that may charge, most recently used first; ``refused``: the operator's other cards,
    with the status a charger that still lists them must learn."""

    accepted: Entries = field(default_factory=dict)
    refused: Entries = field(default_factory=dict)


def local_list_desired(*, organization_id: int, at: datetime) -> DesiredList:
    """The operator's cards as a local list should hold them at ``at`` (the rules of Authorize, without the
    charger's side: concurrency is for the moment of a start, not for a list)."""
    tags = IdTag.objects.filter(customer_account__organization_id=organization_id).select_related(
        "customer_account", "parent"
    )
    last_used = dict(
        ChargingSession.objects.filter(id_tag__customer_account__organization_id=organization_id)
        .values("id_tag_id")
        .annotate(last=Max("started_at"))
        .values_list("id_tag_id", "last")
    )
    earliest = datetime.min.replace(tzinfo=UTC)
    ordered = sorted(tags, key=lambda tag: (last_used.get(tag.pk) or earliest, tag.issued_at, tag.pk), reverse=True)
    accepted: Entries = {}
    refused: Entries = {}
    for tag in ordered:
        verdict = id_tag_judge(tag=tag, at=at)
        status = verdict.status
        if status == AuthorizationStatus.ACCEPTED:
            status = hooks.authorization_refusal(tag, at) or status
        if status == AuthorizationStatus.NO_CREDIT:  # OCPP 1.6 knows no NoCredit
            status = AuthorizationStatus.BLOCKED
        info: dict = {"status": str(status)}
        if verdict.expiry_date is not None:
            info["expiry_date"] = utc_text(verdict.expiry_date)
        if verdict.parent_id_tag:
            info["parent_id_tag"] = verdict.parent_id_tag
        (accepted if status == AuthorizationStatus.ACCEPTED else refused)[tag.uid] = info
    return DesiredList(accepted, refused)


# --- what to send (pure) ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """``messages``: each message's localAuthorizationList, the first of ``update_type`` and the rest Differential
    (none: the charger is up to date); ``target``: the entries the charger holds once all are accepted;
    ``left_out``: cards that may charge but found no room on the charger."""

    update_type: str | None
    messages: list[list[dict]]
    target: Entries
    left_out: int = 0


def _entry(id_tag: str, info: dict | None) -> dict:
    return {"id_tag": id_tag, "id_tag_info": info} if info else {"id_tag": id_tag}


def _chunks(entries: list[dict], size: int | None) -> list[list[dict]]:
    if not entries:
        return [[]]
    if not size or size <= 0:
        return [entries]
    return [entries[start : start + size] for start in range(0, len(entries), size)]


def local_list_plan(
    *, confirmed: Entries, desired: DesiredList, full: bool, capacity: int | None, per_message: int | None
) -> Plan:
    """What to send so a charger holding ``confirmed`` holds ``desired``.

    ``capacity`` (LocalAuthListMaxLength) bounds the list: the first cards of ``desired.accepted`` (the most
    recently used) are kept. ``per_message`` (SendLocalListMaxLength) bounds each message.
    """
    room = len(desired.accepted) if capacity is None else max(capacity, 0)
    full_target: Entries = dict(list(desired.accepted.items())[:room])
    left_out = len(desired.accepted) - len(full_target)
    differential_target = dict(full_target)
    for id_tag in confirmed:
        if id_tag not in differential_target and id_tag in desired.refused:
            differential_target[id_tag] = desired.refused[id_tag]
    changes = [_entry(id_tag, info) for id_tag, info in differential_target.items() if confirmed.get(id_tag) != info]
    changes += [_entry(id_tag, None) for id_tag in confirmed if id_tag not in differential_target]
    if not full and not changes:
        return Plan(None, [], dict(confirmed), left_out)
    too_long = capacity is not None and len(differential_target) > capacity
    if full or too_long or len(changes) > len(full_target):
        entries = [_entry(id_tag, info) for id_tag, info in full_target.items()]
        return Plan("Full", _chunks(entries, per_message), full_target, left_out)
    return Plan("Differential", _chunks(changes, per_message), differential_target, left_out)


def local_list_apply(entries: Entries, update_type: str, message: list[dict]) -> Entries:
    """The entries a charger holds after accepting one message."""
    held: Entries = {} if update_type == "Full" else dict(entries)
    for entry in message:
        if entry.get("id_tag_info"):
            held[entry["id_tag"]] = entry["id_tag_info"]
        else:
            held.pop(entry["id_tag"], None)
    return held


def retry_delay(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failed attempt: the base, doubled each time, at most ``MAX_RETRY_DELAY``."""
    base = timedelta(seconds=settings.LOCAL_LIST_RETRY_BASE_SECONDS)
    return min(base * 2 ** min(max(attempts - 1, 0), 20), MAX_RETRY_DELAY)


# --- sending ----------------------------------------------------------------------------------------------------


def _state_of(charge_point: ChargePoint) -> LocalAuthList:
    state, _created = LocalAuthList.objects.get_or_create(charge_point=charge_point)
    return state


def _unsupported(result: CommandResult) -> bool:
    return result.outcome == "error" and result.code in _UNSUPPORTED_ERRORS


def _fail(state: LocalAuthList, status: str, now: datetime) -> None:
    state.state, state.full_needed, state.last_status = LocalAuthList.State.FAILED, True, status
    state.attempts += 1
    state.last_sent_at = now
    state.save()


def _charger_version(charge_point: ChargePoint) -> int | None:
    result = command_send(charge_point, "GetLocalListVersion", {}, COMMAND_TIMEOUT)
    if result.outcome != "answered":
        return None
    return int(result.payload.get("list_version", 0))


@dataclass(frozen=True)
class SyncResult:
    """``outcome``: in_sync (nothing to send), sent (all accepted), offline, busy (another sync runs), not_due (a
    failed list waits), unsupported, not_kept, or the charger's refusal (Failed, VersionMismatch, timeout, ...)."""

    outcome: str
    messages: int = 0
    left_out: int = 0


def local_list_sync(*, charge_point_id: int, full: bool = False, now: datetime | None = None) -> SyncResult:
    """Bring one charger's list up to date (see the module's docstring); ``full`` sends the whole list whatever the
    state (the operator's "send again"). One sync per charger at a time (a lock in the cache)."""
    now = now or timezone.now()
    charge_point = ChargePoint.objects.select_related("site").get(pk=charge_point_id)
    wanted = local_list_wanted(charge_point)
    if not wanted and not LocalAuthList.objects.filter(charge_point=charge_point).exclude(entries={}).exists():
        return SyncResult("not_kept")
    if charge_point.registration_status != ChargePoint.RegistrationStatus.ACCEPTED:
        return SyncResult("not_kept")
    lock = f"local-list-sync:{charge_point.pk}"
    if not cache.add(lock, now.isoformat(), timeout=COMMAND_TIMEOUT * 20):
        return SyncResult("busy")
    try:
        return _sync(charge_point, wanted=wanted, full=full, now=now)
    finally:
        cache.delete(lock)


def _sync(charge_point: ChargePoint, *, wanted: bool, full: bool, now: datetime) -> SyncResult:
    state = _state_of(charge_point)
    if full:
        state.full_needed, state.attempts = True, 0
        if state.state in (LocalAuthList.State.UNSUPPORTED, LocalAuthList.State.FAILED):
            state.state = LocalAuthList.State.PENDING
    if state.state == LocalAuthList.State.UNSUPPORTED:
        return SyncResult("unsupported")
    if (
        state.state == LocalAuthList.State.FAILED
        and state.last_sent_at is not None
        and now < state.last_sent_at + retry_delay(state.attempts)
    ):
        return SyncResult("not_due")
    desired = local_list_desired(organization_id=charge_point.organization_id, at=now) if wanted else DesiredList()
    for _round in range(2):  # a VersionMismatch gets one full list at once
        plan = local_list_plan(
            confirmed=state.entries,
            desired=desired,
            full=state.full_needed,
            capacity=charge_point.local_list_max_length,
            per_message=charge_point.send_local_list_max_length,
        )
        if plan.update_type is None:
            if state.state != LocalAuthList.State.IN_SYNC:
                state.state = LocalAuthList.State.IN_SYNC
                state.save()
            return SyncResult("in_sync", left_out=plan.left_out)
        if not charge_point.channel_name:
            state.state = LocalAuthList.State.PENDING if state.state != LocalAuthList.State.FAILED else state.state
            state.save()
            return SyncResult("offline", left_out=plan.left_out)
        outcome = _send(charge_point, state, plan, now)
        if outcome != "VersionMismatch":
            return SyncResult(outcome, len(plan.messages), plan.left_out)
        charger_version = _charger_version(charge_point)
        if charger_version is not None and charger_version > state.version:
            state.version = charger_version
            state.save()
    _fail(state, "VersionMismatch", now)  # a full list refused for its version: wait and try again
    return SyncResult("VersionMismatch", left_out=plan.left_out)


def _send(charge_point: ChargePoint, state: LocalAuthList, plan: Plan, now: datetime) -> str:
    """Send the plan's messages in order; stop at the first that is not accepted. Returns "sent" or what came."""
    for number, message in enumerate(plan.messages):
        update_type = plan.update_type if number == 0 else "Differential"
        version = state.version + 1
        _action, payload = command_payloads.command_payload(
            command_payloads.send_local_list(
                list_version=version, update_type=str(update_type), local_authorization_list=message
            )
        )
        result = command_send(charge_point, "SendLocalList", payload, COMMAND_TIMEOUT)
        state.last_sent_at = timezone.now()
        if result.outcome == "offline":
            state.state = LocalAuthList.State.PENDING
            state.save()
            return "offline"
        if _unsupported(result) or result.status == "NotSupported":
            state.state, state.last_status = LocalAuthList.State.UNSUPPORTED, "NotSupported"
            state.save()
            return "unsupported"
        if result.outcome != "answered":  # timeout, no answer, error: whether it took is unknown
            _fail(state, result.code or result.outcome, now)
            return result.outcome
        if result.status == "VersionMismatch":
            state.full_needed, state.last_status, state.state = True, "VersionMismatch", LocalAuthList.State.PENDING
            state.save()
            return "VersionMismatch"
        if result.status != "Accepted":  # Failed
            _fail(state, result.status or "Failed", now)
            return result.status or "Failed"
        state.entries = local_list_apply(state.entries, str(update_type), message)
        state.version, state.full_needed, state.attempts = version, False, 0
        state.last_status = "Accepted"
        state.state = LocalAuthList.State.IN_SYNC if number == len(plan.messages) - 1 else LocalAuthList.State.PENDING
        state.save()
    return "sent"


# --- at boot ----------------------------------------------------------------------------------------------------


def _positive(value) -> int | None:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if number >= 0 else None


def local_list_boot(*, charge_point_id: int) -> SyncResult:
    """After a BootNotification: read the charger's list settings, switch its list on when the operator wants one
    and it is off, compare list versions, then sync."""
    charge_point = ChargePoint.objects.select_related("site").get(pk=charge_point_id)
    wanted = local_list_wanted(charge_point)
    if not wanted and not LocalAuthList.objects.filter(charge_point=charge_point).exclude(entries={}).exists():
        return SyncResult("not_kept")
    keys = [ENABLED_KEY, MAX_LENGTH_KEY, SEND_MAX_LENGTH_KEY]
    configuration = command_send(charge_point, "GetConfiguration", {"key": keys}, COMMAND_TIMEOUT)
    if configuration.outcome == "offline":
        return SyncResult("offline")
    values = {
        item.get("key"): item.get("value")
        for item in configuration.payload.get("configuration_key") or []
        if isinstance(item, dict)
    }
    capacity, per_message = _positive(values.get(MAX_LENGTH_KEY)), _positive(values.get(SEND_MAX_LENGTH_KEY))
    ChargePoint.objects.filter(pk=charge_point.pk).update(
        local_list_max_length=capacity, send_local_list_max_length=per_message
    )
    state = _state_of(charge_point)
    if wanted and str(values.get(ENABLED_KEY, "")).strip().lower() == "false":
        change = command_send(
            charge_point, "ChangeConfiguration", {"key": ENABLED_KEY, "value": "true"}, COMMAND_TIMEOUT
        )
        if change.outcome == "answered" and change.status not in ("Accepted", "RebootRequired"):
            state.state, state.last_status = LocalAuthList.State.UNSUPPORTED, change.status
            state.save()
            return SyncResult("unsupported")
    version = command_send(charge_point, "GetLocalListVersion", {}, COMMAND_TIMEOUT)
    if _unsupported(version) or (version.outcome == "answered" and version.payload.get("list_version") == -1):
        state.state, state.last_status = LocalAuthList.State.UNSUPPORTED, "NotSupported"
        state.save()
        return SyncResult("unsupported")
    if version.outcome == "answered":
        charger_version = int(version.payload.get("list_version", 0))
        if state.state == LocalAuthList.State.UNSUPPORTED:  # it has a list now (new firmware)
            state.state, state.full_needed = LocalAuthList.State.PENDING, True
        if charger_version != state.version:  # reset, replaced, or lists sent by someone else: start again
            state.full_needed = True
            state.version = max(state.version, charger_version)
        state.save()
    return local_list_sync(charge_point_id=charge_point.pk)


# --- triggers ---------------------------------------------------------------------------------------------------


def _enqueue(task_name: str, charge_point_ids: list[int], **options) -> None:
    from sessions_app import tasks  # the tasks module imports this one

    task = getattr(tasks, task_name)
    for charge_point_id in charge_point_ids:
        try:
            task.delay(charge_point_id, **options)
        except Exception:
            logger.exception("Could not queue %s for charger %s: the sweep will.", task_name, charge_point_id)


def local_list_sync_enqueue(*, charge_point_ids: list[int], full: bool = False) -> None:
    """Queue a sync per charger once the current transaction commits (inline without a broker)."""
    ids = list(charge_point_ids)
    transaction.on_commit(lambda: _enqueue("local_list_sync_task", ids, full=full))


def local_list_cards_changed(id_tag_ids: list[int]) -> int:
    """Registered in ``accounts.hooks.id_tag_changed_handlers``: cards changed, so the lists of their operators'
    chargers are out of date. Online chargers get a sync now; the others are marked pending and get it when they
    are back. Returns how many syncs were queued."""
    organization_ids = set(
        IdTag.objects.filter(pk__in=id_tag_ids).values_list("customer_account__organization_id", flat=True)
    )
    if not organization_ids:
        return 0
    charge_points = list(local_list_charge_points(organization_ids=organization_ids))
    LocalAuthList.objects.filter(charge_point__in=charge_points, state=LocalAuthList.State.IN_SYNC).update(
        state=LocalAuthList.State.PENDING
    )
    online = [charge_point.pk for charge_point in charge_points if charge_point.channel_name]
    local_list_sync_enqueue(charge_point_ids=online)
    return len(online)


def local_list_boot_enqueue(*, charge_point_id: int) -> bool:
    """After a charger's BootNotification: queue its boot sync when it keeps (or still holds) a list."""
    if not local_list_charge_points().filter(pk=charge_point_id).exists():
        return False
    transaction.on_commit(lambda: _enqueue("local_list_boot_task", [charge_point_id]))
    return True


def local_list_resend(*, charge_point: ChargePoint) -> None:
    """The operator asks for the full list again (also after NotSupported or a failure)."""
    state = _state_of(charge_point)
    state.full_needed, state.attempts = True, 0
    if state.state != LocalAuthList.State.IN_SYNC:
        state.state = LocalAuthList.State.PENDING
    state.save()
    local_list_sync_enqueue(charge_point_ids=[charge_point.pk], full=True)


def local_list_sent_by_hand(*, charge_point_id: int) -> None:
    """Someone sent a SendLocalList of their own (command form, operator API): the list the system tracks may no
    longer be the charger's, so its next update is the full list."""
    LocalAuthList.objects.filter(charge_point_id=charge_point_id).exclude(state=LocalAuthList.State.UNSUPPORTED).update(
        full_needed=True, state=LocalAuthList.State.PENDING
    )


def local_list_sweep(*, now: datetime | None = None) -> int:
    """Every minute: queue a sync for each online charger whose list is pending, failed and due again, or no longer
    what it should be (a card expired, a wallet ran dry, an edit no service announced). Returns how many."""
    now = now or timezone.now()
    desired: dict[int, DesiredList] = {}
    due = []
    for charge_point in local_list_charge_points().exclude(channel_name="").select_related("local_auth_list_state"):
        state = getattr(charge_point, "local_auth_list_state", None)
        if state is None:
            due.append(charge_point.pk)
            continue
        if state.state == LocalAuthList.State.UNSUPPORTED:
            continue
        if state.state == LocalAuthList.State.FAILED:
            if state.last_sent_at is None or now >= state.last_sent_at + retry_delay(state.attempts):
                due.append(charge_point.pk)
            continue
        if state.state == LocalAuthList.State.PENDING or state.full_needed:
            due.append(charge_point.pk)
            continue
        wanted = local_list_wanted(charge_point)
        if wanted and charge_point.organization_id not in desired:
            desired[charge_point.organization_id] = local_list_desired(
                organization_id=charge_point.organization_id, at=now
            )
        plan = local_list_plan(
            confirmed=state.entries,
            desired=desired[charge_point.organization_id] if wanted else DesiredList(),
            full=False,
            capacity=charge_point.local_list_max_length,
            per_message=charge_point.send_local_list_max_length,
        )
        if plan.update_type is not None:
            due.append(charge_point.pk)
    _enqueue("local_list_sync_task", due)
    return len(due)


# --- for the admin and the API ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ListSummary:
    state: LocalAuthList | None
    wanted: bool
    entries: int
    cards_allowed: int
    left_out: int


def local_list_summary(*, charge_point: ChargePoint, now: datetime | None = None) -> ListSummary:
    """The list's state on one charger, with how many cards found no room on it."""
    state = LocalAuthList.objects.filter(charge_point=charge_point).first()
    wanted = local_list_wanted(charge_point)
    allowed = 0
    if wanted:
        allowed = len(
            local_list_desired(organization_id=charge_point.organization_id, at=now or timezone.now()).accepted
        )
    capacity = charge_point.local_list_max_length
    left_out = max(allowed - capacity, 0) if capacity is not None else 0
    return ListSummary(state, wanted, len(state.entries) if state else 0, allowed, left_out)

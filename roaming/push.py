"""What we send to partners, through an outbox (``PushItem``): stored in the transaction that caused it, sent after
the commit, retried with back-off until the partner acknowledges it (an OCPI 1xxx status), so a partner offline
for an hour gets everything once it is back, and a crash between the commit and the call loses nothing.

Pushes of one object (its ``key``, e.g. ``evse:<uid>``, ``session:<id>``) replace each other while unsent: the
partner gets the newest state, not every step. A CDR is its own key (``cdr:<id>``), never replaced.

Sending: ``push_send_due`` takes the due rows, each claimed by a conditional update (several servers or workers
sweeping at once never send one twice at the same moment), calls the partner and marks the row sent, or sets its
next attempt (``BACKOFF`` doubling up to ``BACKOFF_MAX``) and keeps the error for the admin.
"""

import logging
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from core.background import task_queue
from roaming.client import PartnerUnreachable, partner_call
from roaming.models import Partner, PushItem

logger = logging.getLogger(__name__)

#: The first retry's delay, doubled per attempt up to BACKOFF_MAX.
BACKOFF = timedelta(seconds=15)
BACKOFF_MAX = timedelta(minutes=10)
#: A claimed row not finished after this (its sender died) is due again.
CLAIM_SECONDS = 60
#: Rows one sweep sends at most.
BATCH = 200


def push_enqueue(
    *, partner: Partner, module: str, key: str, method: str, url: str, body: Any, send_now: bool = True
) -> PushItem:
    """Store a push to the partner (replacing an unsent one of the same object and method) and send it after the
    commit. ``send_now`` False leaves it to the sweep."""
    with transaction.atomic():
        item = (
            PushItem.objects.select_for_update()
            .filter(partner=partner, key=key, method=method, status=PushItem.Status.PENDING)
            .first()
        )
        if item is None:
            item = PushItem.objects.create(partner=partner, module=module, key=key, method=method, url=url, body=body)
        else:
            item.url, item.body, item.next_attempt_at = url, body, min(item.next_attempt_at, timezone.now())
            item.save(update_fields=["url", "body", "next_attempt_at"])
    if send_now:
        transaction.on_commit(lambda: _send_soon([item.pk]), robust=True)
    return item


def _send_soon(ids: list[int]) -> None:
    from roaming.tasks import push_send_task  # the tasks import this module

    task_queue(push_send_task, ids)


def _claim(item_id: int, now: datetime) -> datetime | None:
    """Take the row for one send: it is due and no one else holds it (a holder pushes next_attempt_at ahead).
    Returns the claim's mark (its next_attempt_at), or None. A newer body stored meanwhile (``push_enqueue``) moves
    next_attempt_at to now, so the mark no longer matches: the sender then leaves the row to be sent again."""
    claimed = now + timedelta(seconds=CLAIM_SECONDS)
    taken = PushItem.objects.filter(pk=item_id, status=PushItem.Status.PENDING, next_attempt_at__lte=now).update(
        next_attempt_at=claimed
    )
    return claimed if taken else None


def push_send(*, item_id: int, now: datetime | None = None) -> bool:
    """Send one due push now; returns whether the partner acknowledged it."""
    now = now or timezone.now()
    claimed = _claim(item_id, now)
    if claimed is None:
        return False
    item = PushItem.objects.select_related("partner", "partner__organization").get(pk=item_id)
    try:
        reply = partner_call(item.partner, item.method, item.url, body=item.body)
        error = "" if reply.ok else f"HTTP {reply.http_status}, {reply.status_code} {reply.message}"
    except PartnerUnreachable as unreachable:
        error = str(unreachable)
    ours = PushItem.objects.filter(pk=item.pk, next_attempt_at=claimed)  # not replaced by a newer body meanwhile
    if not error:
        if ours.update(status=PushItem.Status.SENT, sent_at=timezone.now(), last_error=""):
            push_acknowledged(item, at=timezone.now())
        return True
    delay = min(BACKOFF * (2 ** min(item.attempts, 16)), BACKOFF_MAX)
    ours.update(attempts=F("attempts") + 1, next_attempt_at=timezone.now() + delay, last_error=error[:2000])
    logger.warning(
        "OCPI push %s to partner %s failed (attempt %s): %s", item, item.partner_id, item.attempts + 1, error
    )
    return False


#: Called with a push the partner acknowledged (the CDRs mark theirs acknowledged).
acknowledged_handlers: list = []


def push_acknowledged(item: PushItem, *, at: datetime) -> None:
    """Note the module's last successful push on the partner and tell the module's handlers."""
    Partner.objects.filter(pk=item.partner_id).update(
        last_push={**_last_push(item.partner_id), item.module: at.isoformat()}
    )
    for handler in acknowledged_handlers:
        handler(item, at)


def _last_push(partner_id: int) -> dict:
    return Partner.objects.filter(pk=partner_id).values_list("last_push", flat=True).first() or {}


def push_send_due(*, now: datetime | None = None, limit: int = BATCH) -> int:
    """Send the pushes that are due (the sweep, every minute, and ``push_retry_now``); returns how many were
    acknowledged."""
    now = now or timezone.now()
    due = list(
        PushItem.objects.filter(status=PushItem.Status.PENDING, next_attempt_at__lte=now)
        .filter(Q(partner__state=Partner.State.REGISTERED))
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    return sum(push_send(item_id=item_id, now=now) for item_id in due)


def push_retry_now(*, partner: Partner) -> int:
    """The admin's "retry now": the partner's waiting pushes are due at once, and sent."""
    now = timezone.now()
    PushItem.objects.filter(partner=partner, status=PushItem.Status.PENDING).update(next_attempt_at=now)
    return push_send_due(now=now)

"""Reads about accounts and cards: what a tag is allowed, which cards a driver sees."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q, QuerySet
from django.db.models.functions import Upper

from accounts.models import AuthorizationStatus, CustomerAccount, IdTag, Organization, User
from accounts.uids import id_tag_lookup_keys


@dataclass(frozen=True)
class TagVerdict:
    """What accounts can tell about a tag; the charge point's side (concurrency) comes on top."""

    status: AuthorizationStatus
    id_tag: IdTag | None
    expiry_date: datetime | None
    parent_id_tag: str | None


def id_tag_find(*, raw_uid: str) -> IdTag | None:
    """The tag a charger presented, compared regardless of case (OCPP CiString20) through the unique index on
    upper(uid): a tag of any kind as given, else an RFID card by its normalised UID (``04:a1:b2:c3``)."""
    keys = id_tag_lookup_keys(raw_uid)
    if not keys:
        return None
    match = Q(key=keys[0])
    if len(keys) > 1:
        match |= Q(key=keys[1], kind=IdTag.Kind.RFID)
    found = IdTag.objects.select_related("customer_account", "parent").alias(key=Upper("uid")).filter(match).order_by()
    return min(found, key=lambda tag: keys.index(tag.uid.upper()), default=None)


def id_tags_taken(*, uids: list[str]) -> set[str]:
    """Which of these UIDs are registered, in any letter case (upper-cased, as the unique index compares them)."""
    keys = {uid.upper() for uid in uids}
    return set(IdTag.objects.alias(key=Upper("uid")).filter(key__in=keys).values_list(Upper("uid"), flat=True))


def id_tag_verdict(*, raw_uid: str, organization: Organization, at: datetime) -> TagVerdict:
    """Judge a presented tag by itself: known here, not blocked or lost, account active, not expired.

    A card is valid only at its own operator's stations. A fleet's group tag that is
    blocked or expired blocks or expires every card under it.
    """
    tag = id_tag_find(raw_uid=raw_uid)
    if tag is None or tag.customer_account.organization_id != organization.pk:
        return TagVerdict(AuthorizationStatus.INVALID, None, None, None)
    return id_tag_judge(tag=tag, at=at)


def id_tag_judge(*, tag: IdTag, at: datetime) -> TagVerdict:
    """The verdict on a known card of the operator (``id_tag_verdict``'s rules), for whoever already holds it:
    its ``customer_account`` and ``parent`` are read, so select them with it."""
    parent = tag.parent
    expiries = [moment for moment in (tag.expires_at, parent and parent.expires_at) if moment]
    expiry_date = min(expiries) if expiries else None
    parent_uid = parent.uid if parent else None

    if tag.status != IdTag.Status.ACTIVE or (parent and parent.status != IdTag.Status.ACTIVE):
        status = AuthorizationStatus.BLOCKED
    elif tag.customer_account.status != CustomerAccount.Status.ACTIVE:
        status = AuthorizationStatus.BLOCKED
    elif expiry_date is not None and expiry_date <= at:
        status = AuthorizationStatus.EXPIRED
    else:
        status = AuthorizationStatus.ACCEPTED
    return TagVerdict(status, tag, expiry_date, parent_uid)


def id_tags_for_driver(*, user: User) -> QuerySet[IdTag]:
    """The cards a driver carries: those issued to them by name."""
    return IdTag.objects.filter(owner=user).order_by("status", "uid")

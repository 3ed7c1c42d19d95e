"""Writes about accounts and cards."""

from datetime import datetime

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from accounts.models import CustomerAccount, IdTag, Organization, User


@transaction.atomic
def id_tag_block(*, id_tag: IdTag, status: str = IdTag.Status.BLOCKED, at: datetime | None = None) -> IdTag:
    """Block a card (or mark it lost) at once; the next Authorize is refused."""
    if status not in (IdTag.Status.BLOCKED, IdTag.Status.LOST):
        raise ValueError(f"Cannot block a card with status {status!r}.")
    tag = IdTag.objects.select_for_update().get(pk=id_tag.pk)
    tag.status = status
    tag.blocked_at = tag.blocked_at or at or timezone.now()
    tag.save(update_fields=["status", "blocked_at"])
    return tag


def id_tag_mark_lost(*, id_tag: IdTag, user: User) -> IdTag:
    """A driver reports one of their own cards lost; it is blocked immediately."""
    if id_tag.owner_id != user.pk:
        raise PermissionDenied("Only the card's driver can report it lost.")
    return id_tag_block(id_tag=id_tag, status=IdTag.Status.LOST)


@transaction.atomic
def id_tag_unblock(*, id_tag: IdTag) -> IdTag:
    """An operator reactivates a blocked card (a lost one is replaced instead, as it may be cloned)."""
    tag = IdTag.objects.select_for_update().get(pk=id_tag.pk)
    if tag.status == IdTag.Status.LOST:
        raise ValueError("A lost card stays blocked: issue a new card instead.")
    tag.status = IdTag.Status.ACTIVE
    tag.blocked_at = None
    tag.save(update_fields=["status", "blocked_at"])
    return tag


@transaction.atomic
def driver_register(*, user: User, organization: Organization, full_name: str) -> User:
    """A new driver pays for themself: give them a person customer account at the operator."""
    first, _, last = full_name.strip().partition(" ")
    user.first_name, user.last_name = first, last.strip()
    account = CustomerAccount.objects.create(
        organization=organization, kind=CustomerAccount.Kind.PERSON, name=full_name.strip(),
        billing_email=user.email,
    )
    user.customer_account = account
    user.save()
    return user

"""Writes and decisions about charging sessions."""

from datetime import datetime

from django.db.models import QuerySet

from accounts.models import AuthorizationStatus
from accounts.selectors import TagVerdict, id_tag_verdict
from sessions_app.models import ChargePoint, ChargingSession, SessionFlag


def id_tag_authorize(*, charge_point: ChargePoint, raw_uid: str, at: datetime) -> TagVerdict:
    """May this tag charge at this station now? The one answer the OCPP Authorize handler gives.

    Accepted, Blocked, Expired and Invalid come from the card itself (see
    ``accounts.selectors.id_tag_verdict``); ConcurrentTx when the card already runs as
    many sessions as it is allowed.
    """
    verdict = id_tag_verdict(raw_uid=raw_uid, organization=charge_point.organization, at=at)
    if verdict.status != AuthorizationStatus.ACCEPTED:
        return verdict
    running = ChargingSession.objects.filter(id_tag=verdict.id_tag, state=ChargingSession.State.ACTIVE).count()
    if running >= verdict.id_tag.max_concurrent_sessions:
        return TagVerdict(AuthorizationStatus.CONCURRENT_TX, verdict.id_tag, verdict.expiry_date, verdict.parent_id_tag)
    return verdict


def session_flags_resolve(*, flags: QuerySet[SessionFlag], at: datetime) -> int:
    """An operator has looked at these flags; already resolved ones keep their time. Returns how many."""
    return flags.filter(resolved_at__isnull=True).update(resolved_at=at)

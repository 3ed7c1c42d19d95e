"""The last time a station refused each card, and why: kept in the shared cache (Redis, else the database cache)
so a driver's payments page can say why their card was refused (``billing.card_status``).

Recorded by ``services.id_tag_authorize`` for every refusal of a known card (Authorize, StartTransaction, a
reservation's check). A cache, not a ledger: a refusal is forgotten after ``KEPT_SECONDS`` or when the cache is
cleared, and the page then says only why the card would be refused now.
"""

import functools
import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from django.core.cache import cache
from django.utils.dateparse import parse_datetime

from accounts.models import AuthorizationStatus

if TYPE_CHECKING:
    from accounts.selectors import TagVerdict

logger = logging.getLogger(__name__)

KEPT_SECONDS = 90 * 24 * 3600


def _key(card_id: int) -> str:
    return f"card-refusal:{card_id}"


def refusal_record(*, card_id: int, status: str, station: str, at: datetime) -> None:
    """Remember this refusal as the card's last; a cache that fails is logged, never fails the charger's answer."""
    try:
        cache.set(_key(card_id), {"status": str(status), "station": station, "at": at.isoformat()}, KEPT_SECONDS)
    except Exception:
        logger.exception("could not remember the refusal of card %s", card_id)


def last_refusals(card_ids: list[int]) -> dict[int, dict]:
    """Card id -> its last refusal: ``status`` (AuthorizationStatus), ``station`` (its name) and ``at`` (datetime)."""
    try:
        found = cache.get_many([_key(card_id) for card_id in card_ids])
    except Exception:
        logger.exception("could not read the cards' last refusals")
        return {}
    refusals = {}
    for card_id in card_ids:
        entry = found.get(_key(card_id))
        if entry and parse_datetime(entry.get("at", "")):
            refusals[card_id] = {**entry, "at": parse_datetime(entry["at"])}
    return refusals


def remembered(authorize: Callable[..., "TagVerdict"]) -> Callable[..., "TagVerdict"]:
    """Wraps ``id_tag_authorize``: a refusal of a known card is recorded as its last."""

    @functools.wraps(authorize)
    def wrapper(*, charge_point, raw_uid: str, at: datetime, **running) -> "TagVerdict":
        verdict = authorize(charge_point=charge_point, raw_uid=raw_uid, at=at, **running)
        if verdict.status != AuthorizationStatus.ACCEPTED and verdict.id_tag is not None:
            refusal_record(card_id=verdict.id_tag.pk, status=verdict.status, station=str(charge_point), at=at)
        return verdict

    return wrapper

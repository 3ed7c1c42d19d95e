"""Why a driver's card would be refused at a station now, in the driver's words (the payments page).

The same checks a charger's Authorize gets (``sessions_app.services.id_tag_authorize``): the card by itself, its
concurrent sessions, then every registered authorization check (the prepaid wallet's NoCredit among them).
"""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Q
from django.utils.translation import gettext as _

from accounts.models import AuthorizationStatus, IdTag, User
from accounts.selectors import id_tag_judge
from sessions_app import card_refusals
from sessions_app.models import ChargingSession
from sessions_app.services import id_tag_refusal_now


@dataclass(frozen=True)
class CardStatus:
    card: IdTag
    status: str  # AuthorizationStatus
    reason: str
    #: The last time a station refused the card (``sessions_app.card_refusals``): status, its label, station, at.
    last_refusal: dict | None = None

    @property
    def refused(self) -> bool:
        return self.status != AuthorizationStatus.ACCEPTED


def _reason(status: str, card: IdTag) -> str:
    if status == AuthorizationStatus.ACCEPTED:
        return _("Accepted: this card can start charging.")
    if status == AuthorizationStatus.NO_CREDIT:
        return _(
            "Refused for lack of credit (NoCredit): your prepaid wallet holds no more than its minimum. "
            "Top up to charge again."
        )
    if status == AuthorizationStatus.CONCURRENT_TX:
        return _("Refused while it is already charging: this card may run %(count)d session(s) at once.") % {
            "count": card.max_concurrent_sessions
        }
    if status == AuthorizationStatus.EXPIRED:
        return _("Refused: this card has expired. Ask your operator for a new one.")
    if status == AuthorizationStatus.BLOCKED:
        return _("Refused: this card, its fleet card or your customer account is blocked. Ask your operator why.")
    return _("Refused: this card is not valid at your operator's stations.")


def _label(status: str) -> str:
    try:
        return str(AuthorizationStatus(status).label)
    except ValueError:
        return status


def card_statuses_for_driver(*, user: User, at: datetime) -> list[CardStatus]:
    """Each of the driver's own cards with what a station would answer it now, and why."""
    cards = (
        IdTag.objects.filter(owner=user)
        .select_related("customer_account", "parent")
        .annotate(running=Count("sessions", filter=Q(sessions__state=ChargingSession.State.ACTIVE)))
        .order_by("status", "uid")
    )
    statuses = []
    refusals = card_refusals.last_refusals([card.pk for card in cards])
    for card in cards:
        status = id_tag_judge(tag=card, at=at).status
        if status == AuthorizationStatus.ACCEPTED:
            status = id_tag_refusal_now(id_tag=card, at=at, running=card.running) or AuthorizationStatus.ACCEPTED
        last = refusals.get(card.pk)
        if last is not None:
            last["label"] = _label(last["status"])
            last["reason"] = _reason(last["status"], card)
        statuses.append(CardStatus(card, str(status), _reason(status, card), last))
    return statuses

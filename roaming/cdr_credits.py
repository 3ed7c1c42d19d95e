"""Credit notes on a partner's session reach the partner as OCPI 2.2.1 credit CDRs (README "Roaming").

A CDR sent is never changed. When the operator gives money back on a partner's session (a billing credit note), the
CDR in force is offset by a credit CDR (``credit`` true, ``credit_reference_id`` naming it, every cost and total
negated, so the two sum to nothing) and, unless the credits took the whole price, replaced by the session's next
version with what is left to pay (``cdrs.cdr_object`` with the credits: its total less them, a remark saying so).
Ids: ``CDR<session>``, then ``CDR<session>-2``...; a credit CDR is the id it credits with ``-C`` (OCPI allows a
credit CDR's id 39 characters for that).

Exactly once: on the credit note's commit (``hooks.session_credited``) and, for one that was missed (a crash, or a
CDR made while the credit note was being issued), by a sweep every minute (``cdrs_correct_due``): a session whose
CDR in force takes off fewer credit notes than it has. The CDR in force is locked while it is corrected, and one
correction covers every credit note up to the newest.
"""

from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import F, Max, Q
from django.utils import timezone

from billing.models import CreditNote, SessionPrice
from roaming.cdrs import cdr_id, cdr_object, cdr_push
from roaming.models import Cdr, RoamingSession
from roaming.ocpi import ocpi_datetime
from roaming.sessions import RELATED

#: Rows one sweep corrects at most.
BATCH = 100
_PRICES = (
    "total_cost",
    "total_fixed_cost",
    "total_energy_cost",
    "total_time_cost",
    "total_parking_cost",
    "total_reservation_cost",
)
_QUANTITIES = ("total_energy", "total_time", "total_parking_time")


def credit_object(data: dict[str, Any], *, now: datetime) -> dict[str, Any]:
    """The credit CDR offsetting the CDR ``data``: the same record, its costs and totals negated."""
    credit = {
        **data,
        "id": f"{data['id']}-C",
        "credit": True,
        "credit_reference_id": data["id"],
        "last_updated": ocpi_datetime(now),
    }
    for name in _PRICES:
        if name in credit:
            credit[name] = {part: 0 - amount for part, amount in credit[name].items()}
    for name in _QUANTITIES:
        if name in credit:
            credit[name] = 0 - credit[name]
    return credit


def _in_force(session_id: int):
    return Cdr.objects.filter(session_id=session_id, credit=False, credited_by__isnull=True).order_by("-version")


def cdr_correct(session_id: int, *, now: datetime | None = None) -> bool:
    """Send the partner the session's credit notes its CDR in force does not take off yet (module docstring;
    ``hooks.session_credited_handlers``: nothing for a session no partner has a CDR of). Returns whether a
    correction was made."""
    now = now or timezone.now()
    with transaction.atomic():
        current = _in_force(session_id).select_for_update(of=("self",)).first()
        credits = list(CreditNote.objects.filter(session_id=session_id).order_by("pk"))
        if current is None or not credits or (current.credited_through_id or 0) >= credits[-1].pk:
            return False
        offset = Cdr.objects.create(
            ocpi_id=f"{current.ocpi_id}-C",
            session_id=session_id,
            partner_id=current.partner_id,
            version=current.version,
            credit=True,
            credit_reference=current,
            data=credit_object(current.data, now=now),
            created_at=now,
        )
        cdr_push(offset)
        price = SessionPrice.objects.get(session_id=session_id)
        if price.net_total - sum(credit.net_amount for credit in credits) > 0:
            roaming = RoamingSession.objects.select_related(*RELATED).get(session_id=session_id)
            version = current.version + 1
            ocpi_id = f"{cdr_id(roaming.session)}-{version}"
            replacement = Cdr.objects.create(
                ocpi_id=ocpi_id,
                session_id=session_id,
                partner_id=current.partner_id,
                version=version,
                credited_through=credits[-1],
                data=cdr_object(roaming, price, ocpi_id=ocpi_id, now=now, credits=credits),
                created_at=now,
            )
            cdr_push(replacement)
    return True


def cdrs_correct_due(*, limit: int = BATCH) -> int:
    """The sweep: correct the sessions whose CDR in force misses a credit note; returns how many were corrected."""
    due = (
        Cdr.objects.filter(credit=False, credited_by__isnull=True, session__credit_notes__isnull=False)
        .annotate(newest_credit=Max("session__credit_notes__pk"))
        .filter(Q(credited_through__isnull=True) | Q(newest_credit__gt=F("credited_through_id")))
        .order_by("pk")
        .values_list("session_id", flat=True)
    )
    return sum(cdr_correct(session_id) for session_id in list(due[:limit]))

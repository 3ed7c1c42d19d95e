"""The reconciliation of CDRs sent against sessions priced, per partner and period (README "Roaming").

A partner's sessions are those of its customer account (its drivers' tokens are cards of that account); those priced
in the period (``SessionPrice.priced_at``, the rule its settlement follows), less the credit notes given back on them,
are set against the CDRs made of them: a session's CDRs sum to what the partner owes (a credit CDR's costs are
negative, ``roaming.cdr_credits``). What does not agree is listed:

- ``no_cdr``: priced, but no CDR was made (the partner is not told it owes it);
- ``not_acknowledged``: a CDR the partner has not acknowledged yet (with its push's attempts and last error);
- ``differs``: a session whose CDRs' total cost (excl. or incl. VAT) is not its frozen price less its credit notes
  (a credit note not sent yet), or whose CDR in force's currency or energy is not the price's;
- ``no_price``: a CDR made in the period for this partner whose session is not one of its priced sessions (unpriced,
  or priced on another customer's account).
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import cast

from django.db.models import F, Q, Sum
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from accounts.models import Organization
from billing.models import CreditNote, SessionPrice
from core import money
from roaming.cdrs import MODULE as CDRS_MODULE
from roaming.models import Cdr, Partner, PushItem

KWH = Decimal("0.001")

GAP_LABELS = {
    "no_cdr": gettext_lazy("Priced, no CDR"),
    "not_acknowledged": gettext_lazy("CDR not acknowledged"),
    "differs": gettext_lazy("CDR differs from the price"),
    "no_price": gettext_lazy("CDR without a priced session"),
}


@dataclass(frozen=True)
class CdrGap:
    kind: str  # a key of GAP_LABELS
    session_id: int
    cdr_id: str  # "" for no_cdr
    started_at: datetime
    priced_gross: Decimal | None
    cdr_gross: Decimal | None
    detail: str

    @property
    def label(self) -> str:
        return str(GAP_LABELS[self.kind])


@dataclass
class PartnerReconciliation:
    partner: Partner
    sessions_priced: int = 0
    priced_energy_wh: int = 0
    priced_net: Decimal = money.stored_amount(0)
    priced_gross: Decimal = money.stored_amount(0)
    cdrs_made: int = 0
    cdrs_acknowledged: int = 0
    cdr_net: Decimal = money.stored_amount(0)
    cdr_gross: Decimal = money.stored_amount(0)
    gaps: list[CdrGap] = field(default_factory=list)


def _cost(cdr: Cdr, name: str) -> Decimal | None:
    """A CDR's total cost excl. or incl. VAT as a Decimal (the JSON number as written), None when missing."""
    value = (cdr.data.get("total_cost") or {}).get(name)
    return None if value is None else Decimal(str(value))


def _energy_kwh(value) -> Decimal | None:
    return None if value is None else Decimal(str(value)).quantize(KWH)


def _differences(chain: list[Cdr], price: SessionPrice, credited: tuple[Decimal, Decimal]) -> list[str]:
    """What of the session's CDRs is not its frozen price less its credit notes (``credited``, excl. and incl. VAT):
    their total cost, the currency, the energy of the CDR in force (the latest that is not a credit; a session
    credited in full has none)."""
    found = []
    for name, frozen, taken_off in (
        ("excl_vat", price.net_total, credited[0]),
        ("incl_vat", price.gross_total, credited[1]),
    ):
        costs = [_cost(cdr, name) for cdr in chain]
        sent = None if None in costs else sum(cast(list[Decimal], costs), Decimal(0))
        owed = money.quantize(frozen - taken_off, price.currency)
        if sent is None or sent != owed:
            found.append(
                _("total_cost.%(name)s %(sent)s, priced %(priced)s")
                % {"name": name, "sent": "–" if sent is None else sent, "priced": money.stored_amount(owed)}
            )
    if any(cdr.data.get("currency") != price.currency for cdr in chain):
        sent_in = ", ".join(sorted({cdr.data.get("currency") or "–" for cdr in chain}))
        found.append(_("currency %(sent)s, priced in %(priced)s") % {"sent": sent_in, "priced": price.currency})
    in_force = [cdr for cdr in chain if not cdr.credit and not any(c.credit_reference_id == cdr.pk for c in chain)]
    if in_force:
        energy = _energy_kwh(in_force[-1].data.get("total_energy"))
        priced_kwh = (Decimal(price.energy_wh) / 1000).quantize(KWH)
        if energy != priced_kwh:
            found.append(
                _("total_energy %(sent)s kWh, priced %(priced)s kWh")
                % {"sent": "–" if energy is None else energy, "priced": priced_kwh}
            )
    return found


def _credited(session_ids: list[int]) -> dict[int, tuple[Decimal, Decimal]]:
    """Session id -> what its credit notes gave back, excl. and incl. VAT (absent: nothing)."""
    return {
        row["session_id"]: (row["net"], row["gross"])
        for row in CreditNote.objects.filter(session_id__in=session_ids)
        .values("session_id")
        .annotate(net=Sum("net_amount"), gross=Sum("gross_amount"))
    }


def _waiting(cdrs: Iterable[Cdr]) -> dict[tuple[int, str], PushItem]:
    """The pending pushes of these CDRs, by (partner, key)."""
    keys = [f"cdr:{cdr.ocpi_id}" for cdr in cdrs]
    return {
        (item.partner_id, item.key): item
        for item in PushItem.objects.filter(module=CDRS_MODULE, key__in=keys, status=PushItem.Status.PENDING)
    }


def _not_acknowledged_detail(push: PushItem | None) -> str:
    if push is None:
        return _("Not being sent: waits for the partner to pull it.")
    detail = ngettext(
        "%(attempts)d attempt, next at %(next)s.", "%(attempts)d attempts, next at %(next)s.", push.attempts
    ) % {
        "attempts": push.attempts,
        "next": push.next_attempt_at.isoformat(timespec="seconds"),
    }
    return f"{detail} {push.last_error}".strip()


def cdr_reconciliation(
    *, organization: Organization, start: datetime, end: datetime, partner: Partner | None = None
) -> list[PartnerReconciliation]:
    """Per partner of the operator (or only ``partner``): its sessions priced in [start, end), the CDRs made of them,
    those acknowledged, their totals, and the gaps (oldest session first)."""
    partners = Partner.objects.filter(organization=organization).order_by("name", "pk")
    if partner is not None:
        partners = partners.filter(pk=partner.pk)
    results = {p.pk: PartnerReconciliation(partner=p) for p in partners}
    partner_of_account: dict[int | None, int] = {
        result.partner.customer_account_id: pk for pk, result in results.items()
    }
    prices = {
        price.session_id: price
        for price in SessionPrice.objects.filter(
            session__customer_account_id__in=list(partner_of_account), priced_at__gte=start, priced_at__lt=end
        )
        .select_related("session")
        .order_by("session__started_at", "session_id")
    }
    owner = {session_id: partner_of_account[price.session.customer_account_id] for session_id, price in prices.items()}
    not_priced_on_its_account = (
        Q(session__price__isnull=True)
        | Q(session__customer_account__isnull=True)
        | ~Q(session__customer_account_id=F("partner__customer_account_id"))
    )
    cdrs = list(
        Cdr.objects.filter(
            Q(session_id__in=list(prices), partner_id__in=list(results))
            | Q(not_priced_on_its_account, partner_id__in=list(results), created_at__gte=start, created_at__lt=end)
        )
        .select_related("session")
        .order_by("session__started_at", "version", "credit", "pk")
    )
    chains: dict[int, list[Cdr]] = defaultdict(list)  # a priced session's CDRs, oldest version first
    for cdr in cdrs:
        if owner.get(cdr.session_id) == cdr.partner_id:
            chains[cdr.session_id].append(cdr)
    waiting = _waiting(cdr for chain in chains.values() for cdr in chain if cdr.acknowledged_at is None)
    credited = _credited(list(prices))
    nothing = (Decimal(0), Decimal(0))

    for session_id, price in prices.items():
        result = results[owner[session_id]]
        result.sessions_priced += 1
        result.priced_energy_wh += price.energy_wh
        taken_off = credited.get(session_id, nothing)
        owed_gross = price.gross_total - taken_off[1]
        result.priced_net += price.net_total - taken_off[0]
        result.priced_gross += owed_gross
        chain = chains.get(session_id)
        if not chain:
            result.gaps.append(
                CdrGap("no_cdr", session_id, "", price.session.started_at, owed_gross, None, _("No CDR made."))
            )
            continue
        sent_gross = sum((_cost(cdr, "incl_vat") or Decimal(0) for cdr in chain), Decimal(0))
        differences = _differences(chain, price, taken_off)
        if differences:
            result.gaps.append(
                CdrGap(
                    "differs",
                    session_id,
                    chain[-1].ocpi_id,
                    price.session.started_at,
                    owed_gross,
                    sent_gross,
                    "; ".join(differences),
                )
            )
    for cdr in cdrs:
        result = results[cdr.partner_id]
        result.cdrs_made += 1
        result.cdrs_acknowledged += cdr.acknowledged_at is not None
        net, gross = _cost(cdr, "excl_vat"), _cost(cdr, "incl_vat")
        result.cdr_net += net or 0
        result.cdr_gross += gross or 0
        gap_of = partial(CdrGap, session_id=cdr.session_id, cdr_id=cdr.ocpi_id, started_at=cdr.session.started_at)
        if cdr not in chains.get(cdr.session_id, ()):
            priced = prices.get(cdr.session_id) or SessionPrice.objects.filter(session_id=cdr.session_id).first()
            detail = _("The session is not priced.") if priced is None else _("The session is another customer's.")
            result.gaps.append(gap_of(kind="no_price", priced_gross=None, cdr_gross=gross, detail=detail))
            continue
        if cdr.acknowledged_at is None:
            detail = _not_acknowledged_detail(waiting.get((cdr.partner_id, f"cdr:{cdr.ocpi_id}")))
            owed = prices[cdr.session_id].gross_total - credited.get(cdr.session_id, nothing)[1]
            result.gaps.append(gap_of(kind="not_acknowledged", priced_gross=owed, cdr_gross=gross, detail=detail))
    for result in results.values():
        result.gaps.sort(key=lambda gap: (gap.started_at, gap.session_id, gap.kind))
    return list(results.values())

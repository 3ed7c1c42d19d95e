"""The Tariffs module (OCPI 2.2.1, CPO sender): the operator's tariffs as OCPI Tariffs.

A partner sees the tariffs assigned for every customer and those assigned to its own customer group (its roaming
tariff), never another group's; tariffs that have ended are left out. The tariffs are modelled on OCPI's already
(``billing.models.tariffs``): the mapping reads them as the pricing engine does (``billing.selectors.tariff_spec``)
so what a partner is told is what its sessions are priced with. Prices entered incl. VAT are sent excl. VAT
(``net_unit_price``, as pricing computes them) with the VAT rate; ``min_price``/``max_price`` are net amounts, their
gross computed once (``core.money``). Decimals become JSON numbers only here, at the wire.

``last_updated`` is the tariff's creation: the tariff keeps no edit time.
"""

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet

from billing.models import Tariff, TariffAssignment
from billing.pricing_tariff import Restrictions, TariffSpec, net_unit_price
from billing.selectors import tariff_spec
from core import money
from roaming.locations import operator_party
from roaming.models import OperatorParty, Partner
from roaming.ocpi import ocpi_datetime

#: OCPI DayOfWeek, Monday (0) first as our days of week.
DAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
#: A percentage of VAT written with this many decimals at most (25 %, 12.5 %).
VAT_QUANTUM = Decimal("0.01")
#: The tariff's column sent as its last_updated and filtered by date_from/date_to (see the module's docstring).
UPDATED_FIELD = "created_at"


def tariffs_for(*, partner: Partner, now: datetime) -> QuerySet[Tariff]:
    """The tariffs the partner may see: assigned for everyone or for its own group, not ended, oldest first (a free
    one too: connectors name it)."""
    assigned = TariffAssignment.objects.filter(
        Q(customer_group__isnull=True) | Q(customer_group_id=partner.customer_group_id)
    ).values("tariff_id")
    return (
        Tariff.objects.filter(organization_id=partner.organization_id, pk__in=assigned)
        .filter(Q(valid_until__isnull=True) | Q(valid_until__gt=now))
        .order_by("pk")
    )


def _number(value: Decimal) -> float | int:
    """A Decimal for the wire: an int when whole, else a float (OCPI numbers are JSON numbers)."""
    return int(value) if value == value.to_integral_value() else float(value)


def _price(net: Decimal, spec: TariffSpec) -> dict[str, float | int]:
    """OCPI's Price of a net amount: excl. and incl. VAT (VAT computed once, rounded to the currency)."""
    net = money.quantize(net, spec.currency)
    gross = net + money.vat_on_net(net, Decimal(spec.vat_rate), spec.currency)
    return {"excl_vat": _number(net), "incl_vat": _number(gross)}


def _restrictions(restrictions: Restrictions) -> dict[str, Any]:
    """OCPI TariffRestrictions of an element (only those it has)."""
    data: dict[str, Any] = {}
    if restrictions.start_time is not None:
        data["start_time"] = restrictions.start_time.strftime("%H:%M")
    if restrictions.end_time is not None:
        data["end_time"] = restrictions.end_time.strftime("%H:%M")
    for name, value in (
        ("min_kwh", restrictions.min_kwh),
        ("max_kwh", restrictions.max_kwh),
        ("min_power", restrictions.min_power_kw),
        ("max_power", restrictions.max_power_kw),
    ):
        if value is not None:
            data[name] = _number(Decimal(value))
    for name, duration in (("min_duration", restrictions.min_duration), ("max_duration", restrictions.max_duration)):
        if duration is not None:
            data[name] = int(duration.total_seconds())
    if restrictions.days_of_week is not None:
        data["day_of_week"] = [DAYS[day] for day in sorted(restrictions.days_of_week)]
    if restrictions.reservation:
        data["reservation"] = restrictions.reservation
    return data


def tariff_spec_object(
    spec: TariffSpec, *, tariff_id: str, party: OperatorParty, last_updated: datetime, **fields: Any
) -> dict[str, Any]:
    """A tariff as the pricing engine reads it (or as a session's price froze it) as an OCPI Tariff; ``fields``
    (start_date_time, tariff_alt_text, ...) are added as given."""
    vat = _number((Decimal(spec.vat_rate) * 100).quantize(VAT_QUANTUM))
    elements = []
    for element in spec.elements:
        components = [
            {
                "type": component.type,
                "price": _number(net_unit_price(component.price, spec)),
                "vat": vat,
                "step_size": component.step_size if component.type != "FLAT" else 1,
            }
            for component in element.components
        ]
        if not components:
            continue
        restrictions = _restrictions(element.restrictions)
        elements.append({"price_components": components, **({"restrictions": restrictions} if restrictions else {})})
    if not elements:  # a free tariff: OCPI wants one element at least, so a flat price of nothing
        elements.append({"price_components": [{"type": "FLAT", "price": 0, "vat": vat, "step_size": 1}]})
    data: dict[str, Any] = {
        "country_code": party.country_code,
        "party_id": party.party_id,
        "id": tariff_id,
        "currency": spec.currency,
        "type": "REGULAR",
        "elements": elements,
        **fields,
        "last_updated": ocpi_datetime(last_updated),
    }
    if spec.min_price is not None:
        data["min_price"] = _price(spec.min_price, spec)
    if spec.max_price is not None:
        data["max_price"] = _price(spec.max_price, spec)
    return data


def tariff_object(tariff: Tariff, *, party: OperatorParty) -> dict[str, Any]:
    """The OCPI Tariff of one of the operator's tariffs."""
    fields: dict[str, Any] = {
        "tariff_alt_text": [{"language": "en", "text": tariff.name[:512]}],
        "start_date_time": ocpi_datetime(tariff.valid_from),
    }
    if tariff.valid_until is not None:
        fields["end_date_time"] = ocpi_datetime(tariff.valid_until)
    return tariff_spec_object(
        tariff_spec(tariff, time_zone=settings.TIME_ZONE),
        tariff_id=str(tariff.pk),
        party=party,
        last_updated=getattr(tariff, UPDATED_FIELD),
        **fields,
    )


def tariffs_serialize(tariffs: Iterable[Tariff], *, partner: Partner) -> list[dict[str, Any]]:
    party = operator_party(partner)
    return [tariff_object(tariff, party=party) for tariff in tariffs]

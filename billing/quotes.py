"""Prices as drivers see them: what a connector costs before starting, and what a session costs so far.

Reads only (selectors). Prices are always shown incl. VAT, whatever way the tariff was entered; the
amounts are ``Decimal`` quantized to the currency's minor unit, with a display string in the reader's
language and number format next to them.
"""

import copy
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.utils.formats import number_format
from django.utils.translation import gettext as _

from accounts.models import CustomerAccount, User
from billing import pricing
from billing.models import SessionPrice, Tariff
from billing.selectors import ENERGY_REGISTER, session_time_zone, session_timeline, tariff_for, tariff_spec
from core import money
from sessions_app.models import ChargePoint, ChargingSession, Connector, MeterValue

_WEEKDAYS = frozenset(range(5))
_WEEKEND = frozenset({5, 6})


def money_display(amount: Decimal, currency: str) -> str:
    """An amount with the currency's decimals, in the reader's number format, e.g. ``4.95 SEK``."""
    return f"{number_format(money.quantize(amount, currency), decimal_pos=money.minor_unit(currency))} {currency}"


def _gross(price: Decimal, *, vat_rate: Decimal, includes_vat: bool, currency: str) -> Decimal:
    value = price if includes_vat else price * (1 + vat_rate)
    return money.quantize(value, currency)


def _percent(rate: Decimal) -> str:
    value = (rate * 100).quantize(Decimal("0.01"))
    if value == value.to_integral():
        return str(int(value))
    return number_format(value.normalize())


def _days(days: frozenset[int] | None) -> str:
    if days is None or len(days) == 7:
        return ""
    if days == _WEEKDAYS:
        return _("weekdays")
    if days == _WEEKEND:
        return _("weekends")
    names = [_("Mon"), _("Tue"), _("Wed"), _("Thu"), _("Fri"), _("Sat"), _("Sun")]
    return ", ".join(names[day] for day in sorted(days))


def _hhmm(value) -> str:
    return value.strftime("%H:%M")


def _condition(restrictions: pricing.Restrictions, *, fallback: bool) -> str:
    """When an element applies, in words; ``fallback`` names an unrestricted element after restricted ones."""
    r = restrictions
    parts = []
    if days := _days(r.days_of_week):
        parts.append(days)
    if r.start_time is not None or r.end_time is not None:
        start = _hhmm(r.start_time) if r.start_time is not None else "00:00"
        end = _hhmm(r.end_time) if r.end_time is not None else "24:00"
        parts.append(f"{start}–{end}")
    if r.min_kwh is not None:
        parts.append(_("from %(kwh)s kWh") % {"kwh": number_format(r.min_kwh.normalize())})
    if r.max_kwh is not None:
        parts.append(_("up to %(kwh)s kWh") % {"kwh": number_format(r.max_kwh.normalize())})
    if r.min_duration is not None:
        parts.append(_("after %(minutes)d min") % {"minutes": r.min_duration.total_seconds() // 60})
    if r.max_duration is not None:
        parts.append(_("for the first %(minutes)d min") % {"minutes": r.max_duration.total_seconds() // 60})
    if r.min_power_kw is not None:
        parts.append(_("at %(kw)s kW or more") % {"kw": number_format(r.min_power_kw.normalize())})
    if r.max_power_kw is not None:
        parts.append(_("below %(kw)s kW") % {"kw": number_format(r.max_power_kw.normalize())})
    if not parts and fallback:
        return _("other times")
    return " ".join(parts)


def _component_text(component_type: str, price: str, *, grace_minutes: int) -> str:
    if component_type == "ENERGY":
        return _("%(price)s/kWh") % {"price": price}
    if component_type == "TIME":
        return _("Charging time %(price)s/h") % {"price": price}
    if component_type == "PARKING_TIME":
        if grace_minutes:
            return _("Parking %(price)s/h after %(minutes)d min") % {"price": price, "minutes": grace_minutes}
        return _("Parking %(price)s/h") % {"price": price}
    return _("Start fee %(price)s") % {"price": price}


def reservation_fee_lines(spec: pricing.TariffSpec, *, gross) -> list[str]:
    """A tariff's reservation elements in a driver's words (incl. VAT), e.g. ``Reservation fee 10.00 SEK``."""
    lines = []
    for element in spec.elements:
        kind = element.restrictions.reservation
        if not kind:
            continue
        condition = _condition(element.restrictions, fallback=False)
        for component in sorted(element.components, key=lambda c: c.type != "FLAT"):
            price = money_display(gross(component.price), spec.currency)
            if component.type == "FLAT":
                text = (
                    _("Reservation fee %(price)s if it expires unused")
                    if kind == "RESERVATION_EXPIRES"
                    else _("Reservation fee %(price)s")
                ) % {"price": price}
            elif component.type == "TIME":
                text = (
                    _("Reserved time %(price)s/h if it expires unused")
                    if kind == "RESERVATION_EXPIRES"
                    else _("Reserved time %(price)s/h")
                ) % {"price": price}
            else:
                continue
            lines.append(f"{text} {condition}" if condition else text)
    return lines


def tariff_description(tariff: Tariff, *, time_zone: str) -> dict:
    """A tariff in a driver's words: one line per price (incl. VAT) with when it applies, and the VAT."""
    spec = tariff_spec(tariff, time_zone=time_zone)
    grace_minutes = int(spec.parking_grace.total_seconds()) // 60
    currency = spec.currency

    def gross(price: Decimal) -> Decimal:
        return _gross(price, vat_rate=spec.vat_rate, includes_vat=spec.prices_include_vat, currency=currency)

    charging = [element for element in spec.elements if not element.restrictions.reservation]
    # A price the same in every element that has its type is shown once, without a condition.
    by_type: dict[str, set[Decimal]] = {}
    elements_with: dict[str, int] = {}
    for element in charging:
        for component in element.components:
            by_type.setdefault(component.type, set()).add(gross(component.price))
            elements_with[component.type] = elements_with.get(component.type, 0) + 1
    uniform = {t for t, prices in by_type.items() if len(prices) == 1 and elements_with[t] == len(charging)}

    lines: list[str] = []
    shown_uniform: set[str] = set()
    restricted_before = False
    for element in charging:
        condition = _condition(element.restrictions, fallback=restricted_before)
        restricted_before = restricted_before or element.restrictions != pricing.Restrictions()
        for component in sorted(
            element.components, key=lambda c: ("ENERGY", "TIME", "PARKING_TIME", "FLAT").index(c.type)
        ):
            text = _component_text(
                component.type, money_display(gross(component.price), currency), grace_minutes=grace_minutes
            )
            if component.type in uniform:
                if component.type in shown_uniform:
                    continue
                shown_uniform.add(component.type)
            elif condition:
                text = f"{text} {condition}"
            lines.append(text)
    for amount, words in (
        (spec.min_price, _("Minimum price %(price)s per session")),
        (spec.max_price, _("Maximum price %(price)s per session")),
    ):
        if amount is not None:
            lines.append(
                words
                % {
                    "price": money_display(
                        _gross(amount, vat_rate=spec.vat_rate, includes_vat=False, currency=currency), currency
                    )
                }
            )
    reservation_lines = reservation_fee_lines(spec, gross=gross)
    return {
        "tariff_id": tariff.pk,
        "name": tariff.name,
        "currency": currency,
        "vat_rate": spec.vat_rate,
        "lines": lines + reservation_lines,
        "reservation_lines": reservation_lines,
        "vat_note": _("Prices include %(rate)s %% VAT.") % {"rate": _percent(spec.vat_rate)},
    }


def connector_price(*, connector: Connector, customer_account: CustomerAccount | None, at: datetime) -> dict | None:
    """The tariff that would apply if this customer started on this connector at ``at``, described; None if none."""
    tariff = tariff_for(connector=connector, customer_account=customer_account, at=at)
    if tariff is None:
        return None
    site = connector.charge_point.site
    return tariff_description(tariff, time_zone=site.time_zone if site is not None else settings.TIME_ZONE)


def _driver_account(user: User) -> CustomerAccount | None:
    return user.customer_account if user.customer_account_id else None


def stations_with_prices_for_driver(*, user: User, at: datetime) -> list[dict]:
    """The driver's operator's charge points, each connector with the price for this driver; [] without one."""
    account = _driver_account(user)
    if account is None:
        return []
    charge_points = list(
        ChargePoint.objects.filter(organization_id=account.organization_id)
        .select_related("site")
        .prefetch_related("connectors")
        .order_by("site__name", "ocpp_id")
    )
    prices = connector_prices_for_driver(
        user=user, connectors=[c for cp in charge_points for c in cp.connectors.all()], at=at
    )
    return [
        {
            "charge_point": charge_point,
            "connectors": [
                {"connector": connector, "price": prices[connector.pk]}
                for connector in sorted(charge_point.connectors.all(), key=lambda c: c.number)
            ],
        }
        for charge_point in charge_points
    ]


def connector_prices_for_driver(*, user: User, connectors: Iterable[Connector], at: datetime) -> dict[int, dict | None]:
    """Connector id -> the price this driver would pay there if starting at ``at`` (described), None where none.

    The connectors come with their charge points and sites loaded; each tariff is described once.
    """
    account = _driver_account(user)
    descriptions: dict[int, dict] = {}
    prices: dict[int, dict | None] = {}
    for connector in connectors:
        tariff = tariff_for(connector=connector, customer_account=account, at=at) if account else None
        if tariff is not None and tariff.pk not in descriptions:
            site = connector.charge_point.site
            descriptions[tariff.pk] = tariff_description(
                tariff, time_zone=site.time_zone if site is not None else settings.TIME_ZONE
            )
        prices[connector.pk] = descriptions[tariff.pk] if tariff is not None else None
    return prices


def connector_price_summaries_for_driver(*, user: User, at: datetime) -> dict[int, str]:
    """Connector id -> one line of its price for this driver (for the start page's choices)."""
    summaries = {}
    for station in stations_with_prices_for_driver(user=user, at=at):
        for item in station["connectors"]:
            price = item["price"]
            summaries[item["connector"].pk] = "; ".join(price["lines"]) if price else _("No price set")
    return summaries


# --- the cost of a session so far ---------------------------------------------------------------------


def latest_register_wh(session: ChargingSession, now: datetime) -> int:
    """The session's energy register at ``now``: its newest reading until then, never below the meter at start."""
    value = (
        MeterValue.objects.filter(
            session=session,
            measurand=ENERGY_REGISTER,
            phase="",
            unit="Wh",
            timestamp__gte=session.started_at,
            timestamp__lte=now,
        )
        .order_by("-timestamp", "-pk")
        .values_list("value", flat=True)
        .first()
    )
    return session.meter_start_wh if value is None else max(session.meter_start_wh, int(value))


def session_cost_estimate(*, session: ChargingSession, now: datetime) -> dict | None:
    """What the session costs so far (gross and net), or its frozen price once completed; None when unpriced.

    A running session is priced by the tariff valid at its start, on its timeline until ``now`` with the
    newest energy register reading as the stop meter, exactly as it would be priced if it stopped now.
    """
    if session.state == ChargingSession.State.COMPLETED:
        frozen = SessionPrice.objects.filter(session=session).first()
        if frozen is None:
            return None
        return {
            "session_id": session.pk,
            "gross": frozen.gross_total,
            "net": frozen.net_total,
            "currency": frozen.currency,
            "energy_wh": frozen.energy_wh,
            "final": True,
        }
    if session.state != ChargingSession.State.ACTIVE or session.connector is None:
        return None
    tariff = tariff_for(connector=session.connector, customer_account=session.customer_account, at=session.started_at)
    if tariff is None:
        return None
    so_far = copy.copy(session)
    so_far.stopped_at = max(now, session.started_at)
    so_far.meter_stop_wh = latest_register_wh(session, so_far.stopped_at)
    priced = pricing.price_session(tariff_spec(tariff, time_zone=session_time_zone(session)), session_timeline(so_far))
    return {
        "session_id": session.pk,
        "gross": priced.gross_total,
        "net": priced.net_total,
        "currency": priced.currency,
        "energy_wh": priced.energy_wh,
        "final": False,
    }


def session_cost_so_far(session: ChargingSession, now: datetime) -> Decimal | None:
    """A running session's gross cost so far (``session_cost_estimate``), for sessions_app's CostUpdated."""
    estimate = session_cost_estimate(session=session, now=now)
    return None if estimate is None else estimate["gross"]


def session_cost_label(estimate: dict) -> str:
    return _("Price") if estimate["final"] else _("Cost so far")

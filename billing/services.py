"""Writes for billing: assign tariffs, freeze and charge a session's price, issue credit notes."""

import uuid
from datetime import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Organization
from billing.ledger import credit_note_book, session_charge_book
from billing.models import (
    RESERVATION_COMPONENT_TYPES,
    CreditNote,
    CustomerGroup,
    PriceComponent,
    SessionPrice,
    Tariff,
    TariffAssignment,
    TariffElement,
    days_of_week_format,
    days_of_week_parse,
)
from billing.pricing import price_session
from billing.selectors import (
    priced_lines_to_breakdown,
    session_credit_available,
    session_time_zone,
    session_timeline,
    tariff_assignment_overlaps,
    tariff_for,
    tariff_spec,
    tariff_spec_to_snapshot,
)
from core import money
from sessions_app import hooks
from sessions_app.models import ChargePoint, ChargingSession, Connector, Site


def tariff_assignment_overlap_check(
    *, assignment: TariffAssignment, validity: tuple[datetime, datetime | None] | None = None
) -> None:
    """Refuse two tariffs for the same scope and customer group with overlapping validity."""
    clash = tariff_assignment_overlaps(
        tariff=assignment.tariff,
        site_id=assignment.site_id,
        charge_point_id=assignment.charge_point_id,
        connector_id=assignment.connector_id,
        customer_group_id=assignment.customer_group_id,
        validity=validity,
        exclude_pk=assignment.pk,
    ).first()
    if clash is not None:
        raise ValidationError(
            _("%(other)s is already assigned here for an overlapping period."),
            params={"other": clash.tariff},
            code="overlap",
        )


@transaction.atomic
def tariff_assignment_create(
    *,
    tariff: Tariff,
    site: Site | None = None,
    charge_point: ChargePoint | None = None,
    connector: Connector | None = None,
    customer_group: CustomerGroup | None = None,
) -> TariffAssignment:
    """Assign a tariff to one scope (none for the whole operator), optionally for one customer group."""
    # One writer per operator at a time, so two overlapping assignments cannot both pass the check.
    Organization.objects.select_for_update().get(pk=tariff.organization_id)
    assignment = TariffAssignment(
        tariff=tariff, site=site, charge_point=charge_point, connector=connector, customer_group=customer_group
    )
    assignment.full_clean()
    tariff_assignment_overlap_check(assignment=assignment)
    assignment.save()
    return assignment


def tariff_revise(*, tariff_id: int) -> None:
    """The tariff's elements or prices changed: a new revision, so that no process prices by its old elements.

    Pricing keeps each tariff's elements as read, by tariff and revision (``billing.selectors.tariff_spec``).
    Whatever writes elements or components outside ``tariff_create`` and ``tariff_update`` calls this.
    """
    Tariff.objects.filter(pk=tariff_id).update(revision=uuid.uuid4())


def tariff_element_components_set(*, element: TariffElement, prices: dict[str, tuple[Decimal, int] | None]) -> None:
    """Make the element's components exactly ``prices`` (type -> (price, step size), None to remove)."""
    for component_type, value in prices.items():
        if value is None:
            element.components.filter(type=component_type).delete()
        else:
            price, step_size = value
            PriceComponent.objects.update_or_create(
                element=element,
                type=component_type,
                defaults={"price": price, "step_size": step_size},
            )
    tariff_revise(tariff_id=element.tariff_id)


TARIFF_FIELDS = (
    "name",
    "currency",
    "vat_rate",
    "prices_include_vat",
    "valid_from",
    "valid_until",
    "min_price",
    "max_price",
    "parking_grace_minutes",
)
TARIFF_ELEMENT_FIELDS = (
    "position",
    "start_time",
    "end_time",
    "days_of_week",
    "min_kwh",
    "max_kwh",
    "min_duration_minutes",
    "max_duration_minutes",
    "min_power_kw",
    "max_power_kw",
    "reservation",
)
_RESTRICTIONS = TARIFF_ELEMENT_FIELDS[1:-1]  # what restricts when an element applies (``reservation``: to what)


def _restrictions(element: TariffElement) -> tuple:
    days = days_of_week_parse(element.days_of_week)
    return tuple(
        None
        if name == "days_of_week" and days in (None, frozenset(range(7)))
        else days
        if name == "days_of_week"
        else getattr(element, name)
        for name in _RESTRICTIONS
    )


def _tariff_elements_build(elements: list[dict]) -> tuple[list[tuple[TariffElement, list[PriceComponent]]], list[str]]:
    """Unsaved elements and components from ``elements`` (element fields, ``days_of_week`` as day numbers, and
    ``components``: dicts of type, price, step_size), and what is wrong with them, element by element."""
    built, errors = [], []
    if not elements:
        errors.append(_("A tariff needs at least one element with a price."))
    for number, spec in enumerate(elements, start=1):
        problems: list[str] = []
        values = {name: spec[name] for name in TARIFF_ELEMENT_FIELDS if name in spec}
        values.setdefault("position", number - 1)  # by default, the order given
        values["days_of_week"] = days_of_week_format(spec.get("days_of_week") or ())
        values["reservation"] = spec.get("reservation") or ""  # none: a charging element
        element = TariffElement(**values)
        try:
            element.full_clean(exclude=["tariff"])
        except ValidationError as exc:
            problems += [
                f"{name}: {message}" if name != "__all__" else message
                for name, messages in exc.message_dict.items()
                for message in messages
            ]
        components = []
        for component_spec in spec.get("components") or ():
            component = PriceComponent(
                type=component_spec["type"],
                price=component_spec["price"],
                step_size=component_spec.get("step_size") or 1,
            )
            try:
                component.full_clean(exclude=["element"])
            except ValidationError as exc:
                problems += [
                    f"{component.type}: {message}" for messages in exc.message_dict.values() for message in messages
                ]
            components.append(component)
        if not components:
            problems.append(_("Give at least one price for this element."))
        if element.reservation:
            problems += [
                _("%(type)s: a reservation element has a flat fee and a price per hour reserved only.")
                % {"type": component.type}
                for component in components
                if component.type not in RESERVATION_COMPONENT_TYPES
            ]
        types = [component.type for component in components]
        problems += [
            _("%(type)s is priced twice.") % {"type": kind} for kind in sorted(set(types)) if types.count(kind) > 1
        ]
        errors += [
            _("Element %(number)d: %(problem)s") % {"number": number, "problem": problem} for problem in problems
        ]
        built.append((element, components))
    positions = [element.position for element, _components in built]
    for number, (element, _components) in enumerate(built, start=1):
        if positions.index(element.position) != number - 1:
            errors.append(
                _("Element %(number)d: position %(position)s is taken by element %(other)d.")
                % {"number": number, "position": element.position, "other": positions.index(element.position) + 1}
            )
    # The engine takes, per component type, the first element (by position) whose restrictions hold: a later
    # element with the same restrictions, or after one without any, never prices that type.
    ordered = sorted(range(len(built)), key=lambda index: built[index][0].position)
    for later_at, later in enumerate(ordered):
        for earlier in ordered[:later_at]:
            if built[earlier][0].reservation != built[later][0].reservation:
                continue  # charging and reserved time (used or expired) are priced by different elements
            earlier_restrictions = _restrictions(built[earlier][0])
            if earlier_restrictions not in (_restrictions(built[later][0]), (None,) * len(_RESTRICTIONS)):
                continue
            shadowed = {c.type for c in built[earlier][1]} & {c.type for c in built[later][1]}
            for kind in sorted(shadowed):
                errors.append(
                    _(
                        "Element %(number)d: its %(type)s price never applies, element %(other)d comes "
                        "first with %(what)s."
                    )
                    % {
                        "number": later + 1,
                        "type": kind,
                        "other": earlier + 1,
                        "what": _("no restrictions")
                        if earlier_restrictions == (None,) * len(_RESTRICTIONS)
                        else _("the same restrictions"),
                    }
                )
    return built, errors


def _tariff_save(*, tariff: Tariff, values: dict, elements: list[dict] | None) -> Tariff:
    """Validate everything first (every problem at once, as ValidationError), then write."""
    validity_before = (tariff.valid_from, tariff.valid_until) if tariff.pk else None
    for name in TARIFF_FIELDS:
        if name in values:
            setattr(tariff, name, values[name])
    errors: dict[str, list[str]] = {}
    try:
        tariff.full_clean()
    except ValidationError as exc:
        errors.update(exc.message_dict)
    built: list = []
    if elements is not None:
        built, element_errors = _tariff_elements_build(elements)
        if element_errors:
            errors["elements"] = element_errors
    if not errors and validity_before and validity_before != (tariff.valid_from, tariff.valid_until):
        # One writer per operator at a time, as for assignments, so the overlap check holds.
        Organization.objects.select_for_update().get(pk=tariff.organization_id)
        for assignment in tariff.assignments.select_related("tariff"):
            try:
                tariff_assignment_overlap_check(assignment=assignment, validity=(tariff.valid_from, tariff.valid_until))
            except ValidationError as exc:
                errors.setdefault("valid_from", []).extend(exc.messages)
    if errors:
        raise ValidationError(errors)
    tariff.revision = uuid.uuid4()  # no process prices by its elements as read before
    tariff.save()
    if elements is not None:
        tariff.elements.all().delete()
        for element, components in built:
            element.tariff = tariff
            element.save()
            for component in components:
                component.element = element
            PriceComponent.objects.bulk_create(components)
    return tariff


@transaction.atomic
def tariff_create(*, organization: Organization, values: dict, elements: list[dict]) -> Tariff:
    """A new tariff of ``organization`` (in its currency unless given) with its elements and their prices; refused
    whole (ValidationError, every problem named) when a value, an element or a price is invalid or contradicts
    another. Elements are tried by position, by default their order in ``elements``."""
    tariff = Tariff(organization=organization, currency=organization.currency)
    return _tariff_save(tariff=tariff, values=values, elements=elements)


@transaction.atomic
def tariff_update(*, tariff: Tariff, values: dict, elements: list[dict] | None = None) -> Tariff:
    """Change a tariff's ``values``; ``elements`` given replace all its elements. Session prices already frozen
    keep their snapshot. A new validity may not overlap another tariff assigned to the same place and group."""
    tariff = Tariff.objects.select_for_update().get(pk=tariff.pk)
    return _tariff_save(tariff=tariff, values=values, elements=elements)


def session_price_freeze(*, session: ChargingSession) -> SessionPrice | None:
    """Price a completed session by the tariff valid at its start, freeze that price and charge it.

    Idempotent: a session priced already keeps its price. Returns None, and leaves the
    session unpriced, when it is not completed or no tariff applies.
    """
    existing = SessionPrice.objects.filter(session_id=session.pk).first()
    if existing is not None:
        session_charge_book(price=existing)  # in case the charge was not booked with it
        return existing
    if session.state != ChargingSession.State.COMPLETED or session.connector is None:
        return None
    tariff = tariff_for(connector=session.connector, customer_account=session.customer_account, at=session.started_at)
    if tariff is None:
        return None
    spec = tariff_spec(tariff, time_zone=session_time_zone(session))
    priced = price_session(spec, session_timeline(session))
    try:
        with transaction.atomic():
            price = SessionPrice.objects.create(
                session=session,
                tariff=tariff,
                tariff_snapshot=tariff_spec_to_snapshot(spec),
                breakdown=priced_lines_to_breakdown(priced),
                currency=priced.currency,
                energy_wh=priced.energy_wh,
                net_total=priced.net_total,
                vat_rate=priced.vat_rate,
                vat_amount=priced.vat_amount,
                gross_total=priced.gross_total,
                adjustment=priced.adjustment,
                priced_at=timezone.now(),
            )
            session_charge_book(price=price)
            return price
    except IntegrityError:
        # Priced by someone else meanwhile: theirs stands (and they charge it). Anything else is an error.
        existing = SessionPrice.objects.filter(session_id=session.pk).first()
        if existing is None:
            raise
        return existing


def session_price_freeze_by_id(session_id: int) -> None:
    """The hook ``sessions_app`` calls after a session's stop has committed."""
    session = (
        ChargingSession.objects.select_related("connector__charge_point", "charge_point__site", "customer_account")
        .filter(pk=session_id)
        .first()
    )
    if session is not None:
        session_price_freeze(session=session)


@transaction.atomic
def credit_note_issue(*, session: ChargingSession, net_amount: Decimal, reason: str, user) -> CreditNote:
    """Give money back on a priced session, in the ledger too. Never more, in total, than its net price."""
    price = SessionPrice.objects.select_for_update().filter(session_id=session.pk).first()
    if price is None:
        raise ValidationError(_("This session has no price to credit."), code="unpriced")
    net_amount = money.quantize(net_amount, price.currency)
    if net_amount <= 0:
        raise ValidationError(_("A credit note is for a positive amount."), code="not_positive")
    if not reason.strip():
        raise ValidationError(_("Say why the credit is given."), code="no_reason")
    available = session_credit_available(session)
    if net_amount > available:
        raise ValidationError(
            _("At most %(available)s %(currency)s net can still be credited on this session."),
            params={"available": available, "currency": price.currency},
            code="too_much",
        )
    vat_amount = money.vat_on_net(net_amount, price.vat_rate, price.currency)
    credit_note = CreditNote.objects.create(
        session=session,
        currency=price.currency,
        net_amount=net_amount,
        vat_rate=price.vat_rate,
        vat_amount=vat_amount,
        gross_amount=net_amount + vat_amount,
        reason=reason.strip(),
        created_by=user if getattr(user, "pk", None) else None,
    )
    credit_note_book(credit_note=credit_note)
    hooks.session_credited(session.pk)
    return credit_note

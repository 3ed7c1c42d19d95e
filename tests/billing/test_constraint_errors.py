"""A price breaking a database constraint is an error, never mistaken for "priced meanwhile by someone else"."""

import dataclasses
from decimal import Decimal

import pytest
from django.db import IntegrityError

import billing.services
from billing.models import LedgerEntry, SessionPrice
from billing.pricing import price_session
from billing.services import session_price_freeze, tariff_assignment_create
from tests.factories import make_session, make_tariff

pytestmark = pytest.mark.django_db


@pytest.fixture
def negative_prices(world, monkeypatch):
    """Pricing gone wrong: every session costs less than nothing (sessionprice_not_negative refuses it)."""
    tariff_assignment_create(tariff=make_tariff(world.org_a, energy="4.00"))

    def negative(spec, timeline):
        return dataclasses.replace(price_session(spec, timeline), gross_total=Decimal("-1.00"))

    monkeypatch.setattr(billing.services, "price_session", negative)
    return make_session(world.cp_a.connectors.get(number=1), world.alice_card)


def test_a_price_breaking_a_check_constraint_raises(negative_prices):
    with pytest.raises(IntegrityError):
        session_price_freeze(session=negative_prices)
    assert not SessionPrice.objects.exists() and not LedgerEntry.objects.exists()


def test_a_session_priced_meanwhile_keeps_that_price_and_is_charged_once(world, monkeypatch):
    tariff_assignment_create(tariff=make_tariff(world.org_a, energy="4.00"))
    session = make_session(world.cp_a.connectors.get(number=1), world.alice_card)
    raced = []

    def racing(spec, timeline):
        if not raced:  # another worker prices the session between this one's read and its write
            raced.append(None)
            raced[0] = session_price_freeze(session=session)
        return price_session(spec, timeline)

    monkeypatch.setattr(billing.services, "price_session", racing)
    assert session_price_freeze(session=session).pk == raced[0].pk
    assert SessionPrice.objects.get(session=session).pk == raced[0].pk
    assert LedgerEntry.objects.filter(session=session, kind=LedgerEntry.Kind.CHARGE).count() == 1

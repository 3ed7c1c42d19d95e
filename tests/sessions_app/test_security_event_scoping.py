"""Security events, flags and charger events tell each operator only about its own stations.

A charger of operator B sending a StopTransaction for a transaction that runs on operator A's
station must not show B anything of A (not even that the transaction exists), while A learns that
its transaction was targeted without being shown B's charger.
"""

from datetime import timedelta

import pytest
from django.contrib import admin
from django.urls import reverse
from django.utils import timezone

from sessions_app.models import ChargingSession, SecurityEvent, SessionFlag
from sessions_app.services import session_stop
from tests.factories import make_charge_point, make_session

pytestmark = pytest.mark.django_db


def stop(charge_point, transaction_id: int) -> ChargingSession:
    now = timezone.now()
    return session_stop(
        charge_point=charge_point,
        transaction_id=transaction_id,
        raw_uid="",
        meter_stop_wh=9,
        timestamp=now - timedelta(minutes=1),
        reason="Local",
        transaction_data=[],
        now=now,
    )


def flag_codes(charge_point) -> set[str]:
    return set(SessionFlag.objects.filter(session__charge_point=charge_point).values_list("code", flat=True))


REPORT_PAGES = ["reporting_overview", "reporting_uptime", "reporting_faults", "reporting_attention"]


def changelist_pages(client):
    """Every admin list and report page the logged-in user may open, with its HTML."""
    lists = [f"{model._meta.app_label}_{model._meta.model_name}_changelist" for model in admin.site._registry]
    for name in [*lists, *REPORT_PAGES]:
        url = reverse(f"admin:{name}")
        response = client.get(url)
        if response.status_code == 200:
            yield url, response.content.decode()


def test_a_stop_for_another_operators_transaction_looks_unknown_to_the_sender(world):
    victim = make_session(world.cp_a.connectors.first(), world.alice_card, energy_wh=None)

    stop(world.cp_b, victim.pk)
    stop(world.cp_b, victim.pk + 1000)  # a number that does not exist, for comparison

    victim.refresh_from_db()
    assert victim.state == ChargingSession.State.ACTIVE
    assert flag_codes(world.cp_b) == {SessionFlag.Code.UNKNOWN_TRANSACTION}
    assert not SecurityEvent.objects.filter(organization=world.org_b).exists()
    event = SecurityEvent.objects.get(organization=world.org_a)
    assert (event.kind, event.charge_point, event.ocpp_id) == (SecurityEvent.Kind.FOREIGN_STOP, world.cp_a, "ALPHA-1")
    assert f"transaction {victim.pk}" in event.detail and "BETA-1" not in event.detail


def test_a_stop_between_one_operators_own_stations_names_both(world):
    victim = make_session(world.cp_a.connectors.first(), world.alice_card, energy_wh=None)
    sibling = make_charge_point(world.site_a, "ALPHA-2")

    stop(sibling, victim.pk)

    assert flag_codes(sibling) == {SessionFlag.Code.FOREIGN_STATION_STOP}
    event = SecurityEvent.objects.get()
    assert (event.organization, event.charge_point) == (world.org_a, sibling)
    assert event.kind == SecurityEvent.Kind.FOREIGN_STOP
    assert event.detail == f"Transaction {victim.pk} runs on ALPHA-1."


def test_no_admin_list_shows_an_operator_the_other_operators_station(client, world):
    victim = make_session(world.cp_a.connectors.first(), world.alice_card, energy_wh=None)
    stop(world.cp_b, victim.pk)
    stop(world.cp_a, 999_999)  # and A's own unknown stop, which B must not see either

    client.force_login(world.dave)
    dave_pages = dict(changelist_pages(client))
    assert reverse("admin:sessions_app_securityevent_changelist") in dave_pages
    assert reverse("admin:sessions_app_sessionflag_changelist") in dave_pages
    assert reverse("admin:reporting_attention") in dave_pages
    for url, html in dave_pages.items():
        assert "ALPHA-1" not in html, url
        assert "Alpha Charge" not in html, url

    client.force_login(world.carol)
    carol_pages = dict(changelist_pages(client))
    assert (
        "A charger of another operator sent a stop"
        in carol_pages[reverse("admin:sessions_app_securityevent_changelist")]
    )
    for url, html in carol_pages.items():
        assert "BETA-1" not in html, url
        assert "Beta Power" not in html, url

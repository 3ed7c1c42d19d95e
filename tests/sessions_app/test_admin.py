"""The admin for sites, chargers and sessions: scoped to the operator, charger data read-only, no N+1."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from sessions_app.models import ChargePoint, ChargingSession, MeterValue, SessionFlag, Site, StatusEvent
from tests.factories import make_charge_point, make_session, make_site

pytestmark = pytest.mark.django_db


def changelist(model: str) -> str:
    return reverse(f"admin:sessions_app_{model}_changelist")


def change(model: str, pk: int) -> str:
    return reverse(f"admin:sessions_app_{model}_change", args=[pk])


def beta_and_alpha_objects(world) -> dict[str, tuple]:
    """One object of each model per organization: (A's, B's)."""
    session_a = make_session(world.cp_a.connectors.first(), world.alice_card)
    session_b = make_session(world.cp_b.connectors.first(), None)
    now = timezone.now()
    return {
        "site": (world.site_a, world.site_b),
        "chargepoint": (world.cp_a, world.cp_b),
        "connector": (world.cp_a.connectors.first(), world.cp_b.connectors.first()),
        "chargingsession": (session_a, session_b),
        "sessionflag": tuple(SessionFlag.objects.create(session=s, code="zero_energy") for s in (session_a, session_b)),
        "metervalue": tuple(
            MeterValue.objects.create(
                charge_point=s.charge_point, connector=s.connector, session=s, timestamp=now, value=Decimal(1000)
            )
            for s in (session_a, session_b)
        ),
        "statusevent": tuple(
            StatusEvent.objects.create(charge_point=cp, status="Available", error_code="NoError", timestamp=now)
            for cp in (world.cp_a, world.cp_b)
        ),
    }


MODELS = ["site", "chargepoint", "connector", "chargingsession", "sessionflag", "metervalue", "statusevent"]


@pytest.mark.parametrize("model", MODELS)
def test_staff_list_only_their_organizations_rows(client, world, model):
    alpha, beta = beta_and_alpha_objects(world)[model]
    for staff, mine, theirs in ((world.carol, alpha, beta), (world.dave, beta, alpha)):
        client.force_login(staff)
        response = client.get(changelist(model))
        assert response.status_code == 200
        rows = list(response.context["cl"].result_list)
        assert mine in rows and theirs not in rows
        assert ("Beta" if staff == world.carol else "Alpha").encode() not in response.content
    client.force_login(world.admin)
    assert {alpha, beta} <= set(client.get(changelist(model)).context["cl"].result_list)


@pytest.mark.parametrize("model", MODELS)
def test_other_organizations_objects_are_not_shown_by_url(client, world, model):
    alpha, beta = beta_and_alpha_objects(world)[model]
    client.force_login(world.carol)
    assert client.get(change(model, alpha.pk)).status_code == 200
    response = client.get(change(model, beta.pk), follow=True)
    assert response.redirect_chain[0] == (reverse("admin:index"), 302)
    assert "doesn’t exist" in str(list(response.context["messages"])[0])
    client.force_login(world.dave)
    assert client.get(change(model, alpha.pk)).status_code == 302


def test_drivers_are_sent_to_the_admin_login(client, world):
    client.force_login(world.alice)
    response = client.get(changelist("site"))
    assert response.status_code == 302 and response.url.startswith(reverse("admin:login"))


def site_post(organization_id: int, name: str) -> dict:
    return {
        "organization": organization_id,
        "name": name,
        "street": "Torget 1",
        "postal_code": "111 22",
        "city": "Uppsala",
        "country": "SE",
        "latitude": "59.8",
        "longitude": "17.6",
        "time_zone": "Europe/Stockholm",
        "created_at_0": "2026-01-01",
        "created_at_1": "10:00:00",
        "charge_points-TOTAL_FORMS": "0",
        "charge_points-INITIAL_FORMS": "0",
    }


def test_staff_create_sites_only_for_their_organization(client, world):
    client.force_login(world.carol)
    form = client.get(reverse("admin:sessions_app_site_add")).context["adminform"].form
    assert list(form.fields["organization"].queryset) == [world.org_a]
    assert form.fields["organization"].initial == world.org_a

    response = client.post(reverse("admin:sessions_app_site_add"), site_post(world.org_b.pk, "Sneaky"))
    assert response.status_code == 200
    assert not Site.objects.filter(name="Sneaky").exists()

    response = client.post(reverse("admin:sessions_app_site_add"), site_post(world.org_a.pk, "Uppsala Hub"))
    assert response.status_code == 302
    assert Site.objects.get(name="Uppsala Hub").organization == world.org_a


def test_staff_cannot_move_a_charger_to_another_organizations_site(client, world):
    client.force_login(world.carol)
    data = {
        "site": world.site_b.pk,
        "ocpp_id": "ALPHA-1",
        "registration_status": "accepted",
        "connectors-TOTAL_FORMS": "0",
        "connectors-INITIAL_FORMS": "0",
    }
    response = client.post(change("chargepoint", world.cp_a.pk), data)
    assert response.status_code == 200
    world.cp_a.refresh_from_db()
    assert world.cp_a.site == world.site_a


def charge_point_post(cp: ChargePoint, **overrides) -> dict:
    data = {
        "site": cp.site_id,
        "ocpp_id": cp.ocpp_id,
        "name": cp.name,
        "registration_status": cp.registration_status,
        "security_profile": cp.security_profile,
        "connectors-TOTAL_FORMS": "0",
        "connectors-INITIAL_FORMS": "0",
    }
    return data | overrides


def test_charger_password_is_set_and_cleared_but_never_shown(client, world):
    client.force_login(world.carol)
    response = client.post(change("chargepoint", world.cp_a.pk), charge_point_post(world.cp_a, new_password="s3cret!"))
    assert response.status_code == 302
    world.cp_a.refresh_from_db()
    assert world.cp_a.check_password("s3cret!")

    page = client.get(change("chargepoint", world.cp_a.pk)).content.decode()
    assert world.cp_a.password_hash not in page and "password_hash" not in page

    client.post(change("chargepoint", world.cp_a.pk), charge_point_post(world.cp_a))
    world.cp_a.refresh_from_db()
    assert world.cp_a.check_password("s3cret!")  # left empty: unchanged

    client.post(change("chargepoint", world.cp_a.pk), charge_point_post(world.cp_a, clear_password="on"))
    world.cp_a.refresh_from_db()
    assert world.cp_a.password_hash == ""


def test_charger_data_is_read_only_for_staff(client, world):
    session = make_session(world.cp_a.connectors.first(), world.alice_card)
    client.force_login(world.carol)
    response = client.get(change("chargingsession", session.pk))
    assert response.status_code == 200 and not response.context["has_change_permission"]
    assert client.get(reverse("admin:sessions_app_chargingsession_add")).status_code == 403
    response = client.post(change("chargingsession", session.pk), {"energy_wh": 1})
    assert response.status_code == 403


def test_mark_resolved_action_resolves_only_own_flags(client, world):
    alpha, beta = beta_and_alpha_objects(world)["sessionflag"]
    client.force_login(world.carol)
    client.post(changelist("sessionflag"), {"action": "mark_resolved", "_selected_action": [alpha.pk, beta.pk]})
    alpha.refresh_from_db()
    beta.refresh_from_db()
    assert alpha.resolved_at is not None and beta.resolved_at is None


def test_site_filter_offers_only_own_sites(client, world):
    make_session(world.cp_b.connectors.first(), None)
    client.force_login(world.carol)
    response = client.get(changelist("chargingsession"))
    assert b"Beta Mall" not in response.content


def add_rows(world, model: str, count: int) -> None:
    now = timezone.now()
    for i in range(count):
        if model in {"site", "chargepoint", "connector"}:
            make_charge_point(make_site(world.org_a))
            continue
        connector = world.cp_a.connectors.first()
        session = make_session(connector, world.alice_card, started_at=now - timedelta(days=i + 1))
        if model == "sessionflag":
            SessionFlag.objects.create(session=session, code="zero_energy")
        elif model == "metervalue":
            MeterValue.objects.create(
                charge_point=world.cp_a,
                connector=connector,
                session=session,
                timestamp=now - timedelta(minutes=i),
                value=Decimal(i),
            )
        elif model == "statusevent":
            StatusEvent.objects.create(
                charge_point=world.cp_a,
                connector=connector,
                status="Charging",
                error_code="NoError",
                timestamp=now - timedelta(minutes=i),
            )


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("user", ["carol", "admin"])
def test_changelists_need_no_query_per_row(client, world, model, user):
    client.force_login(getattr(world, user))
    url = changelist(model)
    client.get(url)

    def count_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        return len(queries)

    add_rows(world, model, 3)
    few = count_queries()
    add_rows(world, model, 30)
    assert count_queries() == few
    assert ChargingSession.objects.count() < 100  # all rows fit on one page

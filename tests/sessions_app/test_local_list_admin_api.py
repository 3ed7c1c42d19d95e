"""The local list in the admin (the choice on site and charger, the state on the charger's page, "send it again",
SendLocalList on the command form) and in the operator API; another operator and drivers are refused."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from sessions_app import local_list
from sessions_app.models import ChargePoint, LocalAuthList
from tests.sessions_app.test_local_list import FakeCharger

pytestmark = pytest.mark.django_db


@pytest.fixture
def charger(world, monkeypatch):
    """ALPHA-1 keeps a list of its own choice, is connected, and answers as a charger would."""
    ChargePoint.objects.filter(pk=world.cp_a.pk).update(local_auth_list=True, channel_name="specific.test!1")
    fake = FakeCharger()
    monkeypatch.setattr(local_list, "command_send", fake)
    return fake


def test_the_choice_is_on_the_site_and_charger_forms_and_the_state_on_the_chargers_page(client, world, charger):
    local_list.local_list_sync(charge_point_id=world.cp_a.pk)
    client.force_login(world.carol)

    site_page = client.get(reverse("admin:sessions_app_site_change", args=[world.site_a.pk]))
    assert "local_auth_list" in site_page.context["adminform"].form.fields
    page = client.get(reverse("admin:sessions_app_chargepoint_change", args=[world.cp_a.pk]))
    assert "local_auth_list" in page.context["adminform"].form.fields
    text = page.content.decode()
    assert "version 1, Up to date, 2 entries on the charger" in text and "last answer Accepted" in text


def test_choosing_a_list_on_the_charger_form_is_kept(world):
    from django.forms.models import model_to_dict

    from sessions_app.admin import ChargePointForm

    cp = ChargePoint.objects.get(pk=world.cp_a.pk)
    data = {name: value for name, value in model_to_dict(cp).items() if value is not None}
    form = ChargePointForm({**data, "local_auth_list": "false"}, instance=cp)
    assert form.is_valid(), form.errors
    form.save()
    assert ChargePoint.objects.get(pk=cp.pk).local_auth_list is False


def test_the_resend_action_sends_the_full_list_to_the_operators_own_charger(
    client, world, charger, django_capture_on_commit_callbacks
):
    local_list.local_list_sync(charge_point_id=world.cp_a.pk)
    client.force_login(world.carol)

    with django_capture_on_commit_callbacks(execute=True):
        with_commit = client.post(
            reverse("admin:sessions_app_chargepoint_changelist"),
            {"action": "resend_local_list", "_selected_action": [world.cp_a.pk]},
            follow=True,
        )

    assert "The full local list goes to 1 charger" in with_commit.content.decode()
    assert [payload["update_type"] for payload in charger.lists()] == ["Full", "Full"]
    assert LocalAuthList.objects.get(charge_point=world.cp_a).version == 2


def test_another_operator_cannot_resend_or_see_the_list(client, world, charger):
    client.force_login(world.dave)
    client.post(
        reverse("admin:sessions_app_chargepoint_changelist"),
        {"action": "resend_local_list", "_selected_action": [world.cp_a.pk]},
    )
    assert charger.sent == []
    page = client.get(reverse("admin:sessions_app_chargepoint_change", args=[world.cp_a.pk]))
    assert page.status_code in (302, 404)


def test_the_command_form_sends_a_local_list_as_typed(client, world, transport):
    LocalAuthList.objects.create(charge_point=world.cp_a, version=3, state="in_sync", full_needed=False)
    client.force_login(world.carol)
    response = client.post(
        reverse("admin:sessions_app_chargepoint_commands", args=[world.cp_a.pk]),
        {
            "action": "SendLocalList",
            "list_version": 7,
            "update_type": "Differential",
            "local_authorization_list": "04A1B2C3, Accepted, 2027-01-01T00:00:00+00:00, FLEET1\nGONE\n\n",
        },
    )
    assert response.context["form"].errors == {}
    assert transport.sent == [
        (
            "ALPHA-1",
            "SendLocalList",
            {
                "list_version": 7,
                "update_type": "Differential",
                "local_authorization_list": [
                    {
                        "id_tag": "04A1B2C3",
                        "id_tag_info": {
                            "status": "Accepted",
                            "expiry_date": "2027-01-01T00:00:00Z",
                            "parent_id_tag": "FLEET1",
                        },
                    },
                    {"id_tag": "GONE"},
                ],
            },
        )
    ]
    state = LocalAuthList.objects.get(charge_point=world.cp_a)  # the tracked list goes in full next time
    assert (state.full_needed, state.state) == (True, "pending")


def test_the_command_form_refuses_a_full_list_entry_without_status(client, world, transport):
    client.force_login(world.carol)
    response = client.post(
        reverse("admin:sessions_app_chargepoint_commands", args=[world.cp_a.pk]),
        {"action": "SendLocalList", "list_version": 1, "update_type": "Full", "local_authorization_list": "A"},
    )
    assert "local_authorization_list" in response.context["form"].errors
    assert transport.sent == []


# --- operator API ------------------------------------------------------------------------------------------------


def test_the_api_shows_the_state_and_resends_the_full_list(
    carol_api, world, charger, django_capture_on_commit_callbacks
):
    local_list.local_list_sync(charge_point_id=world.cp_a.pk)

    state = carol_api.get(reverse("api:operator_station_local_list", args=[world.cp_a.pk]))
    assert state.status_code == 200
    assert state.json() | {"last_sent_at": None} == {
        "kept": True,
        "list_state": "in_sync",
        "version": 1,
        "entries": 2,
        "last_status": "Accepted",
        "last_sent_at": None,
        "failed_attempts": 0,
        "cards_allowed": 2,
        "left_out": 0,
        "capacity": None,
        "per_message": None,
    }

    with django_capture_on_commit_callbacks(execute=True):
        resent = carol_api.post(reverse("api:operator_station_local_list_resend", args=[world.cp_a.pk]))
    assert resent.status_code == 202
    assert resent.json()["list_state"] == "in_sync"  # answered before the commit: the sync follows it
    assert [payload["update_type"] for payload in charger.lists()] == ["Full", "Full"]


def test_the_api_refuses_a_resend_to_a_station_without_a_list(carol_api, world, charger):
    ChargePoint.objects.filter(pk=world.cp_a.pk).update(local_auth_list=False)
    response = carol_api.post(reverse("api:operator_station_local_list_resend", args=[world.cp_a.pk]))
    assert response.status_code == 409
    assert charger.sent == []


def test_the_api_sends_a_local_list_as_given_and_the_tracked_list_goes_in_full_next(carol_api, world, transport):
    LocalAuthList.objects.create(charge_point=world.cp_a, version=3, state="in_sync", full_needed=False)
    body = {
        "list_version": 9,
        "update_type": "Full",
        "local_authorization_list": [{"id_tag": "app-1", "id_tag_info": {"status": "Blocked"}}],
    }
    response = carol_api.post(
        reverse("api:operator_station_local_list_send", args=[world.cp_a.pk]), body, format="json"
    )
    assert response.status_code == 200, response.content
    assert transport.sent == [("ALPHA-1", "SendLocalList", body)]
    state = LocalAuthList.objects.get(charge_point=world.cp_a)
    assert (state.full_needed, state.state) == (True, "pending")


def test_the_api_refuses_what_ocpp_does_not_allow_in_a_local_list(carol_api, world, transport):
    body = {"list_version": 1, "update_type": "Full", "local_authorization_list": [{"id_tag": "A"}]}
    response = carol_api.post(
        reverse("api:operator_station_local_list_send", args=[world.cp_a.pk]), body, format="json"
    )
    assert response.status_code == 400
    assert "local_authorization_list" in str(response.json()["error"]["fields"])
    assert transport.sent == []


@pytest.mark.parametrize(
    ("method", "name"),
    [
        ("get", "api:operator_station_local_list"),
        ("post", "api:operator_station_local_list_resend"),
        ("post", "api:operator_station_local_list_send"),
    ],
)
def test_another_operators_station_is_not_found_and_drivers_are_refused(world, carol_api, charger, method, name):
    other = getattr(carol_api, method)(reverse(name, args=[world.cp_b.pk]), {}, format="json")
    assert other.status_code == 404
    driver = APIClient()
    driver.force_authenticate(world.alice)
    assert getattr(driver, method)(reverse(name, args=[world.cp_a.pk]), {}, format="json").status_code == 403
    assert charger.sent == []


def test_a_card_edited_in_the_admin_reaches_the_list(client, world, charger, django_capture_on_commit_callbacks):
    local_list.local_list_sync(charge_point_id=world.cp_a.pk)
    client.force_login(world.carol)
    card = world.bob_card
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("admin:accounts_idtag_change", args=[card.pk]),
            {
                "kind": card.kind,
                "uid": card.uid,
                "label": "",
                "customer_account": card.customer_account_id,
                "owner": card.owner_id,
                "parent": "",
                "expires_at_0": "2030-01-01",
                "expires_at_1": "00:00:00",
                "max_concurrent_sessions": 1,
                "issued_at_0": "2026-01-01",
                "issued_at_1": "00:00:00",
            },
        )
    assert response.status_code == 302, response.context["adminform"].form.errors
    last = charger.lists()[-1]
    assert last["update_type"] == "Differential"
    assert [entry["id_tag"] for entry in last["local_authorization_list"]] == [card.uid]
    assert last["local_authorization_list"][0]["id_tag_info"]["expiry_date"].startswith("2029-12-31T23:00:00")

"""Operator commands to chargers from the admin, connectivity columns and approving pending chargers.

Only the transport is replaced: ``commands.command_send`` records what it was asked to send
and returns the answer the test chooses.
"""

import html
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from sessions_app.models import ChargePoint, ChargerCommand, SecurityEvent, offline_after
from sessions_app.ocpp.commands import CommandResult
from tests.factories import make_organization, make_session, make_tag

pytestmark = pytest.mark.django_db


def commands_url(cp: ChargePoint) -> str:
    return reverse("admin:sessions_app_chargepoint_commands", args=[cp.pk])


def online(cp: ChargePoint) -> ChargePoint:
    now = timezone.now()
    ChargePoint.objects.filter(pk=cp.pk).update(channel_name="specific.test!1", last_seen_at=now, connected_at=now)
    cp.refresh_from_db()
    return cp


def test_each_command_form_sends_its_ocpp_payload(client, world, transport):
    session = make_session(world.cp_a.connectors.first(), world.alice_card, energy_wh=None)
    client.force_login(world.carol)
    forms = [
        (
            {"action": "RemoteStartTransaction", "connector_id": 1, "id_tag": world.alice_card.pk},
            {"connector_id": 1, "id_tag": "04A1B2C3"},
        ),
        ({"action": "RemoteStopTransaction", "session": session.pk}, {"transaction_id": session.pk}),
        ({"action": "Reset", "reset_type": "Hard"}, {"type": "Hard"}),
        ({"action": "UnlockConnector", "connector_id": 2}, {"connector_id": 2}),
        (
            {"action": "ChangeAvailability", "connector_id": 0, "availability_type": "Inoperative"},
            {"connector_id": 0, "type": "Inoperative"},
        ),
        (
            {"action": "GetConfiguration", "keys": "HeartbeatInterval, MeterValueSampleInterval"},
            {"key": ["HeartbeatInterval", "MeterValueSampleInterval"]},
        ),
        ({"action": "GetConfiguration", "keys": ""}, {}),
        (
            {"action": "ChangeConfiguration", "key": "HeartbeatInterval", "value": "120"},
            {"key": "HeartbeatInterval", "value": "120"},
        ),
        (
            {"action": "TriggerMessage", "requested_message": "StatusNotification", "connector_id": 1},
            {"requested_message": "StatusNotification", "connector_id": 1},
        ),
        ({"action": "TriggerMessage", "requested_message": "Heartbeat"}, {"requested_message": "Heartbeat"}),
    ]
    for data, payload in forms:
        response = client.post(commands_url(world.cp_a), data)
        assert response.status_code == 200
        assert response.context["form"].errors == {}, data
        assert transport.sent[-1] == ("ALPHA-1", data["action"], payload)
    assert len(transport.sent) == len(forms)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"action": "RemoteStartTransaction", "connector_id": 1}, "id_tag"),
        ({"action": "RemoteStartTransaction", "id_tag": "x", "connector_id": 0}, "connector_id"),
        ({"action": "RemoteStopTransaction"}, "session"),
        ({"action": "ChangeAvailability", "availability_type": "Operative"}, "connector_id"),
        ({"action": "ChangeConfiguration", "key": "HeartbeatInterval"}, "value"),
        ({"action": "Reset", "reset_type": "Gentle"}, "reset_type"),
    ],
)
def test_incomplete_command_is_not_sent(client, world, transport, data, field):
    client.force_login(world.carol)
    response = client.post(commands_url(world.cp_a), data)
    assert field in response.context["form"].errors
    assert transport.sent == []


@pytest.mark.parametrize(
    ("result", "shown"),
    [
        (CommandResult("answered", {"status": "Accepted"}), "The charger answered Accepted."),
        (CommandResult("answered", {"status": "Rejected"}), "The charger answered Rejected."),
        (CommandResult("answered", {}), "The charger answered."),
        (CommandResult("offline"), "The charger was offline, so nothing was sent."),
        (CommandResult("timeout"), "The charger did not answer in time."),
        (CommandResult("no_answer"), "The charger&#x27;s connection ended before it answered."),
        (
            CommandResult("error", code="NotSupported", description="no resets here"),
            "The charger returned an error: NotSupported no resets here.",
        ),
    ],
)
def test_each_outcome_is_shown_in_outcome_texts_words(client, world, transport, result, shown):
    """The page says what every other page that reports a command says (``commands.outcome_text``)."""
    transport.result = result
    client.force_login(world.carol)
    response = client.post(commands_url(world.cp_a), {"action": "Reset", "reset_type": "Soft"})
    assert response.context["outcome"] == html.unescape(shown)
    assert shown in response.content.decode()


def test_the_history_tells_each_outcome_in_outcome_texts_words(client, world):
    now = timezone.now()
    for minutes, outcome, status in ((2, "offline", ""), (1, "answered", "Rejected")):
        ChargerCommand.objects.create(
            charge_point=world.cp_a,
            action="Reset",
            outcome=outcome,
            status=status,
            answer={"status": status} if status else {},
            sent_at=now - timedelta(minutes=minutes),
            finished_at=now - timedelta(minutes=minutes),
        )
    client.force_login(world.carol)
    response = client.get(commands_url(world.cp_a))
    assert [outcome for _sent, outcome in response.context["history"]] == [
        "the charger answered Rejected",
        "the charger was offline, so nothing was sent",
    ]
    assert "<td>The charger was offline, so nothing was sent</td>" in response.content.decode()


def test_a_command_waits_the_configured_time(client, world, transport, monkeypatch):
    from sessions_app import admin as sessions_admin

    monkeypatch.setattr(sessions_admin, "COMMAND_TIMEOUT", 2)
    transport.result = CommandResult("timeout")
    client.force_login(world.carol)
    client.post(commands_url(world.cp_a), {"action": "Reset", "reset_type": "Soft"})
    assert transport.timeouts[-1] == 2


def test_get_configuration_answer_is_shown_as_a_table(client, world, transport):
    transport.result = CommandResult(
        "answered",
        {
            "configuration_key": [
                {"key": "HeartbeatInterval", "readonly": False, "value": "300"},
                {"key": "NumberOfConnectors", "readonly": True, "value": "2"},
            ],
            "unknown_key": ["Bogus"],
        },
    )
    client.force_login(world.carol)
    response = client.post(commands_url(world.cp_a), {"action": "GetConfiguration", "keys": ""})
    page = response.content.decode()
    table = page[page.index('id="configuration-keys"') :]
    assert "HeartbeatInterval" in table and "300" in table and "NumberOfConnectors" in table
    assert "Bogus" in page


def test_staff_command_only_their_own_chargers(client, world, transport):
    client.force_login(world.carol)
    assert client.get(commands_url(world.cp_a)).status_code == 200
    assert client.get(commands_url(world.cp_b)).status_code == 404
    assert client.post(commands_url(world.cp_b), {"action": "Reset", "reset_type": "Hard"}).status_code == 404
    client.force_login(world.dave)
    assert client.post(commands_url(world.cp_a), {"action": "Reset", "reset_type": "Hard"}).status_code == 404
    assert transport.sent == []
    client.force_login(world.alice)
    assert client.get(commands_url(world.cp_a)).status_code == 302  # to the login page
    client.force_login(world.admin)
    assert client.get(commands_url(world.cp_b)).status_code == 200


def test_staff_can_only_use_their_organizations_cards_and_this_chargers_sessions(client, world, transport):
    other_card = make_tag(
        make_organization("Gamma").customer_accounts.create(name="Gamma Fleet", billing_email="fleet@gamma.example"),
        None,
        "04C0C0C0",
    )
    beta_session = make_session(world.cp_b.connectors.first(), None, energy_wh=None)
    client.force_login(world.carol)
    form = client.get(commands_url(world.cp_a)).context["form"]
    assert set(form.fields["id_tag"].queryset) == {world.alice_card, world.bob_card}
    response = client.post(
        commands_url(world.cp_a),
        {
            "action": "RemoteStartTransaction",
            "connector_id": 1,
            "id_tag": other_card.pk,
        },
    )
    assert "id_tag" in response.context["form"].errors
    response = client.post(commands_url(world.cp_a), {"action": "RemoteStopTransaction", "session": beta_session.pk})
    assert "session" in response.context["form"].errors
    assert transport.sent == []


def test_staff_without_change_permission_cannot_command(client, world, transport):
    from django.contrib.auth.models import Permission

    world.carol.groups.clear()
    world.carol.user_permissions.add(Permission.objects.get(codename="view_chargepoint"))
    client.force_login(world.carol)
    assert client.post(commands_url(world.cp_a), {"action": "Reset", "reset_type": "Hard"}).status_code == 403
    assert transport.sent == []


def test_change_page_links_to_commands_and_the_action_opens_them(client, world):
    client.force_login(world.carol)
    page = client.get(reverse("admin:sessions_app_chargepoint_change", args=[world.cp_a.pk])).content.decode()
    assert commands_url(world.cp_a) in page
    changelist = reverse("admin:sessions_app_chargepoint_changelist")
    response = client.post(changelist, {"action": "send_command", "_selected_action": [world.cp_a.pk]})
    assert response.status_code == 302 and response.url == commands_url(world.cp_a)
    second = ChargePoint.objects.create(organization=world.org_a, site=world.site_a, ocpp_id="ALPHA-2")
    response = client.post(
        changelist, {"action": "send_command", "_selected_action": [world.cp_a.pk, second.pk]}, follow=True
    )
    assert "exactly one" in str(list(response.context["messages"])[0])


def test_online_column_follows_the_heartbeat_rule(client, world):
    online(world.cp_a)
    stale = timezone.now() - offline_after(world.cp_b.heartbeat_interval) - timedelta(seconds=5)
    ChargePoint.objects.filter(pk=world.cp_b.pk).update(channel_name="specific.old!1", last_seen_at=stale)
    client.force_login(world.admin)
    response = client.get(reverse("admin:sessions_app_chargepoint_changelist"))
    model_admin = response.context["cl"].model_admin
    rows = {cp.ocpp_id: model_admin.is_online(cp) for cp in response.context["cl"].result_list}
    assert rows == {"ALPHA-1": True, "BETA-1": False}
    shown = model_admin.get_list_display(response.wsgi_request)
    assert {"is_online", "last_seen", "connectors", "organization"} <= set(shown)


def test_approve_accepts_pending_chargers_with_a_site_only(client, world):
    with_site = ChargePoint.objects.create(organization=world.org_a, site=world.site_a, ocpp_id="NEW-1")
    without_site = ChargePoint.objects.create(organization=world.org_a, ocpp_id="NEW-2")
    theirs = ChargePoint.objects.create(organization=world.org_b, site=world.site_b, ocpp_id="NEW-3")
    client.force_login(world.carol)
    response = client.post(
        reverse("admin:sessions_app_chargepoint_changelist"),
        {
            "action": "approve",
            "_selected_action": [with_site.pk, without_site.pk, theirs.pk],
        },
        follow=True,
    )
    statuses = dict(
        ChargePoint.objects.filter(ocpp_id__startswith="NEW-").values_list("ocpp_id", "registration_status")
    )
    assert statuses == {"NEW-1": "accepted", "NEW-2": "pending", "NEW-3": "pending"}
    shown = " ".join(str(message) for message in response.context["messages"])
    assert "Approved 1 charger." in shown and "no site yet" in shown


def test_registration_status_is_a_list_filter(client, world):
    ChargePoint.objects.create(organization=world.org_a, ocpp_id="NEW-1")
    client.force_login(world.carol)
    response = client.get(
        reverse("admin:sessions_app_chargepoint_changelist"), {"registration_status__exact": "pending"}
    )
    assert [cp.ocpp_id for cp in response.context["cl"].result_list] == ["NEW-1"]


def test_security_events_are_scoped_and_superusers_see_unattributed_ones(client, world):
    mine = SecurityEvent.objects.create(
        organization=world.org_a, charge_point=world.cp_a, ocpp_id="ALPHA-1", kind="bad_password"
    )
    theirs = SecurityEvent.objects.create(organization=world.org_b, ocpp_id="BETA-1", kind="bad_password")
    nobodys = SecurityEvent.objects.create(ocpp_id="STRANGER", kind="unknown_charger")
    url = reverse("admin:sessions_app_securityevent_changelist")
    client.force_login(world.carol)
    assert list(client.get(url).context["cl"].result_list) == [mine]
    assert client.post(reverse("admin:sessions_app_securityevent_change", args=[mine.pk]), {}).status_code == 403
    client.force_login(world.admin)
    assert set(client.get(url).context["cl"].result_list) == {mine, theirs, nobodys}

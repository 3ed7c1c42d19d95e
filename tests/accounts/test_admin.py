"""The admin for accounts: operator staff see and change only their own organization."""

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.api_tokens import api_token_create
from accounts.models import CustomerAccount, IdTag, Organization, User
from accounts.roles import OPERATOR_GROUP_NAME
from sessions_app.models import (
    ChargerCertificate,
    ChargerCommand,
    ChargerEvent,
    ChargerUpload,
    Firmware,
    FirmwareCampaign,
    FirmwareUpdate,
    LoadGroup,
    MeterValue,
    Reservation,
    SecurityEvent,
    SessionFlag,
    SignedMeterValue,
    StationVariable,
    StatusEvent,
)
from tests.factories import make_account, make_driver, make_session, make_tag

pytestmark = pytest.mark.django_db


def changelist(model: str) -> str:
    return reverse(f"admin:accounts_{model}_changelist")


def change(model: str, pk: int) -> str:
    return reverse(f"admin:accounts_{model}_change", args=[pk])


def test_operator_group_exists_with_operator_permissions():
    group = Group.objects.get(name=OPERATOR_GROUP_NAME)
    codenames = set(group.permissions.values_list("codename", flat=True))
    assert {"view_site", "add_idtag", "change_organization", "view_chargingsession", "change_sessionflag"} <= codenames
    assert not {"add_organization", "delete_organization", "change_chargingsession", "change_metervalue"} & codenames


def test_staff_are_in_the_operator_group(world):
    assert world.carol.groups.filter(name=OPERATOR_GROUP_NAME).exists()
    assert not world.alice.groups.exists()


@pytest.mark.parametrize("model", ["idtag", "customeraccount", "user", "organization"])
def test_staff_see_only_their_organizations_rows(client, world, model):
    make_tag(make_account(world.org_b, "Beta Fleet"), uid="0B0B0B0B")
    client.force_login(world.carol)
    response = client.get(changelist(model))
    assert response.status_code == 200
    shown = {obj.pk for obj in response.context["cl"].result_list}
    model_class = {
        "idtag": IdTag,
        "customeraccount": CustomerAccount,
        "user": User,
        "organization": Organization,
    }[model]
    expected = {
        "idtag": IdTag.objects.filter(customer_account__organization=world.org_a),
        "customeraccount": CustomerAccount.objects.filter(organization=world.org_a),
        "user": User.objects.filter(pk__in=[world.alice.pk, world.bob.pk, world.carol.pk]),
        "organization": Organization.objects.filter(pk=world.org_a.pk),
    }[model]
    assert shown == set(expected.values_list("pk", flat=True))
    assert model_class.objects.exclude(pk__in=shown).exists()
    assert b"Beta" not in response.content and b"dave@" not in response.content


def test_card_list_shows_each_staff_member_only_their_cards(client, world):
    beta_card = make_tag(make_account(world.org_b, "Beta Fleet"), uid="0B0B0B0B")
    client.force_login(world.dave)
    response = client.get(changelist("idtag"))
    assert [tag.pk for tag in response.context["cl"].result_list] == [beta_card.pk]


def test_superuser_sees_both_organizations(client, world):
    make_tag(make_account(world.org_b, "Beta Fleet"), uid="0B0B0B0B")
    client.force_login(world.admin)
    response = client.get(changelist("idtag"))
    assert {tag.uid for tag in response.context["cl"].result_list} == {"04A1B2C3", "04B0B0B0", "0B0B0B0B"}
    response = client.get(changelist("user"))
    assert {world.carol, world.dave, world.alice} <= set(response.context["cl"].result_list)


@pytest.mark.parametrize("model", ["idtag", "customeraccount", "user", "organization"])
def test_other_organizations_objects_are_not_shown_by_url(client, world, model):
    beta_account = make_account(world.org_b, "Beta Fleet")
    beta = {
        "idtag": make_tag(beta_account, uid="0B0B0B0B"),
        "customeraccount": beta_account,
        "user": world.dave,
        "organization": world.org_b,
    }[model]
    client.force_login(world.carol)
    response = client.get(change(model, beta.pk), follow=True)
    assert response.redirect_chain[0] == (reverse("admin:index"), 302)
    assert "doesn’t exist" in str(list(response.context["messages"])[0])
    # and symmetric: dave cannot open A's objects
    client.force_login(world.dave)
    alpha = {
        "idtag": world.alice_card,
        "customeraccount": world.alice.customer_account,
        "user": world.carol,
        "organization": world.org_a,
    }[model]
    assert client.get(change(model, alpha.pk)).status_code == 302
    client.force_login(world.admin)
    assert client.get(change(model, beta.pk)).status_code == 200


def test_staff_cannot_change_a_superuser(client, world):
    world.admin.organization = world.org_a
    world.admin.save()
    client.force_login(world.carol)
    assert client.get(change("user", world.admin.pk)).status_code == 302


def test_drivers_are_sent_to_the_admin_login(client, world):
    client.force_login(world.alice)
    response = client.get(changelist("idtag"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))


def card_post(tag: IdTag, **overrides) -> dict:
    data = {
        "kind": tag.kind,
        "uid": tag.uid,
        "label": tag.label,
        "customer_account": tag.customer_account_id,
        "owner": tag.owner_id or "",
        "parent": "",
        "expires_at_0": "",
        "expires_at_1": "",
        "max_concurrent_sessions": tag.max_concurrent_sessions,
        "issued_at_0": tag.issued_at.strftime("%Y-%m-%d"),
        "issued_at_1": tag.issued_at.strftime("%H:%M:%S"),
    }
    return data | overrides


def test_staff_cannot_give_a_card_to_another_organizations_account(client, world):
    beta_account = make_account(world.org_b, "Beta Fleet")
    client.force_login(world.carol)
    response = client.post(
        change("idtag", world.alice_card.pk), card_post(world.alice_card, customer_account=beta_account.pk, owner="")
    )
    assert response.status_code == 200
    assert "customer_account" in response.context["adminform"].form.errors
    world.alice_card.refresh_from_db()
    assert world.alice_card.customer_account == world.alice.customer_account


def test_staff_can_change_their_card_and_uid_is_normalised(client, world):
    client.force_login(world.carol)
    response = client.post(change("idtag", world.alice_card.pk), card_post(world.alice_card, uid="04:a1-b2:c4"))
    assert response.status_code == 302
    world.alice_card.refresh_from_db()
    assert world.alice_card.uid == "04A1B2C4"


def test_staff_cannot_create_a_card_for_another_organization(client, world):
    beta_account = make_account(world.org_b, "Beta Fleet")
    client.force_login(world.carol)
    data = {
        "uid": "0C0C0C0C",
        "label": "",
        "customer_account": beta_account.pk,
        "owner": "",
        "parent": "",
        "max_concurrent_sessions": 1,
        "issued_at_0": "2026-01-01",
        "issued_at_1": "10:00:00",
    }
    response = client.post(reverse("admin:accounts_idtag_add"), data)
    assert response.status_code == 200
    assert not IdTag.objects.filter(uid="0C0C0C0C").exists()


def user_post(user: User, **overrides) -> dict:
    data = {
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "language": "en",
        "organization": user.organization_id or "",
        "customer_account": user.customer_account_id or "",
        "is_active": "on",
        "last_login_0": "",
        "last_login_1": "",
        "date_joined_0": user.date_joined.strftime("%Y-%m-%d"),
        "date_joined_1": "10:00:00",
    }
    if user.is_staff:
        data["is_staff"] = "on"
    return data | overrides


def test_staff_cannot_make_anyone_superuser_or_grant_groups(client, world):
    client.force_login(world.carol)
    response = client.get(change("user", world.alice.pk))
    assert "is_superuser" not in response.context["adminform"].form.fields
    assert "groups" not in response.context["adminform"].form.fields
    group = Group.objects.create(name="Secret")
    response = client.post(
        change("user", world.alice.pk), user_post(world.alice, is_superuser="on", groups=[group.pk], first_name="Alice")
    )
    assert response.status_code == 302
    world.alice.refresh_from_db()
    assert world.alice.first_name == "Alice"
    assert not world.alice.is_superuser and not world.alice.groups.exists()


def test_staff_cannot_move_a_driver_to_another_organizations_account(client, world):
    beta_account = make_account(world.org_b, "Beta Fleet")
    client.force_login(world.carol)
    response = client.post(change("user", world.alice.pk), user_post(world.alice, customer_account=beta_account.pk))
    assert response.status_code == 200
    world.alice.refresh_from_db()
    assert world.alice.customer_account.organization == world.org_a


def test_a_driver_cannot_be_given_staff_status(client, world):
    client.force_login(world.carol)
    response = client.post(change("user", world.alice.pk), user_post(world.alice, is_staff="on"))
    assert response.status_code == 200
    world.alice.refresh_from_db()
    assert not world.alice.is_staff


def test_staff_create_colleagues_in_their_organization_only(client, world):
    client.force_login(world.carol)
    data = {
        "email": "erin@alpha.example",
        "usable_password": "true",
        "password1": "another horse 43",
        "password2": "another horse 43",
        "organization": world.org_b.pk,
        "is_staff": "on",
        "is_active": "on",
    }
    response = client.post(reverse("admin:accounts_user_add"), data)
    assert response.status_code == 200
    assert not User.objects.filter(email="erin@alpha.example").exists()

    response = client.post(reverse("admin:accounts_user_add"), data | {"organization": world.org_a.pk})
    assert response.status_code == 302
    erin = User.objects.get(email="erin@alpha.example")
    assert erin.organization == world.org_a and erin.is_staff
    assert erin.groups.filter(name=OPERATOR_GROUP_NAME).exists()


def test_organization_choice_is_only_the_staff_members_own(client, world):
    client.force_login(world.carol)
    response = client.get(reverse("admin:accounts_organization_changelist"))
    assert response.status_code == 200
    response = client.get(reverse("admin:accounts_customeraccount_add"))
    field = response.context["adminform"].form.fields["organization"]
    assert list(field.queryset) == [world.org_a]


def test_staff_cannot_add_organizations(client, world):
    client.force_login(world.carol)
    assert client.get(reverse("admin:accounts_organization_add")).status_code == 403


def test_card_actions_block_mark_lost_and_unblock(client, world):
    client.force_login(world.carol)
    url = changelist("idtag")
    client.post(url, {"action": "block_cards", "_selected_action": [world.alice_card.pk]})
    world.alice_card.refresh_from_db()
    assert world.alice_card.status == IdTag.Status.BLOCKED and world.alice_card.blocked_at

    client.post(url, {"action": "unblock_cards", "_selected_action": [world.alice_card.pk]})
    world.alice_card.refresh_from_db()
    assert world.alice_card.status == IdTag.Status.ACTIVE and world.alice_card.blocked_at is None

    client.post(url, {"action": "mark_cards_lost", "_selected_action": [world.bob_card.pk]})
    response = client.post(url, {"action": "unblock_cards", "_selected_action": [world.bob_card.pk]}, follow=True)
    world.bob_card.refresh_from_db()
    assert world.bob_card.status == IdTag.Status.LOST
    assert any("04B0B0B0" in str(message) for message in response.context["messages"])


def test_card_actions_do_not_reach_other_organizations_cards(client, world):
    client.force_login(world.dave)
    client.post(changelist("idtag"), {"action": "block_cards", "_selected_action": [world.alice_card.pk]})
    world.alice_card.refresh_from_db()
    assert world.alice_card.status == IdTag.Status.ACTIVE


ROW_BUILDERS = {
    "idtag": lambda org, i: make_tag(make_account(org, f"Acc {i}"), make_driver(org)),
    "customeraccount": lambda org, i: make_tag(make_account(org, f"Acc {i}")),
    "user": lambda org, i: make_driver(org),
    "organization": None,
}


@pytest.mark.parametrize("model", ["idtag", "customeraccount", "user"])
def test_changelists_need_no_query_per_row(client, world, model):
    client.force_login(world.carol)
    url = changelist(model)
    client.get(url)  # warm up (content types, session)

    def count_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        return len(queries)

    for i in range(3):
        ROW_BUILDERS[model](world.org_a, i)
    few = count_queries()
    for i in range(30):
        ROW_BUILDERS[model](world.org_a, i + 3)
    assert count_queries() == few


def test_autocomplete_offers_only_own_customer_accounts(client, world):
    make_account(world.org_b, "Beta Fleet")
    make_account(world.org_a, "Alpha Fleet")
    client.force_login(world.carol)
    response = client.get(
        reverse("admin:autocomplete"),
        {
            "app_label": "accounts",
            "model_name": "idtag",
            "field_name": "customer_account",
            "term": "Fleet",
        },
    )
    assert response.status_code == 200
    assert [result["text"] for result in response.json()["results"]] == ["Alpha Fleet"]


def test_admin_index_lists_operator_models_for_staff(client, world):
    client.force_login(world.carol)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 200
    models = {model["object_name"] for app in response.context["app_list"] for model in app["models"]}
    assert {"Site", "ChargePoint", "IdTag", "CustomerAccount", "User", "ChargingSession"} <= models
    assert "Group" not in models


@pytest.mark.parametrize("user", ["carol", "admin"])
def test_every_admin_page_renders(client, world, user):
    session = make_session(world.cp_a.connectors.first(), world.alice_card)
    SessionFlag.objects.create(session=session, code="zero_energy")
    MeterValue.objects.create(charge_point=world.cp_a, session=session, timestamp=session.started_at, value=1)
    StatusEvent.objects.create(
        charge_point=world.cp_a, status="Available", error_code="NoError", timestamp=session.started_at
    )
    SecurityEvent.objects.create(
        charge_point=world.cp_a, organization=world.org_a, ocpp_id="ALPHA-1", kind="connection_replaced"
    )
    ChargerEvent.objects.create(charge_point=world.cp_a, kind="data_transfer", vendor_id="Test")
    StationVariable.objects.create(charge_point=world.cp_a, component="OCPPCommCtrlr", variable="HeartbeatInterval")
    ChargerCommand.objects.create(
        charge_point=world.cp_a,
        action="ClearCache",
        outcome="answered",
        status="Accepted",
        sent_at=session.started_at,
        finished_at=session.started_at,
    )
    SignedMeterValue.objects.create(
        charge_point=world.cp_a,
        session=session,
        timestamp=session.started_at,
        encoding="OCMF",
        data="OCMF|{}|{}",
        data_digest="0" * 64,
        verification="not_verified",
    )
    Reservation.objects.create(
        charge_point=world.cp_a,
        id_tag=world.alice_card,
        status="expired",
        created_at=session.started_at,
        expires_at=session.stopped_at,
        ended_at=session.stopped_at,
    )
    firmware = Firmware.objects.create(organization=world.org_a, name="AC", version="2", url="https://fw.example/a")
    campaign = FirmwareCampaign.objects.create(
        firmware=firmware, organization=world.org_a, retrieve_at=session.started_at, location=firmware.url
    )
    FirmwareUpdate.objects.create(campaign=campaign, charge_point=world.cp_a)
    ChargerUpload.objects.create(charge_point=world.cp_a, kind="diagnostics", token="every-page")
    ChargerCertificate.objects.create(
        charge_point=world.cp_a,
        serial_number="1f",
        subject="O=Alpha,CN=ALPHA-1",
        certificate_pem="-----BEGIN CERTIFICATE-----",
        not_before=session.started_at,
        not_after=session.stopped_at,
    )
    LoadGroup.objects.create(site=world.site_a, name="Garage", limit=50)
    api_token_create(user=world.carol, name="ERP")
    client.force_login(getattr(world, user))
    for model in admin.site._registry:
        info = model._meta.app_label, model._meta.model_name
        if info[0] not in {"accounts", "sessions_app"}:
            continue
        response = client.get(reverse("admin:{}_{}_changelist".format(*info)))
        assert response.status_code == 200, info
        first = response.context["cl"].result_list[0]
        assert client.get(reverse("admin:{}_{}_change".format(*info), args=[first.pk])).status_code == 200, info
        assert client.get(reverse("admin:{}_{}_add".format(*info))).status_code in {200, 403}, info

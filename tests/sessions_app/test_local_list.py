"""The local authorization list: what to send (pure plan), the answers' effect on the state, and the triggers.

The charger here is a fake ``command_send`` answering as a charger would; the real conversation is in
tests/e2e/test_ocpp_local_list.py.
"""

from datetime import UTC, datetime, timedelta

import pytest

from accounts.services import id_tag_block, id_tag_issue
from core.timeutil import utc_text
from sessions_app import local_list
from sessions_app.local_list import DesiredList, local_list_apply, local_list_plan
from sessions_app.models import ChargePoint, LocalAuthList
from sessions_app.ocpp import command_payloads
from sessions_app.ocpp.command_payloads import CommandPayloadError
from sessions_app.ocpp.commands import CommandResult
from tests.factories import make_account, make_session, make_tag

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
OK = {"status": "Accepted"}


def desired(accepted: dict, refused: dict | None = None) -> DesiredList:
    return DesiredList(accepted, refused or {})


# --- the plan ----------------------------------------------------------------------------------------------------


def test_the_first_list_is_full_with_every_card_that_may_charge():
    plan = local_list_plan(
        confirmed={},
        desired=desired({"A": OK, "B": OK}, {"X": {"status": "Blocked"}}),
        full=True,
        capacity=None,
        per_message=None,
    )
    assert plan.update_type == "Full"
    assert plan.messages == [[{"id_tag": "A", "id_tag_info": OK}, {"id_tag": "B", "id_tag_info": OK}]]
    assert plan.target == {"A": OK, "B": OK}


def test_a_blocked_card_goes_as_a_differential_entry_with_its_status_and_a_deleted_one_is_removed():
    confirmed = {"A": OK, "B": OK, "C": OK, "D": OK}
    plan = local_list_plan(
        confirmed=confirmed,
        desired=desired({"A": OK, "C": OK, "D": OK, "E": OK}, {"B": {"status": "Blocked"}}),
        full=False,
        capacity=None,
        per_message=None,
    )
    assert plan.update_type == "Differential"
    assert plan.messages == [
        [{"id_tag": "E", "id_tag_info": OK}, {"id_tag": "B", "id_tag_info": {"status": "Blocked"}}]
    ]
    assert plan.target == {"A": OK, "C": OK, "D": OK, "E": OK, "B": {"status": "Blocked"}}


def test_nothing_is_sent_when_the_charger_holds_what_it_should():
    plan = local_list_plan(
        confirmed={"A": OK, "B": {"status": "Blocked"}},
        desired=desired({"A": OK}, {"B": {"status": "Blocked"}}),
        full=False,
        capacity=None,
        per_message=None,
    )
    assert plan.update_type is None and plan.messages == []


def test_a_differential_longer_than_the_full_list_goes_as_a_full_list():
    confirmed = {"A": OK, "B": OK, "C": OK}
    plan = local_list_plan(confirmed=confirmed, desired=desired({"Z": OK}), full=False, capacity=None, per_message=None)
    assert plan.update_type == "Full"
    assert plan.messages == [[{"id_tag": "Z", "id_tag_info": OK}]]


def test_the_list_keeps_to_the_capacity_with_the_most_recently_used_first_and_counts_the_rest():
    plan = local_list_plan(
        confirmed={}, desired=desired({"NEW1": OK, "NEW2": OK, "OLD": OK}), full=True, capacity=2, per_message=None
    )
    assert plan.target == {"NEW1": OK, "NEW2": OK} and plan.left_out == 1


def test_a_long_list_is_split_into_messages_of_the_chargers_size():
    cards = {f"C{number}": OK for number in range(5)}
    plan = local_list_plan(confirmed={}, desired=desired(cards), full=True, capacity=None, per_message=2)
    assert plan.update_type == "Full"
    assert [len(message) for message in plan.messages] == [2, 2, 1]


def test_an_empty_full_list_is_one_message_that_empties_the_charger():
    plan = local_list_plan(confirmed={"A": OK}, desired=desired({}), full=True, capacity=None, per_message=5)
    assert plan.update_type == "Full" and plan.messages == [[]] and plan.target == {}


def test_applying_messages_follows_full_and_differential_semantics():
    held = local_list_apply({"A": OK}, "Full", [{"id_tag": "B", "id_tag_info": OK}])
    assert held == {"B": OK}
    held = local_list_apply(held, "Differential", [{"id_tag": "B"}, {"id_tag": "C", "id_tag_info": OK}])
    assert held == {"C": OK}


# --- the builder -------------------------------------------------------------------------------------------------


def test_the_builder_checks_update_type_id_tags_and_full_entries():
    built = command_payloads.send_local_list(
        list_version=3,
        update_type="Differential",
        local_authorization_list=[
            {
                "id_tag": "app-token-1",
                "id_tag_info": {"status": "Accepted", "expiry_date": "2027-01-01T01:00:00+01:00"},
            },
            {"id_tag": "GONE"},
        ],
    )
    assert command_payloads.command_payload(built) == (
        "SendLocalList",
        {
            "list_version": 3,
            "update_type": "Differential",
            "local_authorization_list": [
                {"id_tag": "app-token-1", "id_tag_info": {"status": "Accepted", "expiry_date": "2027-01-01T00:00:00Z"}},
                {"id_tag": "GONE"},
            ],
        },
    )
    for fields, field in [
        ({"list_version": -1, "update_type": "Full", "local_authorization_list": []}, "list_version"),
        ({"list_version": 1, "update_type": "Partial", "local_authorization_list": []}, "update_type"),
        (
            {"list_version": 1, "update_type": "Full", "local_authorization_list": [{"id_tag": "A"}]},
            "local_authorization_list",
        ),
        (
            {
                "list_version": 1,
                "update_type": "Full",
                "local_authorization_list": [{"id_tag": "X" * 21, "id_tag_info": OK}],
            },
            "local_authorization_list",
        ),
        (
            {
                "list_version": 1,
                "update_type": "Differential",
                "local_authorization_list": [{"id_tag": "A", "id_tag_info": {"status": "NoCredit"}}],
            },
            "local_authorization_list",
        ),
        (
            {
                "list_version": 1,
                "update_type": "Differential",
                "local_authorization_list": [{"id_tag": "A"}, {"id_tag": "a"}],
            },
            "local_authorization_list",
        ),
    ]:
        with pytest.raises(CommandPayloadError) as refused:
            command_payloads.send_local_list(**fields)
        assert refused.value.field == field


# --- the sync, with a fake charger ---------------------------------------------------------------------------------


class FakeCharger:
    """Answers SendLocalList with the statuses queued in ``answers`` (then Accepted), keeps what it was sent."""

    def __init__(self, answers=(), version: int = 0):
        self.answers = list(answers)
        self.sent: list[tuple[str, dict]] = []
        self.version = version

    def __call__(self, charge_point, action, payload, timeout=30):
        self.sent.append((action, payload))
        if action == "GetLocalListVersion":
            return CommandResult("answered", {"list_version": self.version})
        if action == "GetConfiguration":
            return CommandResult(
                "answered",
                {
                    "configuration_key": [
                        {"key": "LocalAuthListEnabled", "readonly": False, "value": "false"},
                        {"key": "LocalAuthListMaxLength", "readonly": True, "value": "2"},
                        {"key": "SendLocalListMaxLength", "readonly": True, "value": "1"},
                    ]
                },
            )
        if action == "ChangeConfiguration":
            return CommandResult("answered", {"status": "Accepted"})
        answer = self.answers.pop(0) if self.answers else "Accepted"
        if isinstance(answer, CommandResult):
            return answer
        if answer == "Accepted":
            self.version = payload["list_version"]
        return CommandResult("answered", {"status": answer})

    def lists(self):
        return [payload for action, payload in self.sent if action == "SendLocalList"]


@pytest.fixture
def keeping(world, monkeypatch):
    """ALPHA-1 keeps a list (its site's choice) and is connected."""
    world.site_a.local_auth_list = True
    world.site_a.save()
    ChargePoint.objects.filter(pk=world.cp_a.pk).update(channel_name="specific.test!1")
    charger = FakeCharger()
    monkeypatch.setattr(local_list, "command_send", charger)
    return charger


def test_the_first_sync_sends_the_full_list_and_stores_what_was_accepted(world, keeping):
    result = local_list.local_list_sync(charge_point_id=world.cp_a.pk, now=NOW)

    assert result.outcome == "sent"
    [sent] = keeping.lists()
    assert sent["update_type"] == "Full" and sent["list_version"] == 1
    assert {entry["id_tag"] for entry in sent["local_authorization_list"]} == {"04A1B2C3", "04B0B0B0"}
    state = LocalAuthList.objects.get(charge_point=world.cp_a)
    assert (state.state, state.version, state.full_needed, state.last_status) == ("in_sync", 1, False, "Accepted")
    assert set(state.entries) == {"04A1B2C3", "04B0B0B0"}


def test_a_blocked_card_reaches_the_charger_as_a_differential_update_once_committed(
    world, keeping, django_capture_on_commit_callbacks
):
    local_list.local_list_sync(charge_point_id=world.cp_a.pk)

    with django_capture_on_commit_callbacks(execute=True):  # the hook and the (eager) task run on commit
        id_tag_block(id_tag=world.bob_card)

    last = keeping.lists()[-1]
    assert last["update_type"] == "Differential" and last["list_version"] == 2
    assert last["local_authorization_list"] == [{"id_tag": "04B0B0B0", "id_tag_info": {"status": "Blocked"}}]
    assert LocalAuthList.objects.get(charge_point=world.cp_a).entries["04B0B0B0"] == {"status": "Blocked"}


def test_an_issued_card_is_added_and_an_expiry_is_caught_by_the_sweep(
    world, keeping, django_capture_on_commit_callbacks
):
    local_list.local_list_sync(charge_point_id=world.cp_a.pk)
    expires = datetime.now(UTC) + timedelta(hours=1)
    with django_capture_on_commit_callbacks(execute=True):
        card = id_tag_issue(customer_account=world.alice.customer_account, uid="CAFE0001", expires_at=expires)
    added = keeping.lists()[-1]
    assert added["update_type"] == "Differential"
    assert added["local_authorization_list"] == [
        {"id_tag": card.uid, "id_tag_info": {"status": "Accepted", "expiry_date": utc_text(expires)}}
    ]

    assert local_list.local_list_sweep(now=datetime.now(UTC)) == 0  # up to date: nothing queued
    assert local_list.local_list_sweep(now=expires + timedelta(seconds=1)) == 1
    # the queued sync (inline) looked at the clock itself: the card has not expired yet, so nothing more was sent
    assert keeping.lists()[-1] == added
    local_list.local_list_sync(charge_point_id=world.cp_a.pk, now=expires + timedelta(seconds=1))
    assert keeping.lists()[-1]["local_authorization_list"] == [
        {"id_tag": card.uid, "id_tag_info": {"status": "Expired", "expiry_date": utc_text(expires)}}
    ]


def test_failed_is_sent_again_in_full_after_the_back_off(world, keeping, settings):
    settings.LOCAL_LIST_RETRY_BASE_SECONDS = 60
    keeping.answers = ["Failed"]
    assert local_list.local_list_sync(charge_point_id=world.cp_a.pk, now=NOW).outcome == "Failed"
    state = LocalAuthList.objects.get(charge_point=world.cp_a)
    assert (state.state, state.attempts, state.full_needed, state.version) == ("failed", 1, True, 0)

    assert local_list.local_list_sync(charge_point_id=world.cp_a.pk, now=NOW).outcome == "not_due"
    LocalAuthList.objects.filter(pk=state.pk).update(last_sent_at=NOW - timedelta(seconds=61))
    assert local_list.local_list_sync(charge_point_id=world.cp_a.pk, now=NOW).outcome == "sent"
    assert [payload["update_type"] for payload in keeping.lists()] == ["Full", "Full"]
    state.refresh_from_db()
    assert (state.state, state.attempts, state.version) == ("in_sync", 0, 1)


def test_version_mismatch_reads_the_chargers_version_and_sends_the_full_list_at_once(
    world, keeping, django_capture_on_commit_callbacks
):
    local_list.local_list_sync(charge_point_id=world.cp_a.pk)
    keeping.version = 40  # someone else sent it lists
    keeping.answers = ["VersionMismatch"]

    with django_capture_on_commit_callbacks(execute=True):
        id_tag_block(id_tag=world.bob_card)

    assert [(payload["update_type"], payload["list_version"]) for payload in keeping.lists()] == [
        ("Full", 1),
        ("Differential", 2),
        ("Full", 41),
    ]
    state = LocalAuthList.objects.get(charge_point=world.cp_a)
    assert (state.state, state.version) == ("in_sync", 41)
    assert "04B0B0B0" not in state.entries  # a full list leaves refused cards out


def test_not_supported_stops_the_syncs_until_the_operator_asks_again(
    world, keeping, django_capture_on_commit_callbacks
):
    keeping.answers = ["NotSupported"]
    assert local_list.local_list_sync(charge_point_id=world.cp_a.pk).outcome == "unsupported"
    assert LocalAuthList.objects.get(charge_point=world.cp_a).state == "unsupported"
    with django_capture_on_commit_callbacks(execute=True):
        id_tag_block(id_tag=world.bob_card)
    assert len(keeping.lists()) == 1

    with django_capture_on_commit_callbacks(execute=True):
        local_list.local_list_resend(charge_point=ChargePoint.objects.get(pk=world.cp_a.pk))
    assert LocalAuthList.objects.get(charge_point=world.cp_a).state == "in_sync"
    assert keeping.lists()[-1]["update_type"] == "Full"


def test_an_offline_charger_is_marked_pending_and_nothing_is_sent(world, keeping):
    ChargePoint.objects.filter(pk=world.cp_a.pk).update(channel_name="")
    assert local_list.local_list_sync(charge_point_id=world.cp_a.pk).outcome == "offline"
    assert keeping.sent == []
    assert LocalAuthList.objects.get(charge_point=world.cp_a).state == "pending"


def test_boot_reads_the_settings_switches_the_list_on_and_sends_by_the_chargers_sizes(world, keeping):
    make_session(world.cp_a.connectors.get(number=1), world.bob_card, started_at=NOW)
    make_tag(world.alice.customer_account, uid="CAFE0002")

    result = local_list.local_list_boot(charge_point_id=world.cp_a.pk)

    assert result.outcome == "sent" and result.left_out == 1
    assert [action for action, _payload in keeping.sent] == [
        "GetConfiguration",
        "ChangeConfiguration",
        "GetLocalListVersion",
        "SendLocalList",
        "SendLocalList",
    ]
    cp = ChargePoint.objects.get(pk=world.cp_a.pk)
    assert (cp.local_list_max_length, cp.send_local_list_max_length) == (2, 1)
    first, second = keeping.lists()
    assert (first["update_type"], first["list_version"], second["update_type"], second["list_version"]) == (
        "Full",
        1,
        "Differential",
        2,
    )
    assert first["local_authorization_list"][0]["id_tag"] == "04B0B0B0"  # the most recently used first
    assert local_list.local_list_summary(charge_point=cp).left_out == 1


def test_a_charger_that_does_not_keep_a_list_is_left_alone(world, monkeypatch, django_capture_on_commit_callbacks):
    charger = FakeCharger()
    monkeypatch.setattr(local_list, "command_send", charger)
    ChargePoint.objects.filter(pk=world.cp_a.pk).update(channel_name="specific.test!1")

    with django_capture_on_commit_callbacks(execute=True):
        id_tag_block(id_tag=world.bob_card)

    assert local_list.local_list_sync(charge_point_id=world.cp_a.pk).outcome == "not_kept"
    assert local_list.local_list_boot_enqueue(charge_point_id=world.cp_a.pk) is False
    assert charger.sent == []


def test_the_chargers_own_choice_outranks_its_sites(world, keeping):
    ChargePoint.objects.filter(pk=world.cp_a.pk).update(local_auth_list=False)
    assert local_list.local_list_sync(charge_point_id=world.cp_a.pk).outcome == "not_kept"
    world.site_a.local_auth_list = False
    world.site_a.save()
    ChargePoint.objects.filter(pk=world.cp_a.pk).update(local_auth_list=True)
    assert local_list.local_list_sync(charge_point_id=world.cp_a.pk).outcome == "sent"


def test_a_list_the_operator_no_longer_wants_is_emptied(world, keeping):
    local_list.local_list_sync(charge_point_id=world.cp_a.pk)
    ChargePoint.objects.filter(pk=world.cp_a.pk).update(local_auth_list=False)

    assert local_list.local_list_sweep() == 1

    assert keeping.lists()[-1]["local_authorization_list"] == []
    assert keeping.lists()[-1]["update_type"] == "Full"
    assert LocalAuthList.objects.get(charge_point=world.cp_a).entries == {}
    assert local_list.local_list_sweep() == 0


def test_another_operators_card_change_does_not_touch_this_operators_chargers(
    world, keeping, django_capture_on_commit_callbacks
):
    local_list.local_list_sync(charge_point_id=world.cp_a.pk)
    other = make_tag(make_account(world.org_b), uid="BEEF0001")
    with django_capture_on_commit_callbacks(execute=True):
        id_tag_block(id_tag=other)
    assert len(keeping.lists()) == 1


# --- the registration point in accounts ------------------------------------------------------------------------------


def test_card_changes_are_told_after_the_commit_only_and_a_failing_handler_stops_no_other(
    world, monkeypatch, django_capture_on_commit_callbacks
):
    from django.db import transaction

    from accounts import hooks as account_hooks

    heard: list[list[int]] = []

    def failing(ids):
        raise RuntimeError("boom")

    monkeypatch.setattr(account_hooks, "id_tag_changed_handlers", [failing, heard.append])

    with django_capture_on_commit_callbacks(execute=True) as rolled_back:
        with pytest.raises(RuntimeError, match="rolled back"), transaction.atomic():
            id_tag_block(id_tag=world.alice_card)
            raise RuntimeError("rolled back")
    assert rolled_back == [] and heard == []

    with django_capture_on_commit_callbacks(execute=True):
        id_tag_block(id_tag=world.bob_card)
    assert heard == [[world.bob_card.pk]]


def test_the_sessions_app_registers_its_handler():
    from accounts import hooks as account_hooks

    assert local_list.local_list_cards_changed in account_hooks.id_tag_changed_handlers

"""sessions_app.hooks.connector_status_handlers: told after the commit which connectors' status changed (or which
chargers went offline or came back), never when nothing changed, and a failing handler never reaches the charger."""

from datetime import timedelta

import pytest
from django.utils import timezone

from sessions_app import hooks
from sessions_app.models import Connector, ConnectorStatus
from sessions_app.services import StatusReport, charge_point_disconnect, connector_status_record_many

pytestmark = pytest.mark.django_db


@pytest.fixture
def told(monkeypatch) -> list:
    calls: list = []
    monkeypatch.setattr(hooks, "connector_status_handlers", [lambda cps, connectors: calls.append((cps, connectors))])
    return calls


def report(world, number: int, status: str, at) -> StatusReport:
    return StatusReport(charge_point=world.cp_a, connector_id=number, status=status, error_code="NoError", timestamp=at)


def test_a_status_change_is_told_after_the_commit_with_its_connector(world, told, django_capture_on_commit_callbacks):
    at = timezone.now()
    with django_capture_on_commit_callbacks() as callbacks:
        connector_status_record_many(reports=[report(world, 2, "Charging", at)], now=at)
        assert told == []  # not before the commit
    for callback in callbacks:
        callback()

    assert told == [([world.cp_a.pk], [Connector.objects.get(charge_point=world.cp_a, number=2).pk])]


def test_the_same_status_again_is_not_told(world, told, django_capture_on_commit_callbacks):
    Connector.objects.filter(charge_point=world.cp_a).update(status=ConnectorStatus.AVAILABLE)
    at = timezone.now()

    with django_capture_on_commit_callbacks(execute=True):
        connector_status_record_many(reports=[report(world, 1, "Available", at)], now=at)

    assert told == []


def test_a_charger_going_offline_is_told_for_all_its_connectors(world, told, django_capture_on_commit_callbacks):
    world.cp_a.channel_name, world.cp_a.last_seen_at = "channel-1", timezone.now()
    world.cp_a.save()

    with django_capture_on_commit_callbacks(execute=True):
        charge_point_disconnect(charge_point_id=world.cp_a.pk, channel_name="channel-1")

    assert told == [([world.cp_a.pk], None)]


def test_a_failing_handler_does_not_fail_the_chargers_message(world, monkeypatch, django_capture_on_commit_callbacks):
    def broken(charge_point_ids, connector_ids):
        raise RuntimeError("partner code broke")

    monkeypatch.setattr(hooks, "connector_status_handlers", [broken])
    at = timezone.now()

    with django_capture_on_commit_callbacks(execute=True):
        connector_status_record_many(reports=[report(world, 1, "Faulted", at + timedelta(seconds=1))], now=at)

    assert Connector.objects.get(charge_point=world.cp_a, number=1).status == ConnectorStatus.FAULTED

"""The outbox (roaming.push): a push replaced by a newer body while it is being sent is sent again, not marked sent
with the old body's acknowledgement (an EVSE's status changing twice in a moment reached the eMSP peer as the first
status only)."""

import pytest

from roaming import push
from roaming.client import Reply
from roaming.models import PushItem
from tests.factories import make_partner

pytestmark = pytest.mark.django_db


def test_a_push_replaced_while_it_is_sent_stays_due_and_its_newer_body_is_sent_next(world, monkeypatch):
    partner = make_partner(world.org_a)
    url = "https://emsp.example/ocpi/2.2.1/locations/SE/CPO/1/ALPHA-1-1"
    item = push.push_enqueue(
        partner=partner, module="locations", key="evse:ALPHA-1-1", method="PATCH", url=url, body={"status": "UNKNOWN"}
    )
    sent: list[dict] = []

    def partner_call(partner, method, url, *, body=None, **_options):
        sent.append(body)
        if len(sent) == 1:  # the connector changes again while the first status is on its way
            push.push_enqueue(
                partner=partner,
                module="locations",
                key="evse:ALPHA-1-1",
                method="PATCH",
                url=url,
                body={"status": "AVAILABLE"},
            )
        return Reply(200, 1000, "Success", None)

    monkeypatch.setattr(push, "partner_call", partner_call)

    assert push.push_send(item_id=item.pk) is True
    item.refresh_from_db()
    assert (item.status, item.body) == (PushItem.Status.PENDING, {"status": "AVAILABLE"})  # still to send

    assert push.push_send_due() == 1
    item.refresh_from_db()
    assert item.status == PushItem.Status.SENT
    assert sent == [{"status": "UNKNOWN"}, {"status": "AVAILABLE"}]
    assert PushItem.objects.filter(partner=partner).count() == 1

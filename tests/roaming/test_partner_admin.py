"""Roaming partners in the admin: added with their customer account and group and a token A shown once; registered
with from the admin; the queue of unsent pushes shown and sent on "retry now"; another operator's partners hidden."""

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from roaming import partners
from roaming.models import Partner, PushItem
from roaming.push import push_enqueue, push_send_due
from tests.conftest import PASSWORD
from tests.factories import make_partner
from tests.roaming.test_credentials import THEIR_VERSIONS, FakeEmsp

pytestmark = pytest.mark.django_db


@pytest.fixture
def carol(client, world):
    client.login(email=world.carol.email, password=PASSWORD)
    return client


def test_staff_add_a_partner_and_are_shown_its_token_a_once(carol, world):
    response = carol.post(
        reverse("admin:roaming_partner_add"),
        {"organization": world.org_a.pk, "name": "Roam", "role": "EMSP", "billing_email": "roam@example.com"},
        follow=True,
    )

    assert response.status_code == 200
    partner = Partner.objects.get(name="Roam")
    assert (partner.organization, partner.state) == (world.org_a, "pending")
    assert partner.customer_account.kind == "roaming"
    assert partner.customer_account.billing_email == "roam@example.com"
    assert list(partner.customer_group.customer_accounts.all()) == [partner.customer_account]
    shown = " ".join(str(message) for message in get_messages(response.wsgi_request))
    assert partner.incoming_token in shown
    assert "/ocpi/versions" in shown
    # Not shown again on its page.
    page = carol.get(reverse("admin:roaming_partner_change", args=[partner.pk]))
    assert partner.incoming_token not in page.content.decode()


def test_another_operators_partner_is_neither_listed_nor_opened(carol, world):
    theirs = make_partner(world.org_b, "Beta Roam")
    ours = make_partner(world.org_a, "Alpha Roam")

    listing = carol.get(reverse("admin:roaming_partner_changelist")).content.decode()

    assert "Alpha Roam" in listing and "Beta Roam" not in listing
    assert carol.get(reverse("admin:roaming_partner_change", args=[theirs.pk])).status_code == 302
    assert carol.get(reverse("admin:roaming_partner_register", args=[theirs.pk])).status_code == 404
    assert carol.get(reverse("admin:roaming_partner_change", args=[ours.pk])).status_code == 200


def test_registering_with_a_partner_from_the_admin(carol, world, monkeypatch):
    monkeypatch.setattr(partners, "partner_call", FakeEmsp())
    partner = make_partner(world.org_a, registered=False)

    response = carol.post(
        reverse("admin:roaming_partner_register", args=[partner.pk]),
        {"versions_url": THEIR_VERSIONS, "token_a": "their-token-a"},
    )

    assert response.status_code == 302
    partner.refresh_from_db()
    assert (partner.state, partner.party_id, partner.outgoing_token) == ("registered", "EMS", "token-c")


def test_a_partner_that_cannot_be_reached_is_said_on_the_register_page(carol, world, monkeypatch):
    monkeypatch.setattr(partners, "partner_call", FakeEmsp(reachable=False))
    partner = make_partner(world.org_a, registered=False)

    response = carol.post(
        reverse("admin:roaming_partner_register", args=[partner.pk]),
        {"versions_url": THEIR_VERSIONS, "token_a": "their-token-a"},
    )

    assert response.status_code == 200
    assert "could not be reached" in response.content.decode()
    partner.refresh_from_db()
    assert partner.state == "pending"


class Acknowledging:
    def __init__(self, up: bool):
        self.up, self.calls = up, []

    def __call__(self, method, url, **kwargs):
        import requests

        self.calls.append((method, url))
        if not self.up:
            raise requests.ConnectionError("refused")
        response = requests.Response()
        response.status_code, response._content = 200, b'{"status_code": 1000, "timestamp": "2026-12-05T00:00:00Z"}'
        return response


def test_the_queue_and_its_last_error_are_shown_and_retry_now_sends_it(carol, world, monkeypatch, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    partner = make_partner(world.org_a)
    down = Acknowledging(up=False)
    monkeypatch.setattr("roaming.client.requests.request", down)
    push_enqueue(partner=partner, module="cdrs", key="cdr:1", method="POST", url="https://emsp.example/cdrs", body={})
    push_send_due()  # the sweep: the partner is down

    page = carol.get(reverse("admin:roaming_partner_change", args=[partner.pk])).content.decode()
    assert "cdr:1" in page and "refused" in page

    up = Acknowledging(up=True)
    monkeypatch.setattr("roaming.client.requests.request", up)
    carol.post(reverse("admin:roaming_partner_changelist"), {"action": "retry_now", "_selected_action": [partner.pk]})

    assert up.calls == [("POST", "https://emsp.example/cdrs")]
    assert PushItem.objects.get().status == "sent"
    partner.refresh_from_db()
    assert "cdrs" in partner.last_push

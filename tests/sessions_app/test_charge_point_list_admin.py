"""The admin's charge point list: compact columns with online, last seen and each connector's state."""

import pytest
from django.urls import reverse
from django.utils import timezone

from sessions_app.models import ChargePoint, Connector

pytestmark = pytest.mark.django_db


def test_the_list_shows_online_last_seen_and_connector_badges(client, world):
    now = timezone.now()
    ChargePoint.objects.filter(pk=world.cp_a.pk).update(
        channel_name="specific.test!1", last_seen_at=now, connected_at=now, vendor="ACME", firmware_version="1.2"
    )
    Connector.objects.filter(charge_point=world.cp_a, number=1).update(status="Charging")
    Connector.objects.filter(charge_point=world.cp_a, number=2).update(status="Faulted", error_code="GroundFailure")
    client.force_login(world.carol)
    response = client.get(reverse("admin:sessions_app_chargepoint_changelist"))
    html = response.content.decode()
    shown = response.context["cl"].model_admin.get_list_display(response.wsgi_request)
    assert shown == [
        "ocpp_id",
        "name",
        "site",
        "registration_status",
        "is_online",
        "last_seen",
        "ocpp_protocol",
        "connectors",
        "hardware",
    ]
    assert '<td class="field-ocpp_protocol">OCPP 1.6</td>' in html
    assert 'class="connector-badge connector-charging"' in html
    assert 'title="2: Faulted (GroundFailure)"' in html
    assert timezone.localtime(now).strftime("%H:%M") in html  # last seen today: the time only
    assert "BETA-1" not in html  # another operator's charger


def test_superusers_also_see_the_organization(client, world):
    client.force_login(world.admin)
    response = client.get(reverse("admin:sessions_app_chargepoint_changelist"))
    shown = response.context["cl"].model_admin.get_list_display(response.wsgi_request)
    assert shown[:3] == ["ocpp_id", "name", "organization"]
    assert "Alpha Charge" in response.content.decode() and "Beta Power" in response.content.decode()

"""The address chargers reach this server at (``server_address.charger_base_url``) is decided in one place for
what they download (firmware) and what they upload (diagnostics, logs): the setting first, else the address of
the operator's request."""

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.files.base import ContentFile
from django.urls import reverse
from django.utils import timezone

from sessions_app.models import ChargerUpload, Firmware, FirmwareCampaign
from sessions_app.ocpp.commands import CommandResult
from sessions_app.server_address import charger_base_url
from sessions_app.uploads import upload_request

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.OCPP_UPLOAD_BASE_URL = ""


def test_the_requests_address_is_given_unless_one_is_configured(settings, rf):
    request = rf.get("/admin/", HTTP_HOST="localhost:8000")
    assert charger_base_url(request) == "http://localhost:8000"

    settings.OCPP_UPLOAD_BASE_URL = "https://cp.example.com/"
    assert charger_base_url(request) == charger_base_url() == "https://cp.example.com"


def test_without_the_setting_or_a_request_there_is_no_address_to_give(world, transport):
    with pytest.raises(ImproperlyConfigured, match="OCPP_UPLOAD_BASE_URL"):
        charger_base_url()
    with pytest.raises(ImproperlyConfigured):  # not a relative address a charger cannot use
        upload_request(charge_point=world.cp_a, kind="diagnostics", requested_by=None, now=timezone.now())
    assert transport.sent == [] and not ChargerUpload.objects.exists()


def test_firmware_and_uploads_from_the_admin_both_go_to_the_configured_address(
    client, world, transport, settings, django_capture_on_commit_callbacks
):
    settings.OCPP_UPLOAD_BASE_URL = "https://cp.example.com"
    fw = Firmware(organization=world.org_a, name="AC22", version="2.0")
    fw.file.save("ac22-2.0.bin", ContentFile(b"firmware"), save=False)
    fw.save()
    client.force_login(world.carol)

    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("admin:sessions_app_firmwarecampaign_new"),
            {"firmware": fw.pk, "charge_points": [world.cp_a.pk], "retrieve_at": "2026-12-04 12:00:00"},
        )
    transport.result = CommandResult("answered", {"file_name": "diag.zip"})
    client.post(reverse("admin:sessions_app_chargepoint_uploads", args=[world.cp_a.pk]), {"kind": "diagnostics"})

    campaign, upload = FirmwareCampaign.objects.get(), ChargerUpload.objects.get()
    assert [action for _cp, action, _payload in transport.sent] == ["UpdateFirmware", "GetDiagnostics"]
    firmware_payload, upload_payload = (payload for _cp, _action, payload in transport.sent)
    assert firmware_payload["location"] == campaign.location
    assert campaign.location.startswith(f"https://cp.example.com/firmware/{campaign.pk}/")
    assert upload_payload["location"] == f"https://cp.example.com/ocpp-uploads/{upload.token}/"

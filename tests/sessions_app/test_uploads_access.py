"""Diagnostics and logs for operators: the admin's request page and download, the operator API's request, list,
detail and download; each inside the operator's own chargers (another operator gets a 404, a driver nothing).

Only the transport to chargers is replaced (``commands.command_send``).
"""

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.api_tokens import api_token_create
from sessions_app.models import ChargerUpload
from sessions_app.ocpp.commands import CommandResult

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path, transport):
    settings.MEDIA_ROOT = tmp_path
    settings.OCPP_UPLOAD_BASE_URL = ""
    transport.result = CommandResult("answered", {"file_name": "diag.zip"})


def uploaded(charge_point, content: bytes = b"diagnostics bytes", name: str = "diag.zip") -> ChargerUpload:
    upload = ChargerUpload.objects.create(
        charge_point=charge_point,
        kind=ChargerUpload.Kind.DIAGNOSTICS,
        token=f"token-{charge_point.ocpp_id}-{ChargerUpload.objects.count()}",
        status=ChargerUpload.Status.UPLOADED,
        file_name=name,
        size=len(content),
    )
    upload.file.save(name, ContentFile(content))
    return upload


def api_of(user) -> APIClient:
    _token, key = api_token_create(user=user, name="system")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


# --- admin -----------------------------------------------------------------------------------------------------


def request_url(charge_point) -> str:
    return reverse("admin:sessions_app_chargepoint_uploads", args=[charge_point.pk])


def test_the_request_page_asks_with_an_address_of_this_server_and_lists_the_upload(client, world, transport):
    client.force_login(world.carol)
    assert client.get(request_url(world.cp_a)).status_code == 200

    response = client.post(
        request_url(world.cp_a), {"kind": "diagnostics", "start": "2026-12-01T08:00", "stop": "2026-12-02T08:00"}
    )

    assert response.status_code == 302
    upload = ChargerUpload.objects.get()
    [(_id, action, payload)] = transport.sent
    assert action == "GetDiagnostics"
    assert payload["location"] == f"http://testserver/ocpp-uploads/{upload.token}/"
    # the form's times are the portal's (TIME_ZONE Europe/Stockholm, UTC+1 in December), sent in UTC
    assert (payload["start_time"], payload["stop_time"]) == ("2026-12-01T07:00:00Z", "2026-12-02T07:00:00Z")
    assert (upload.requested_by, upload.status, upload.file_name) == (world.carol, "requested", "diag.zip")
    page = client.get(request_url(world.cp_a))
    assert "diag.zip" in page.content.decode() and "will upload diag.zip" in page.content.decode()


def test_the_request_page_refuses_a_period_ending_before_it_starts(client, world, transport):
    client.force_login(world.carol)
    response = client.post(
        request_url(world.cp_a), {"kind": "security_log", "start": "2026-12-02T08:00", "stop": "2026-12-01T08:00"}
    )
    assert response.status_code == 200
    assert response.context["form"].errors == {"stop": ["The end of the period comes before its start."]}
    assert transport.sent == [] and not ChargerUpload.objects.exists()


def test_another_operator_cannot_open_the_request_page_or_ask(client, world, transport):
    client.force_login(world.dave)
    assert client.get(request_url(world.cp_a)).status_code == 404
    assert client.post(request_url(world.cp_a), {"kind": "diagnostics"}).status_code == 404
    assert transport.sent == []


def test_the_chargers_page_lists_its_uploads_with_a_download_link(client, world):
    upload = uploaded(world.cp_a)
    client.force_login(world.carol)

    page = client.get(reverse("admin:sessions_app_chargepoint_change", args=[world.cp_a.pk])).content.decode()

    assert reverse("admin:sessions_app_chargerupload_download", args=[upload.pk]) in page
    assert reverse("admin:sessions_app_chargepoint_uploads", args=[world.cp_a.pk]) in page


def test_downloads_are_for_the_chargers_own_operator(client, world):
    upload = uploaded(world.cp_a, b"\x00secret diagnostics")
    url = reverse("admin:sessions_app_chargerupload_download", args=[upload.pk])

    client.force_login(world.carol)
    response = client.get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"\x00secret diagnostics"
    assert 'filename="diag.zip"' in response["Content-Disposition"]

    client.force_login(world.dave)
    assert client.get(url).status_code == 404
    assert (
        upload.charge_point.ocpp_id
        not in client.get(reverse("admin:sessions_app_chargerupload_changelist")).content.decode()
    )
    client.force_login(world.alice)  # a driver has no admin
    assert client.get(url).status_code == 302


# --- operator API ----------------------------------------------------------------------------------------------


def test_the_api_asks_a_station_and_answers_with_the_upload_and_the_command(carol_api, world, transport):
    transport.result = CommandResult("answered", {"status": "Accepted", "filename": "sec.log"})

    response = carol_api.post(
        reverse("api:operator_station_uploads_request", args=[world.cp_a.pk]),
        {"kind": "security_log", "start": "2026-12-01T00:00:00Z"},
        format="json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    upload = ChargerUpload.objects.get()
    assert body["upload"]["id"] == upload.pk
    assert (body["upload"]["status"], body["upload"]["file_name"]) == ("requested", "sec.log")
    assert (body["command"]["action"], body["command"]["outcome"], body["command"]["status"]) == (
        "GetLog",
        "answered",
        "Accepted",
    )
    [(_id, action, payload)] = transport.sent
    assert payload["log"] == {
        "remote_location": f"http://testserver/ocpp-uploads/{upload.token}/",
        "oldest_timestamp": "2026-12-01T00:00:00Z",
    }


def test_the_api_names_the_field_of_a_bad_request(carol_api, world, transport):
    url = reverse("api:operator_station_uploads_request", args=[world.cp_a.pk])
    bad_kind = carol_api.post(url, {"kind": "firmware"}, format="json")
    backwards = carol_api.post(
        url, {"kind": "diagnostics", "start": "2026-12-02T00:00:00Z", "stop": "2026-12-01T00:00:00Z"}, format="json"
    )
    assert bad_kind.status_code == 400 and "kind" in bad_kind.json()["error"]["fields"]
    assert backwards.status_code == 400 and "stop" in backwards.json()["error"]["fields"]
    assert transport.sent == [] and not ChargerUpload.objects.exists()


def test_the_api_refuses_another_operators_station_and_drivers(world, transport):
    url = reverse("api:operator_station_uploads_request", args=[world.cp_a.pk])
    assert api_of(world.dave).post(url, {"kind": "diagnostics"}, format="json").status_code == 404
    driver = APIClient()
    driver.force_authenticate(world.alice)
    assert driver.post(url, {"kind": "diagnostics"}, format="json").status_code == 403
    assert driver.get(reverse("api:operator_uploads")).status_code == 403
    assert transport.sent == []


def test_the_api_lists_and_downloads_only_the_operators_own_uploads(carol_api, world):
    mine, theirs = uploaded(world.cp_a, b"alpha"), uploaded(world.cp_b, b"beta")
    waiting = ChargerUpload.objects.create(charge_point=world.cp_a, kind=ChargerUpload.Kind.SECURITY_LOG, token="w")

    listed = carol_api.get(reverse("api:operator_uploads")).json()["results"]
    assert sorted(item["id"] for item in listed) == sorted([mine.pk, waiting.pk])
    assert {item["id"]: item["downloadable"] for item in listed} == {mine.pk: True, waiting.pk: False}
    only = carol_api.get(reverse("api:operator_uploads"), {"kind": "security_log"}).json()["results"]
    assert [item["id"] for item in only] == [waiting.pk]
    assert carol_api.get(reverse("api:operator_upload", args=[theirs.pk])).status_code == 404

    download = carol_api.get(reverse("api:operator_upload_download", args=[mine.pk]))
    assert download.status_code == 200 and b"".join(download.streaming_content) == b"alpha"
    assert carol_api.get(reverse("api:operator_upload_download", args=[theirs.pk])).status_code == 404
    assert carol_api.get(reverse("api:operator_upload_download", args=[waiting.pk])).status_code == 404
    dave = api_of(world.dave)
    assert dave.get(reverse("api:operator_upload_download", args=[mine.pk])).status_code == 404
    assert [item["id"] for item in dave.get(reverse("api:operator_uploads")).json()["results"]] == [theirs.pk]

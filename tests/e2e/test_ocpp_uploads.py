"""Diagnostics and logs uploaded for real: an ``ocpp`` package charger on the server subprocess is asked
(GetDiagnostics, GetLog) through ``sessions_app.uploads``, uploads a file over HTTP (PUT, multipart POST) to the
address it was given, reports its progress, and the operator downloads the same bytes from the admin.
"""

import asyncio
import socket
import urllib.error
import urllib.request
import uuid

import pytest
from django.urls import reverse
from django.utils import timezone
from ocpp.routing import on
from ocpp.v16 import call, call_result
from ocpp.v16.enums import Action

from sessions_app.models import ChargePoint, ChargerCommand, ChargerEvent, ChargerUpload
from sessions_app.uploads import upload_request
from tests.e2e.ocpp_client import TestCharger, connected
from tests.e2e.test_ocpp_commands import needs_redis
from tests.threads import in_thread

pytestmark = pytest.mark.django_db(transaction=True)

DIAGNOSTICS = b"PK\x03\x04" + uuid.uuid4().bytes * 1000  # 16 kB that no other test run uploads


def http_put(url: str, body: bytes) -> int:
    request = urllib.request.Request(url, data=body, method="PUT", headers={"Content-Type": "application/zip"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - the test server's http address
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def http_post_multipart(url: str, file_name: str, body: bytes) -> int:
    """As chargers that POST do: one file in a multipart form (curl -F style)."""
    boundary = uuid.uuid4().hex
    form = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="uploadfile"; filename="{file_name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + body
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(  # noqa: S310
        url, data=form, method="POST", headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - the test server's http address
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


class UploadingCharger(TestCharger):
    """Answers GetDiagnostics and GetLog, then uploads, diagnostics by HTTP PUT (the file name appended to the directory
    address), logs by multipart POST, and reports each step; ``fail``: a failed upload, nothing sent."""

    __test__ = False
    fail = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.uploads: list[asyncio.Task] = []
        self.put_statuses: list[int] = []

    @on(Action.get_diagnostics)
    async def on_get_diagnostics(self, location, **optional):
        self.commands.append(("GetDiagnostics", {"location": location, **optional}))
        self.uploads.append(asyncio.create_task(self._diagnostics(location)))
        return call_result.GetDiagnostics(file_name="diag-ALPHA-1.zip")

    async def _diagnostics(self, location: str):
        await asyncio.sleep(0.2)  # after the answer has gone
        await self.call(call.DiagnosticsStatusNotification(status="Uploading"), suppress=False)
        if self.fail:
            await self.call(call.DiagnosticsStatusNotification(status="UploadFailed"), suppress=False)
            return
        self.put_statuses.append(await in_thread(http_put, f"{location}diag-ALPHA-1.zip", DIAGNOSTICS))
        await self.call(call.DiagnosticsStatusNotification(status="Uploaded"), suppress=False)

    @on(Action.get_log)
    async def on_get_log(self, log, log_type, request_id, **optional):
        self.commands.append(("GetLog", {"log": log, "log_type": log_type, "request_id": request_id, **optional}))
        self.uploads.append(asyncio.create_task(self._log(log["remote_location"], request_id)))
        return call_result.GetLog(status="Accepted", filename="security.log")

    async def _log(self, location: str, request_id: int):
        await asyncio.sleep(0.2)
        await self.call(call.LogStatusNotification(status="Uploading", request_id=request_id), suppress=False)
        self.put_statuses.append(
            await in_thread(http_post_multipart, location, "security.log", b"2026-12-04 tamper switch\n")
        )
        await self.call(call.LogStatusNotification(status="Uploaded", request_id=request_id), suppress=False)


@pytest.fixture
def upload_address(asgi_server, settings) -> str:
    """Chargers are told the test server's own http address; files land in the server's MEDIA_ROOT (the same
    default as this process's), and are removed afterwards."""
    settings.OCPP_UPLOAD_BASE_URL = asgi_server.replace("ws://", "http://")
    yield settings.OCPP_UPLOAD_BASE_URL
    for upload in ChargerUpload.objects.exclude(file=""):
        upload.file.delete(save=False)


async def ask_from_thread(world, kind: str) -> ChargerUpload:
    return await in_thread(
        lambda: (
            upload_request(
                charge_point=ChargePoint.objects.get(pk=world.cp_a.pk),
                kind=kind,
                requested_by=world.carol,
                now=timezone.now(),
                timeout=10,
            ).upload
        )
    )


async def settled(upload: ChargerUpload, statuses: tuple[str, ...], seconds: float = 10) -> ChargerUpload:
    for _ in range(int(seconds * 10)):
        current = await in_thread(ChargerUpload.objects.get, pk=upload.pk)
        if current.status in statuses:
            return current
        await asyncio.sleep(0.1)
    return current


@needs_redis
def test_diagnostics_are_uploaded_over_http_and_the_operator_downloads_the_same_bytes(
    asgi_server, world, upload_address, client
):
    async def scenario():
        async with connected(asgi_server, "ALPHA-1", charger_class=UploadingCharger) as charger:
            await charger.boot()
            upload = await ask_from_thread(world, ChargerUpload.Kind.DIAGNOSTICS)
            await asyncio.gather(*charger.uploads)
            return await settled(upload, ("uploaded", "failed")), charger

    upload, charger = asyncio.run(scenario())

    [(action, fields)] = charger.commands
    assert action == "GetDiagnostics"
    assert fields["location"] == f"{upload_address}/ocpp-uploads/{upload.token}/"
    assert charger.put_statuses == [201]
    assert (upload.status, upload.charger_status, upload.file_name, upload.size) == (
        "uploaded",
        "Uploaded",
        "diag-ALPHA-1.zip",
        len(DIAGNOSTICS),
    )
    events = ChargerEvent.objects.filter(charge_point=world.cp_a, kind=ChargerEvent.Kind.DIAGNOSTICS_STATUS)
    assert sorted(events.values_list("status", flat=True)) == ["Uploaded", "Uploading"]
    assert ChargerCommand.objects.get(charge_point=world.cp_a).answer == {"file_name": "diag-ALPHA-1.zip"}

    client.force_login(world.carol)
    download = client.get(reverse("admin:sessions_app_chargerupload_download", args=[upload.pk]))
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == DIAGNOSTICS
    client.force_login(world.dave)  # another operator's staff
    assert client.get(reverse("admin:sessions_app_chargerupload_download", args=[upload.pk])).status_code == 404
    # the address took its one file
    assert http_put(fields["location"] + "again.zip", b"again") == 410


@needs_redis
def test_a_failed_upload_is_reported_and_its_address_takes_nothing_afterwards(asgi_server, world, upload_address):
    class FailingCharger(UploadingCharger):
        __test__ = False
        fail = True

    async def scenario():
        async with connected(asgi_server, "ALPHA-1", charger_class=FailingCharger) as charger:
            await charger.boot()
            upload = await ask_from_thread(world, ChargerUpload.Kind.DIAGNOSTICS)
            await asyncio.gather(*charger.uploads)
            return await settled(upload, ("failed", "uploaded")), charger

    upload, charger = asyncio.run(scenario())

    assert (upload.status, upload.charger_status, upload.size) == ("failed", "UploadFailed", None)
    location = charger.commands[0][1]["location"]
    assert http_put(location + "late.zip", b"late") == 410


@needs_redis
def test_the_security_log_comes_by_get_log_with_its_request_id(asgi_server, world, upload_address, client):
    async def scenario():
        async with connected(asgi_server, "ALPHA-1", charger_class=UploadingCharger) as charger:
            await charger.boot()
            upload = await ask_from_thread(world, ChargerUpload.Kind.SECURITY_LOG)
            await asyncio.gather(*charger.uploads)
            return await settled(upload, ("uploaded", "failed")), charger

    upload, charger = asyncio.run(scenario())

    [(action, fields)] = charger.commands
    assert (action, fields["log_type"], fields["request_id"]) == ("GetLog", "SecurityLog", upload.pk)
    assert fields["log"] == {"remote_location": f"{upload_address}/ocpp-uploads/{upload.token}/"}
    assert charger.put_statuses == [201]
    assert (upload.status, upload.charger_status, upload.file_name) == ("uploaded", "Uploaded", "security.log")
    events = ChargerEvent.objects.filter(charge_point=world.cp_a, kind=ChargerEvent.Kind.LOG_STATUS)
    assert sorted(events.values_list("status", "data")) == [
        ("Uploaded", f"requestId {upload.pk}"),
        ("Uploading", f"requestId {upload.pk}"),
    ]
    client.force_login(world.carol)
    download = client.get(reverse("admin:sessions_app_chargerupload_download", args=[upload.pk]))
    assert b"".join(download.streaming_content) == b"2026-12-04 tamper switch\n"


def test_a_charger_that_is_offline_is_not_asked_and_the_upload_is_refused(world, upload_address):
    upload = upload_request(
        charge_point=world.cp_a,
        kind=ChargerUpload.Kind.DIAGNOSTICS_LOG,
        requested_by=world.carol,
        now=timezone.now(),
        timeout=2,
    ).upload

    assert (upload.status, upload.charger_status) == ("refused", "offline")
    assert ChargerCommand.objects.get(charge_point=world.cp_a).outcome == "offline"
    assert http_put(f"{upload_address}/ocpp-uploads/{upload.token}/x.log", b"x") == 410


@needs_redis
def test_a_body_declared_too_large_is_refused_with_413_before_it_is_read(asgi_server, world, upload_address):
    """The ASGI guard answers from the headers alone: the 200 MB are never sent (the default limit is 100 MB)."""
    upload = ChargerUpload.objects.create(charge_point=world.cp_a, kind=ChargerUpload.Kind.DIAGNOSTICS, token="big-1")
    host, port = upload_address.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(
            f"PUT /ocpp-uploads/{upload.token}/huge.zip HTTP/1.1\r\nHost: {host}\r\n"
            "Content-Length: 200000000\r\nContent-Type: application/zip\r\n\r\n".encode()
        )
        answer = connection.recv(4096).decode(errors="replace")

    assert answer.startswith("HTTP/1.1 413")
    upload.refresh_from_db()
    assert (upload.status, upload.file.name) == ("requested", "")

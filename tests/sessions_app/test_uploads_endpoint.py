"""The address chargers upload diagnostics and logs to (/ocpp-uploads/<token>/): PUT, POST multipart, one file per
address, a size limit, a time limit; and what asking for an upload sends and keeps (``sessions_app.uploads``).

Only the transport to chargers is replaced (``commands.command_send``); tests/e2e/test_ocpp_uploads.py uploads for
real from an ``ocpp`` package charger.
"""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from sessions_app.models import ChargerCommand, ChargerEvent, ChargerUpload
from sessions_app.ocpp.commands import CommandResult
from sessions_app.upload_asgi import upload_body_limit
from sessions_app.uploads import diagnostics_status_record, log_status_record, upload_request

pytestmark = pytest.mark.django_db

BASE = "https://cp.example.com"
NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _media(settings, tmp_path, transport):
    """Files in a temporary MEDIA_ROOT; the charger accepts GetDiagnostics with a file name unless a test says."""
    settings.MEDIA_ROOT = tmp_path
    settings.OCPP_UPLOAD_BASE_URL = BASE
    transport.result = CommandResult("answered", {"file_name": "diag.zip"})


def ask(world, transport, kind=ChargerUpload.Kind.DIAGNOSTICS, **options) -> ChargerUpload:
    return upload_request(
        charge_point=world.cp_a, kind=kind, requested_by=world.carol, now=timezone.now(), **options
    ).upload


def address(upload: ChargerUpload) -> str:
    return reverse("ocpp_upload", args=[upload.token])


def test_get_diagnostics_goes_out_with_a_one_time_address_here_and_the_file_name_is_kept(world, transport):
    transport.result = CommandResult("answered", {"file_name": "diag-ALPHA-1.zip"})
    start, stop = NOW - timedelta(days=1), NOW

    upload = ask(world, transport, start=start, stop=stop, retries=2, retry_interval=60)

    [(ocpp_id, action, payload)] = transport.sent
    assert (ocpp_id, action) == ("ALPHA-1", "GetDiagnostics")
    assert payload == {
        "location": f"{BASE}/ocpp-uploads/{upload.token}/",
        "retries": 2,
        "retry_interval": 60,
        "start_time": "2026-12-03T12:00:00Z",
        "stop_time": "2026-12-04T12:00:00Z",
    }
    assert len(upload.token) >= 40
    assert (upload.status, upload.file_name, upload.requested_by) == ("requested", "diag-ALPHA-1.zip", world.carol)


def test_get_log_carries_the_upload_id_as_request_id(world, transport):
    transport.result = CommandResult("answered", {"status": "Accepted", "filename": "security.log"})

    upload = ask(world, transport, kind=ChargerUpload.Kind.SECURITY_LOG, start=NOW - timedelta(hours=1))

    [(_id, action, payload)] = transport.sent
    assert action == "GetLog"
    assert payload == {
        "log_type": "SecurityLog",
        "request_id": upload.pk,
        "log": {"remote_location": f"{BASE}/ocpp-uploads/{upload.token}/", "oldest_timestamp": "2026-12-04T11:00:00Z"},
    }
    assert (upload.status, upload.charger_status, upload.file_name) == ("requested", "Accepted", "security.log")


@pytest.mark.parametrize(
    ("kind", "result", "charger_status"),
    [
        (ChargerUpload.Kind.DIAGNOSTICS, CommandResult("offline"), "offline"),
        (ChargerUpload.Kind.DIAGNOSTICS, CommandResult("answered", {}), ""),  # no fileName: nothing to upload
        (ChargerUpload.Kind.DIAGNOSTICS_LOG, CommandResult("answered", {"status": "Rejected"}), "Rejected"),
        (ChargerUpload.Kind.SECURITY_LOG, CommandResult("error", {}, "NotImplemented"), "error"),
    ],
)
def test_a_request_not_sent_or_refused_is_refused_and_its_address_takes_nothing(
    client, world, transport, kind, result, charger_status
):
    transport.result = result
    upload = ask(world, transport, kind=kind)

    assert (upload.status, upload.charger_status) == ("refused", charger_status)
    assert client.put(address(upload), b"late", content_type="application/octet-stream").status_code == 410


def test_a_period_ending_before_it_starts_is_refused_before_anything_is_kept(world, transport):
    from sessions_app.ocpp.command_payloads import CommandPayloadError

    with pytest.raises(CommandPayloadError) as refused:
        ask(world, transport, start=NOW, stop=NOW - timedelta(hours=1))

    assert refused.value.field == "stop_time"
    assert transport.sent == [] and not ChargerUpload.objects.exists()


def test_put_stores_the_body_under_the_name_in_the_path(client, world, transport):
    transport.result = CommandResult("answered", {"file_name": "diag.zip"})
    upload = ask(world, transport)

    response = client.put(f"{address(upload)}diag.zip", b"PK\x03\x04 zip bytes", content_type="application/zip")

    assert response.status_code == 201
    upload.refresh_from_db()
    assert (upload.status, upload.file_name, upload.size) == ("uploaded", "diag.zip", 14)
    assert upload.received_at is not None
    with upload.file.open("rb") as stored:
        assert stored.read() == b"PK\x03\x04 zip bytes"


def test_put_to_the_directory_takes_the_name_from_content_disposition(client, world, transport):
    upload = ask(world, transport)

    response = client.put(
        address(upload),
        b"log lines\n",
        content_type="application/octet-stream",
        headers={"Content-Disposition": 'attachment; filename="../../etc/diagnostics.tar.gz"'},
    )

    assert response.status_code == 201
    upload.refresh_from_db()
    assert upload.file_name == "diagnostics.tar.gz"
    assert upload.file.name.startswith(f"charger-uploads/{world.cp_a.pk}/{upload.pk}-")


def test_post_multipart_takes_the_file_whatever_its_field_is_called(client, world, transport):
    transport.result = CommandResult("answered", {"status": "Accepted"})
    upload = ask(world, transport, kind=ChargerUpload.Kind.DIAGNOSTICS_LOG)

    response = client.post(address(upload), {"uploadfile": SimpleUploadedFile("cp.log", b"\x00binary\xff")})

    assert response.status_code == 201
    upload.refresh_from_db()
    assert (upload.status, upload.file_name, upload.size) == ("uploaded", "cp.log", 8)
    with upload.file.open("rb") as stored:
        assert stored.read() == b"\x00binary\xff"


def test_a_post_without_a_file_is_a_bad_request(client, world, transport):
    upload = ask(world, transport)
    assert client.post(address(upload), {"note": "no file"}).status_code == 400
    upload.refresh_from_db()
    assert upload.status == "requested"


def test_an_unknown_address_is_404_and_other_methods_405(client, world, transport):
    upload = ask(world, transport)
    assert client.put("/ocpp-uploads/not-a-token/", b"x", content_type="text/plain").status_code == 404
    assert client.get(address(upload)).status_code == 405


def test_an_address_takes_one_file_only(client, world, transport):
    upload = ask(world, transport)
    assert client.put(f"{address(upload)}first.txt", b"first", content_type="text/plain").status_code == 201

    second = client.put(f"{address(upload)}second.txt", b"second", content_type="text/plain")

    assert second.status_code == 410
    upload.refresh_from_db()
    assert upload.file_name == "first.txt"
    with upload.file.open("rb") as stored:
        assert stored.read() == b"first"


def test_a_file_over_the_limit_is_413_and_nothing_is_kept(client, world, transport, settings, tmp_path):
    settings.OCPP_UPLOAD_MAX_BYTES = 1024
    upload = ask(world, transport)

    put = client.put(address(upload), b"x" * 1025, content_type="application/octet-stream")
    post = client.post(address(upload), {"file": SimpleUploadedFile("big.bin", b"y" * 2000)})

    assert (put.status_code, post.status_code) == (413, 413)
    upload.refresh_from_db()
    assert (upload.status, upload.file.name) == ("requested", "")
    assert not any(path.is_file() for path in tmp_path.rglob("*"))
    assert client.put(address(upload), b"x" * 1024, content_type="application/octet-stream").status_code == 201


def test_an_address_expires_after_the_upload_window(client, world, transport, settings):
    settings.OCPP_UPLOAD_WINDOW = 3600
    with time_machine.travel(NOW, tick=False):
        upload = ask(world, transport)
    with time_machine.travel(NOW + timedelta(seconds=3601), tick=False):
        response = client.put(address(upload), b"late", content_type="text/plain")
    assert response.status_code == 410
    upload.refresh_from_db()
    assert upload.status == "requested"


def test_diagnostics_progress_moves_the_latest_diagnostics_upload(world, transport):
    older = ask(world, transport)
    upload = ask(world, transport)

    diagnostics_status_record(charge_point=world.cp_a, status="Uploading", at=timezone.now())
    upload.refresh_from_db()
    assert (upload.status, upload.charger_status) == ("uploading", "Uploading")
    diagnostics_status_record(charge_point=world.cp_a, status="UploadFailed", at=timezone.now())
    upload.refresh_from_db()
    older.refresh_from_db()
    assert (upload.status, upload.charger_status) == ("failed", "UploadFailed")
    assert older.status == "requested"
    assert list(
        ChargerEvent.objects.filter(kind=ChargerEvent.Kind.DIAGNOSTICS_STATUS).values_list("status", flat=True)
    ) == ["UploadFailed", "Uploading"]


def test_uploaded_reported_without_a_file_here_is_failed_and_a_received_file_stays(client, world, transport):
    upload = ask(world, transport)
    diagnostics_status_record(charge_point=world.cp_a, status="Uploaded", at=timezone.now())
    upload.refresh_from_db()
    assert (upload.status, upload.charger_status) == ("failed", "Uploaded")

    received = ask(world, transport)
    client.put(f"{address(received)}d.zip", b"zip", content_type="application/zip")
    diagnostics_status_record(charge_point=world.cp_a, status="Uploaded", at=timezone.now())
    received.refresh_from_db()
    assert (received.status, received.charger_status, received.size) == ("uploaded", "Uploaded", 3)


def test_log_progress_goes_to_the_upload_its_request_id_names_on_that_charger_only(world, transport):
    transport.result = CommandResult("answered", {"status": "Accepted"})
    upload = ask(world, transport, kind=ChargerUpload.Kind.SECURITY_LOG)

    log_status_record(charge_point=world.cp_b, status="Uploading", request_id=upload.pk, at=timezone.now())
    upload.refresh_from_db()
    assert upload.status == "requested"  # another charger cannot move it
    log_status_record(charge_point=world.cp_a, status="PermissionDenied", request_id=upload.pk, at=timezone.now())
    upload.refresh_from_db()
    assert (upload.status, upload.charger_status) == ("failed", "PermissionDenied")
    event = ChargerEvent.objects.get(charge_point=world.cp_a, kind=ChargerEvent.Kind.LOG_STATUS)
    assert (event.status, event.data) == ("PermissionDenied", f"requestId {upload.pk}")


def test_a_2_0_1_chargers_diagnostics_progress_comes_as_log_status_naming_the_upload(world, transport):
    """A 2.0.1 charger is asked for diagnostics with GetLog DiagnosticsLog, the upload's id its requestId."""
    upload = ask(world, transport)
    log_status_record(charge_point=world.cp_a, status="Uploading", request_id=upload.pk, at=timezone.now())
    upload.refresh_from_db()
    assert upload.status == "requested"  # a 1.6 charger reports diagnostics with DiagnosticsStatusNotification

    world.cp_a.ocpp_protocol = world.cp_a.OcppProtocol.OCPP201
    log_status_record(charge_point=world.cp_a, status="Uploading", request_id=upload.pk, at=timezone.now())
    upload.refresh_from_db()
    assert (upload.status, upload.charger_status) == ("uploading", "Uploading")


def test_the_command_and_its_answer_go_on_the_chargers_history_through_command_send(world, transport):
    ask(world, transport)
    assert [sent[1] for sent in transport.sent] == ["GetDiagnostics"]
    assert not ChargerCommand.objects.exists()  # the fake transport stands in for command_send, which records


def _asgi_call(app, headers, chunks):
    sent, received = [], list(chunks)

    async def receive():
        if received:
            body = received.pop(0)
            return {"type": "http.request", "body": body, "more_body": bool(received)}
        await asyncio.sleep(3600)

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "path": "/ocpp-uploads/t/", "method": "PUT", "headers": headers}
    asyncio.run(app(scope, receive, send))
    return sent


def test_the_asgi_guard_answers_413_before_reading_a_declared_too_large_body(settings):
    settings.OCPP_UPLOAD_MAX_BYTES = 1024
    called = []

    async def app(scope, receive, send):
        called.append(scope)

    sent = _asgi_call(upload_body_limit(app), [(b"content-length", b"1025")], [b"x" * 1025])

    assert called == [] and sent[0]["status"] == 413


def test_the_asgi_guard_stops_reading_an_undeclared_body_past_the_limit(settings):
    settings.OCPP_UPLOAD_MAX_BYTES = 1024
    read = []

    async def app(scope, receive, send):  # reads as Django's handler does, and gives up on a disconnect
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            read.append(message["body"])
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    sent = _asgi_call(upload_body_limit(app), [], [b"x" * 1000, b"x" * 1000, b"x" * 1000])

    assert len(read) == 1 and [message.get("status") for message in sent][0] == 413


def test_the_upload_token_never_reaches_the_logs(world, transport):
    from sessions_app.ocpp.log_redaction import redact

    upload = ask(world, transport)
    frame = f'[2,"1","GetDiagnostics",{{"location":"{BASE}/ocpp-uploads/{upload.token}/"}}]'
    access = f'127.0.0.1:5000 - "PUT /ocpp-uploads/{upload.token}/diag.zip HTTP/1.1" 201'

    masked = redact(frame, access)

    assert all(upload.token not in text for text in masked)
    assert masked[1] == '127.0.0.1:5000 - "PUT /ocpp-uploads/***/diag.zip HTTP/1.1" 201'

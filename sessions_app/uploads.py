"""Files chargers upload to this system: diagnostics (GetDiagnostics) and logs (GetLog, security extension).

An operator asks (``upload_request``): a ``ChargerUpload`` is made with a secret token, and the charger is
told to upload to ``<base>/ocpp-uploads/<token>/``, a directory address as OCPP 1.6 wants it (the base: the
address chargers reach this server at, ``server_address.charger_base_url``).
The charger sends its file there by HTTP PUT (to that address or a file name under it) or POST (multipart, or
the raw file): ``upload_receive`` keeps it. The token is the only credential; it takes one file, of at most
OCPP_UPLOAD_MAX_BYTES, within OCPP_UPLOAD_WINDOW seconds of the request, while the upload is still expected.
The charger's progress (DiagnosticsStatusNotification, LogStatusNotification) updates the upload too.
FTP is not served: a charger that uploads only by FTP cannot deliver here.
"""

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import PurePosixPath
from typing import IO, Protocol, cast

from django.conf import settings
from django.core.files import File
from django.db import transaction
from django.urls import reverse
from django.utils.text import get_valid_filename

from accounts.models import User
from sessions_app.models import ChargePoint, ChargerEvent, ChargerUpload
from sessions_app.ocpp import command_payloads, commands
from sessions_app.server_address import charger_base_url
from sessions_app.services import charger_event_record

#: GetLog's logType for each kind of upload that is a log.
LOG_TYPES = {
    ChargerUpload.Kind.DIAGNOSTICS_LOG: "DiagnosticsLog",
    ChargerUpload.Kind.SECURITY_LOG: "SecurityLog",
}
#: Uploads still waiting for their file.
OPEN = (ChargerUpload.Status.REQUESTED, ChargerUpload.Status.UPLOADING)
#: What the charger reports that ends an upload without a file (DiagnosticsStatus, UploadLogStatus).
FAILURE_REPORTS = frozenset(
    {"UploadFailed", "UploadFailure", "BadMessage", "NotSupportedOperation", "PermissionDenied"}
)
FILE_NAME_MAX_LENGTH = 150
CHUNK_SIZE = 1024 * 1024


@dataclass(frozen=True)
class UploadRequest:
    """What came of asking: the upload (status requested, or refused) and the charger's answer."""

    upload: ChargerUpload
    result: commands.CommandResult


def upload_location(*, upload: ChargerUpload, base_url: str = "") -> str:
    """The directory address the charger uploads to: ``base_url`` (``charger_base_url`` of the operator's request;
    empty: the configured OCPP_UPLOAD_BASE_URL), then the upload path with the token."""
    base = base_url.rstrip("/") or charger_base_url()
    return f"{base}{reverse('ocpp_upload', args=[upload.token])}"


def upload_request(
    *,
    charge_point: ChargePoint,
    kind: str,
    requested_by: User | None,
    start: datetime | None = None,
    stop: datetime | None = None,
    now: datetime,
    base_url: str = "",
    retries: int | None = None,
    retry_interval: int | None = None,
    timeout: float = 30,
) -> UploadRequest:
    """Ask the charger for its diagnostics or a log of the period ``start`` to ``stop`` (both optional).

    The payload is checked before anything is kept (``CommandPayloadError``). The command goes through
    ``commands.command_send`` (on the charger's history); while it waits no transaction is open, and a file that
    arrives before the answer is kept. Not answered, or refused (GetLog Rejected, GetDiagnostics without a file
    name: the charger has nothing to send), the upload is ``refused`` and its address takes nothing.
    """
    if kind not in ChargerUpload.Kind.values:
        raise ValueError(f"Unknown upload kind {kind!r}.")
    upload = ChargerUpload(
        charge_point=charge_point,
        kind=kind,
        token=secrets.token_urlsafe(32),
        requested_by=requested_by,
        requested_at=now,
    )
    location = upload_location(upload=upload, base_url=base_url)
    # Built once to check the fields before the upload exists, once more with its id (GetLog's requestId).
    _payload(kind, location, 0, start, stop, retries, retry_interval)
    upload.save()
    action, payload = _payload(kind, location, upload.pk, start, stop, retries, retry_interval)
    result = commands.command_send(charge_point, action, payload, timeout)
    upload_answer_record(upload=upload, result=result)
    upload.refresh_from_db()
    return UploadRequest(upload, result)


def _payload(kind, location, request_id, start, stop, retries, retry_interval) -> tuple[str, dict]:
    if kind == ChargerUpload.Kind.DIAGNOSTICS:
        built = command_payloads.get_diagnostics(
            location=location, retries=retries, retry_interval=retry_interval, start_time=start, stop_time=stop
        )
    else:
        built = command_payloads.get_log(
            log_type=LOG_TYPES[kind],
            request_id=request_id,
            remote_location=location,
            oldest_timestamp=start,
            latest_timestamp=stop,
            retries=retries,
            retry_interval=retry_interval,
        )
    return command_payloads.command_payload(built)


def upload_answer_record(*, upload: ChargerUpload, result: commands.CommandResult) -> None:
    """The charger's answer to GetDiagnostics or GetLog: the file name it will upload, or a refusal.

    Changes only an upload still open (a file may already have come) and keeps a file name already known.
    """
    if result.outcome != "answered":
        report, refused, file_name = result.outcome, True, ""
    elif upload.kind == ChargerUpload.Kind.DIAGNOSTICS:
        file_name = str(result.payload.get("file_name") or "")
        report, refused = "", not file_name  # GetDiagnostics.conf has no status; no file name: nothing to send
    else:
        report, file_name = result.status, str(result.payload.get("filename") or "")
        refused = report not in ("Accepted", "AcceptedCanceled")
    with transaction.atomic():
        current = ChargerUpload.objects.select_for_update().get(pk=upload.pk)
        if current.status not in OPEN:
            return
        current.charger_status = report[:40]
        current.file_name = current.file_name or _safe_name(file_name)
        if refused:
            current.status = ChargerUpload.Status.REFUSED
        current.save(update_fields=["charger_status", "file_name", "status"])


# --- the charger's progress ----------------------------------------------------------------------------------


@transaction.atomic
def diagnostics_status_record(*, charge_point: ChargePoint, status: str, at: datetime) -> ChargerUpload | None:
    """DiagnosticsStatusNotification: kept as a charger event, and applied to the charger's latest diagnostics
    upload that is not refused (OCPP 1.6 names no request). Returns that upload, if there is one."""
    charger_event_record(charge_point=charge_point, kind=ChargerEvent.Kind.DIAGNOSTICS_STATUS, status=status, at=at)
    latest = (
        ChargerUpload.objects.filter(
            charge_point=charge_point,
            kind=ChargerUpload.Kind.DIAGNOSTICS,
            requested_at__gte=at - upload_window(),
        )
        .exclude(status=ChargerUpload.Status.REFUSED)
        .order_by("-requested_at", "-pk")
        .values_list("pk", flat=True)
        .first()
    )
    return None if latest is None else _progress_apply(pk=latest, status=status)


@transaction.atomic
def log_status_record(
    *, charge_point: ChargePoint, status: str, request_id: int | None, at: datetime
) -> ChargerUpload | None:
    """LogStatusNotification (security extension): kept as a charger event, and applied to the log upload whose
    id is ``request_id`` (this system's GetLog requestId; for a 2.x charger also a diagnostics upload, which it
    was asked for as GetLog DiagnosticsLog). Returns that upload, if it is this charger's."""
    charger_event_record(
        charge_point=charge_point,
        kind=ChargerEvent.Kind.LOG_STATUS,
        status=status,
        data="" if request_id is None else f"requestId {request_id}",
        at=at,
    )
    if request_id is None or not 0 < request_id <= command_payloads.REQUEST_MAX_ID:
        return None
    kinds = [*LOG_TYPES, ChargerUpload.Kind.DIAGNOSTICS] if charge_point.speaks_ocpp2 else list(LOG_TYPES)
    found = ChargerUpload.objects.filter(pk=request_id, charge_point=charge_point, kind__in=kinds).values_list(
        "pk", flat=True
    )
    return _progress_apply(pk=found[0], status=status) if found else None


def _progress_apply(*, pk: int, status: str) -> ChargerUpload:
    """Uploading marks an open upload uploading; a failure ends one without a file; Uploaded without a file here
    means the file went nowhere this system saw (failed). A file received stays, whatever comes after."""
    with transaction.atomic():
        upload = ChargerUpload.objects.select_for_update().get(pk=pk)
        upload.charger_status = status[:40]
        if upload.status in OPEN and upload.received_at is None:
            if status == "Uploading":
                upload.status = ChargerUpload.Status.UPLOADING
            elif status in FAILURE_REPORTS or status == "Uploaded":
                upload.status = ChargerUpload.Status.FAILED
        upload.save(update_fields=["charger_status", "status"])
    return upload


# --- the upload itself ---------------------------------------------------------------------------------------


class Readable(Protocol):
    """A request body or an uploaded file: read in chunks."""

    def read(self, size: int = ..., /) -> bytes: ...


class UploadRefused(Exception):
    """The upload address takes nothing: ``status`` is the HTTP status to answer (404, 410, 413)."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


def upload_window() -> timedelta:
    return timedelta(seconds=settings.OCPP_UPLOAD_WINDOW)


def upload_for_token(*, token: str, now: datetime) -> ChargerUpload:
    """The upload this address is for, if it still takes a file; else ``UploadRefused`` (404 unknown, 410 gone)."""
    upload = ChargerUpload.objects.filter(token=token).first() if token else None
    if upload is None:
        raise UploadRefused(404, "No upload is expected at this address.")
    if upload.status not in OPEN or upload.received_at is not None:
        raise UploadRefused(410, "This upload address has been used or withdrawn.")
    if now > upload.requested_at + upload_window():
        raise UploadRefused(410, "This upload address has expired.")
    return upload


def upload_check_size(size: int | None) -> None:
    """A declared or counted size beyond OCPP_UPLOAD_MAX_BYTES: 413."""
    if size is not None and size > settings.OCPP_UPLOAD_MAX_BYTES:
        raise UploadRefused(413, f"At most {settings.OCPP_UPLOAD_MAX_BYTES} bytes.")


def upload_receive(*, token: str, content: Readable, file_name: str, now: datetime) -> ChargerUpload:
    """Keep the file ``content`` (read to its end, in chunks) for the upload of ``token``, once.

    The file is stored first, then the upload claimed with a conditional update: of two uploads to one address
    only one is kept, the other's file removed (410). A body beyond OCPP_UPLOAD_MAX_BYTES is refused (413).
    """
    upload = upload_for_token(token=token, now=now)
    name = _safe_name(file_name) or upload.file_name or "upload.bin"
    counted = _CountingReader(content)
    stored = upload.file.storage.save(
        upload.file.field.generate_filename(upload, name), File(cast(IO[bytes], counted), name=name)
    )
    try:
        upload_check_size(counted.size)
        claimed = ChargerUpload.objects.filter(pk=upload.pk, status__in=OPEN, received_at=None).update(
            status=ChargerUpload.Status.UPLOADED, file=stored, file_name=name, size=counted.size, received_at=now
        )
    except BaseException:
        upload.file.storage.delete(stored)
        raise
    if not claimed:
        upload.file.storage.delete(stored)
        raise UploadRefused(410, "This upload address has been used or withdrawn.")
    upload.refresh_from_db()
    return upload


class _CountingReader:
    """A file-like reader that counts what passes and stops once more than OCPP_UPLOAD_MAX_BYTES went through (so a
    body without a declared length cannot fill the disk); ``upload_receive`` then refuses it."""

    def __init__(self, content: Readable):
        self.content, self.size = content, 0
        self.limit = settings.OCPP_UPLOAD_MAX_BYTES

    def read(self, size: int = -1) -> bytes:
        if self.size > self.limit:
            return b""
        chunk = self.content.read(CHUNK_SIZE if size is None or size < 0 else min(size, CHUNK_SIZE))
        self.size += len(chunk)
        return chunk

    def chunks(self, chunk_size: int | None = None):
        while chunk := self.read(chunk_size or CHUNK_SIZE):
            yield chunk

    def seek(self, *args) -> int:
        return 0

    def tell(self) -> int:
        return self.size


def _safe_name(file_name: str) -> str:
    """The last path segment of a name a charger gave, as a file name that is safe to store and serve."""
    last = PurePosixPath(file_name.replace("\\", "/")).name
    try:
        return get_valid_filename(last)[-FILE_NAME_MAX_LENGTH:] if last else ""
    except Exception:  # noqa: BLE001 - get_valid_filename refuses "." and ".."; such a name is no name
        return ""

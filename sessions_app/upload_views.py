"""The address chargers upload diagnostics and logs to: /ocpp-uploads/<token>/ (``sessions_app.uploads``).

No session, no CSRF token: chargers have neither, and the secret token in the address is the credential. PUT
sends the file as the body (its name from the last path segment or Content-Disposition); POST sends it as a
multipart form (the first file, whatever its field's name) or as the body. Under ASGI the body has been read
(to a temporary file, at most OCPP_UPLOAD_MAX_BYTES: ``sessions_app.upload_asgi``) before the view runs.
"""

from email.message import Message

from django.core.files.uploadedfile import UploadedFile
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.http.multipartparser import MultiPartParserError
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from sessions_app.uploads import UploadRefused, upload_check_size, upload_for_token, upload_receive

METHODS = ["PUT", "POST"]


@csrf_exempt
def charger_upload(request: HttpRequest, token: str, file_name: str = "") -> HttpResponse:
    if request.method not in METHODS:
        return HttpResponseNotAllowed(METHODS)
    now = timezone.now()
    try:
        upload_for_token(token=token, now=now)  # before the body is read: an unknown or used address reads nothing
        upload_check_size(_declared_length(request))
        if request.method == "POST" and request.content_type == "multipart/form-data":
            try:
                fields = list(request.FILES)
            except MultiPartParserError:
                return _text("The multipart form could not be read.", 400)
            if not fields:
                return _text("The form holds no file.", 400)
            sent = request.FILES.get(fields[0])
            if not isinstance(sent, UploadedFile):
                return _text("The form holds no file.", 400)
            upload_check_size(sent.size)
            upload_receive(token=token, content=sent, file_name=file_name or sent.name or "", now=now)
        else:
            name = file_name or _disposition_name(request.headers.get("Content-Disposition", ""))
            upload_receive(token=token, content=request, file_name=name, now=now)
    except UploadRefused as refused:
        return _text(refused.reason, refused.status)
    return _text("Stored.", 201)


def _text(text: str, status: int) -> HttpResponse:
    return HttpResponse(f"{text}\n", status=status, content_type="text/plain; charset=utf-8")


def _declared_length(request: HttpRequest) -> int | None:
    try:
        return int(request.META.get("CONTENT_LENGTH") or "")
    except ValueError:
        return None


def _disposition_name(header: str) -> str:
    """The file name a Content-Disposition header gives (``filename`` or ``filename*``), if any."""
    if not header:
        return ""
    message = Message()
    message["Content-Disposition"] = header
    return message.get_filename() or ""

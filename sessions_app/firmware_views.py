"""The firmware file a campaign's chargers download: chargers cannot sign in, so the address is the key
(``sessions_app.firmware``: a token per campaign that only this server can make)."""

import logging

from django.http import FileResponse, Http404, HttpRequest
from django.views.decorators.http import require_safe

from core.client_ip import request_client_address
from sessions_app.firmware import firmware_download_find, firmware_file_name

logger = logging.getLogger(__name__)


@require_safe
def firmware_download(request: HttpRequest, campaign_id: int, token: str, filename: str) -> FileResponse:
    firmware = firmware_download_find(campaign_id=campaign_id, token=token, filename=filename)
    if firmware is None:
        raise Http404
    logger.info("Firmware %s (campaign %s) downloaded by %s", firmware.pk, campaign_id, request_client_address(request))
    response = FileResponse(firmware.file.open("rb"), as_attachment=True, filename=firmware_file_name(firmware))
    response["Cache-Control"] = "private, no-store"
    return response

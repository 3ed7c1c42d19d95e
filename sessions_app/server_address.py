"""The address chargers reach this server at, for the files they fetch (firmware) and send (diagnostics, logs).

OCPP 1.6 gives a charger only a URI, so the whole address goes into the command: ``OCPP_UPLOAD_BASE_URL`` when it
is set (the server behind a proxy, or on the chargers' own network), else the address the operator's request
came to.
"""

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest


def charger_base_url(request: HttpRequest | None = None) -> str:
    """This server's address for chargers, without a trailing slash; without the setting and a request to take
    it from there is none to give (``ImproperlyConfigured``)."""
    configured = str(getattr(settings, "OCPP_UPLOAD_BASE_URL", ""))
    if configured:
        return configured.rstrip("/")
    if request is None:
        raise ImproperlyConfigured("Set OCPP_UPLOAD_BASE_URL: there is no request to take this server's address from.")
    return request.build_absolute_uri("/").rstrip("/")

"""The handshake's transport as the ASGI scope tells it: TLS or not, and the verified client certificate.

TLS: the scope's scheme is ``wss``, because uvicorn served TLS itself or because one of its trusted proxies
said so (``X-Forwarded-Proto: https``; uvicorn rewrites the scheme for the proxies ``--forwarded-allow-ips``
names, which ``make serve`` sets to TRUSTED_PROXIES).

The client certificate: the ASGI TLS extension, ``scope["extensions"]["tls"]["client_cert_chain"][0]``, which
uvicorn adds only with the project's websocket protocol (``chargeportal.uvicorn_tls``, passed with ``--ws``);
that protocol also turns a trusted proxy's forwarded certificate into the same extension.
"""

from typing import Any

from sessions_app.charger_auth import Transport


def handshake_transport(scope: dict[str, Any]) -> Transport:
    tls_extension = (scope.get("extensions") or {}).get("tls") or {}
    chain = tls_extension.get("client_cert_chain") or []
    return Transport(tls=scope.get("scheme") == "wss", client_certificate=chain[0] if chain else None)

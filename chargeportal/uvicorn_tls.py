"""uvicorn's websocket protocols, telling the application about the connection's TLS.

uvicorn serves TLS itself (``--ssl-certfile``, ``--ssl-keyfile``, ``--ssl-ca-certs``, ``--ssl-cert-reqs``) but
does not put the client's certificate into the ASGI scope. These subclasses add the ASGI TLS extension
(https://asgi.readthedocs.io/en/latest/specs/tls.html) to a websocket's scope, read from the connection's
``ssl_object``: ``scope["extensions"]["tls"] = {"server_cert", "client_cert_chain", "client_cert_name",
"client_cert_error", "tls_version", "cipher_suite"}``. Charger security profile 3 is checked against it
(``sessions_app.ocpp.tls``). Start uvicorn with ``--ws chargeportal.uvicorn_tls:WebSocketProtocol`` (what
``make serve`` does): uvicorn's default implementation with that added. ``TLSScopeMixin`` adds it to uvicorn's
other implementations the same way.

Behind a reverse proxy that terminates TLS, the proxy verifies the client certificate and may forward it,
URL-encoded PEM as nginx's ``$ssl_client_escaped_cert`` is, in the header ``OCPP_TLS_PROXY_CERT_HEADER``
names. That header counts only on a plain connection whose peer is one of TRUSTED_PROXIES; it is read here,
where the peer is still the socket's other end (uvicorn's proxy middleware later replaces ``scope["client"]``
with the forwarded address).

Imported by uvicorn before Django is set up: Django's settings are read only when a connection arrives.
"""

import functools
import ipaddress
import ssl
from typing import Any
from urllib.parse import unquote

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

#: TLS versions as the ASGI TLS extension spells them (the TLS wire numbers).
TLS_VERSIONS = {"TLSv1": 0x0301, "TLSv1.1": 0x0302, "TLSv1.2": 0x0303, "TLSv1.3": 0x0304}


@functools.lru_cache(maxsize=4)
def _server_certificate(path: str) -> str | None:
    """The first certificate of the server's certificate file, PEM; None when unreadable."""
    try:
        with open(path, "rb") as handle:
            certificates = x509.load_pem_x509_certificates(handle.read())
    except (OSError, ValueError):
        return None
    return certificates[0].public_bytes(Encoding.PEM).decode("ascii")


def _subject(pem: str) -> str | None:
    try:
        return x509.load_pem_x509_certificate(pem.encode("ascii")).subject.rfc4514_string()
    except ValueError:
        return None


def tls_extension(ssl_object: ssl.SSLObject, server_certfile: str | None) -> dict[str, Any]:
    """The ASGI TLS extension of a connection served over TLS here. The TLS layer has verified a client
    certificate it passes on against ``--ssl-ca-certs`` (with ``--ssl-cert-reqs`` 1 or 2 a wrong one ends the
    handshake), so a certificate here is one the operator's CA signed; Python 3.11 gives the leaf only."""
    der = ssl_object.getpeercert(binary_form=True)
    chain = [ssl.DER_cert_to_PEM_cert(der)] if der else []
    return {
        "server_cert": _server_certificate(server_certfile) if server_certfile else None,
        "client_cert_chain": chain,
        "client_cert_name": _subject(chain[0]) if chain else None,
        "client_cert_error": None,
        "tls_version": TLS_VERSIONS.get(ssl_object.version() or ""),
        "cipher_suite": None,  # Python's ssl names the suite but does not give its number
    }


def proxy_tls_extension(headers: list[tuple[bytes, bytes]], header: str) -> dict[str, Any] | None:
    """The TLS extension for a connection whose TLS a trusted proxy ended: its verified client certificate
    from ``header`` (URL-encoded PEM); None without one."""
    name = header.lower().encode("latin-1")
    value = next((value for key, value in headers if key.lower() == name), b"")
    pem = unquote(value.decode("latin-1")).strip()
    if not pem.startswith("-----BEGIN CERTIFICATE-----"):
        return None
    return {
        "server_cert": None,
        "client_cert_chain": [pem],
        "client_cert_name": _subject(pem),
        "client_cert_error": None,
        "tls_version": None,
        "cipher_suite": None,
    }


def _trusted_proxy(peer: str | None, proxies: list[str]) -> bool:
    """Whether the socket's peer is one of TRUSTED_PROXIES (addresses or networks)."""
    try:
        address = ipaddress.ip_address(peer or "")
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(proxy, strict=False) for proxy in proxies)


class TLSScopeMixin:
    """Adds the TLS extension to the websocket's scope before the application sees it."""

    config: Any
    scope: Any
    transport: Any
    client: tuple[str, int] | None

    def _add_tls_extension(self) -> None:
        extensions = self.scope.setdefault("extensions", {})
        ssl_object = self.transport.get_extra_info("ssl_object")
        if ssl_object is not None:
            extensions["tls"] = tls_extension(ssl_object, self.config.ssl_certfile)
            return
        from django.conf import settings

        header = getattr(settings, "OCPP_TLS_PROXY_CERT_HEADER", "")
        peer = self.client[0] if self.client else None
        if header and _trusted_proxy(peer, getattr(settings, "TRUSTED_PROXIES", [])):
            proxied = proxy_tls_extension(self.scope.get("headers", []), header)
            if proxied is not None:
                extensions["tls"] = proxied

    async def run_asgi(self) -> None:
        self._add_tls_extension()
        await super().run_asgi()  # type: ignore[misc]


class WebSocketProtocol(TLSScopeMixin, WebSocketsSansIOProtocol):
    """uvicorn's default websocket implementation (``--ws auto`` with websockets installed)."""

"""A Content-Security-Policy header on every response (Django 5.2 has none of its own).

The policy is ``SECURE_CSP`` in settings, a dict from directive to sources, the shape Django 6's own
``SECURE_CSP`` takes, so moving to that middleware later is a settings change. Scripts come only from
our own origin: the templates have no inline ``<script>`` and no ``on...=`` handlers (their code is in
``static/js``). Inline styles stay allowed: allauth's, Swagger UI's and Redoc's markup sets them.
A response that already carries the header (a view with a policy of its own) keeps it.
"""

from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.http import HttpRequest, HttpResponseBase

HEADER = "Content-Security-Policy"


def policy_header(policy: dict[str, list[str]]) -> str:
    """``{"default-src": ["'self'"], "upgrade-insecure-requests": []}`` -> ``default-src 'self'; upgrade-...``."""
    return "; ".join(" ".join([directive, *sources]) for directive, sources in policy.items())


class ContentSecurityPolicyMiddleware:
    """Adds ``SECURE_CSP`` as the Content-Security-Policy header; works sync and async (no thread hop)."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.header = policy_header(settings.SECURE_CSP)
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        if iscoroutinefunction(self.get_response):
            return self._acall(request)
        return self._add_header(self.get_response(request))

    async def _acall(self, request: HttpRequest) -> HttpResponseBase:
        return self._add_header(await self.get_response(request))

    def _add_header(self, response: HttpResponseBase) -> HttpResponseBase:
        if self.header and HEADER not in response.headers:
            response.headers[HEADER] = self.header
        return response

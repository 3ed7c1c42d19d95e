"""The API's request budgets (REST_FRAMEWORK DEFAULT_THROTTLE_RATES: anon, user, token)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rest_framework import throttling

from core.client_ip import request_client_address

if TYPE_CHECKING:  # DRF's settings import this module
    from rest_framework.request import Request
    from rest_framework.views import APIView


class ClientThrottle(throttling.SimpleRateThrottle):
    """One budget per API token, else per user, else per address (rates in REST_FRAMEWORK)."""

    def __init__(self) -> None:  # the scope, and so the rate, depends on the request: see allow_request
        pass

    def allow_request(self, request: Request, view: APIView) -> bool:
        if request.auth is not None and hasattr(request.auth, "prefix"):
            self.scope, self.ident = "token", f"token:{request.auth.pk}"
        elif request.user and request.user.is_authenticated:
            self.scope, self.ident = "user", f"user:{request.user.pk}"
        else:
            self.scope, self.ident = "anon", self.get_ident(request)
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_ident(self, request: Request) -> str:
        """The client's address; X-Forwarded-For only from TRUSTED_PROXIES (DRF would believe anyone's)."""
        return request_client_address(request) or ""

    def get_cache_key(self, request: Request, view: APIView) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.ident}

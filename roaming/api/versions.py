"""The versions endpoint and our 2.2.1 version details: the modules we offer, and in which role."""

from django.http import HttpRequest
from django.urls import reverse

from roaming.ocpi import VERSION, Answer, OcpiView

#: (module identifier, our role, URL name): what a partner may call here.
ENDPOINTS = [
    ("credentials", "SENDER", "ocpi_credentials"),
    ("credentials", "RECEIVER", "ocpi_credentials"),
    ("sessions", "SENDER", "ocpi_sessions"),
    ("cdrs", "SENDER", "ocpi_cdrs"),
    ("locations", "SENDER", "ocpi_locations"),
    ("tariffs", "SENDER", "ocpi_tariffs"),
    ("tokens", "RECEIVER", "ocpi_tokens"),
    ("commands", "RECEIVER", "ocpi_commands"),
]


def versions_url(request: HttpRequest) -> str:
    """Our versions endpoint as the partner reaches it (the host it called, or the admin's)."""
    return request.build_absolute_uri(reverse("ocpi_versions"))


class VersionsView(OcpiView):
    registration = True

    def get(self, request: HttpRequest) -> Answer:
        return Answer([{"version": VERSION, "url": request.build_absolute_uri(reverse("ocpi_version_details"))}])


class VersionDetailsView(OcpiView):
    registration = True

    def get(self, request: HttpRequest) -> Answer:
        endpoints = [
            {"identifier": identifier, "role": role, "url": request.build_absolute_uri(reverse(name))}
            for identifier, role, name in ENDPOINTS
        ]
        return Answer({"version": VERSION, "endpoints": endpoints})

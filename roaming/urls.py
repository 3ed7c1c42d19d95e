"""OCPI 2.2.1, CPO role, under /ocpi/ (README "Roaming")."""

from django.urls import path

from roaming.api.cdrs import CdrsView
from roaming.api.commands import CommandsView
from roaming.api.credentials import CredentialsView
from roaming.api.locations import LocationsView
from roaming.api.sessions import SessionsView
from roaming.api.tariffs import TariffsView
from roaming.api.tokens import TokenView
from roaming.api.versions import VersionDetailsView, VersionsView
from roaming.ocpi import OcpiView

urlpatterns = [
    path("versions", VersionsView.as_view(), name="ocpi_versions"),
    path("2.2.1", VersionDetailsView.as_view(), name="ocpi_version_details"),
    path("2.2.1/credentials", CredentialsView.as_view(), name="ocpi_credentials"),
    path("2.2.1/sessions", SessionsView.as_view(), name="ocpi_sessions"),
    path("2.2.1/cdrs", CdrsView.as_view(), name="ocpi_cdrs"),
    path("2.2.1/locations", LocationsView.as_view(), name="ocpi_locations"),
    path("2.2.1/locations/<str:location_id>", LocationsView.as_view(), name="ocpi_location"),
    path("2.2.1/locations/<str:location_id>/<str:evse_uid>", LocationsView.as_view(), name="ocpi_location_evse"),
    path(
        "2.2.1/locations/<str:location_id>/<str:evse_uid>/<str:connector_id>",
        LocationsView.as_view(),
        name="ocpi_location_connector",
    ),
    path("2.2.1/tariffs", TariffsView.as_view(), name="ocpi_tariffs"),
    path("2.2.1/tokens", OcpiView.as_view(), name="ocpi_tokens"),  # only the URLs below it are offered
    path("2.2.1/tokens/<str:country_code>/<str:party_id>/<str:token_uid>", TokenView.as_view(), name="ocpi_token"),
    path("2.2.1/commands", CommandsView.as_view(), name="ocpi_commands"),
    path("2.2.1/commands/<str:command>", CommandsView.as_view(), name="ocpi_command"),
]

"""OCPI 2.2.1, CPO role, under /ocpi/ (README "Roaming")."""

from django.urls import path

from roaming.api.credentials import CredentialsView
from roaming.api.versions import VersionDetailsView, VersionsView

urlpatterns = [
    path("versions", VersionsView.as_view(), name="ocpi_versions"),
    path("2.2.1", VersionDetailsView.as_view(), name="ocpi_version_details"),
    path("2.2.1/credentials", CredentialsView.as_view(), name="ocpi_credentials"),
]

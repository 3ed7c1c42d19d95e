"""/api/v1: each app's API views (one view per operation), the driver's under me/, operators' under operator/."""

from django.urls import include, path

app_name = "api"

urlpatterns = [
    path("", include("accounts.api.urls")),
    path("", include("sessions_app.api.urls")),
    path("", include("billing.api.urls")),
    path("", include("reporting.api.urls")),
]

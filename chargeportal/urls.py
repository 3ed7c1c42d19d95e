from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path, reverse_lazy
from django.utils.functional import lazy
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from accounts import profile_views

urlpatterns = [
    # Everyone logs in through allauth, so its rate limits and two-factor also guard the admin.
    path("admin/login/", RedirectView.as_view(url=reverse_lazy("account_login"), query_string=True)),
    path("admin/", admin.site.urls),
    path("favicon.ico", RedirectView.as_view(url=lazy(static, str)("favicon.svg"))),
    path("accounts/", include("allauth.urls")),
    path("_allauth/", include("allauth.headless.urls")),
    path("api/v1/", include("chargeportal.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api_schema"),
    # The split view serves Swagger UI's set-up script as a file: the Content-Security-Policy allows no inline script.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api_schema"), name="api_docs"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("cards/", include("accounts.urls")),
    path("profile/", profile_views.profile, name="profile"),
    path("charging/", include("sessions_app.urls")),
    # Chargers upload diagnostics and logs here (HTTP PUT/POST; the websocket route /ocpp/ is another protocol).
    path("ocpp-uploads/", include("sessions_app.upload_urls")),
    # Firmware files for chargers (no sign-in: the address carries a secret token; sessions_app/firmware.py).
    path("firmware/", include("sessions_app.firmware_urls")),
    # OCPI 2.2.1 (roaming partners: eMSPs, hubs); each partner signs its calls with its own token.
    path("ocpi/", include("roaming.urls")),
    path("", include("billing.urls")),
    path("", include("reporting.urls")),
]

"""Mounted at /ocpp-uploads/ (chargeportal/urls.py), beside the chargers' websocket route /ocpp/, not inside it."""

from django.urls import path, re_path

from sessions_app.upload_views import charger_upload

urlpatterns = [
    path("<str:token>/", charger_upload, name="ocpp_upload"),
    re_path(r"^(?P<token>[^/]+)$", charger_upload),  # no redirect to the slash: a PUT's body would be lost
    # A charger may append its file's name to the directory address it was given.
    re_path(r"^(?P<token>[^/]+)/(?P<file_name>[^/]+)/?$", charger_upload, name="ocpp_upload_file"),
]

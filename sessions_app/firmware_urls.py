from django.urls import path

from sessions_app import firmware_views

urlpatterns = [
    path(
        "<int:campaign_id>/<str:token>/<str:filename>",
        firmware_views.firmware_download,
        name="firmware_download",
    ),
]

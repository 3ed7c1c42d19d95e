from django.urls import path

from sessions_app import views

urlpatterns = [
    path("start/", views.charging_start, name="charging_start"),
    path("sessions/<int:pk>/stop/", views.charging_stop, name="charging_stop"),
    path("sessions/<int:pk>/live.json", views.session_live, name="session_live"),
]

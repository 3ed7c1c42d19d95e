from django.urls import path

from sessions_app import reservation_views, views

urlpatterns = [
    path("start/", views.charging_start, name="charging_start"),
    path("sessions/<int:pk>/stop/", views.charging_stop, name="charging_stop"),
    path("sessions/<int:pk>/live.json", views.session_live, name="session_live"),
    path("reservations/", reservation_views.reservation_list, name="reservations"),
    path("reservations/<int:pk>/cancel/", reservation_views.reservation_cancel_view, name="reservation_cancel"),
]

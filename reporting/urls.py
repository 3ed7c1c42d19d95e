from django.urls import path

from reporting import history_views, views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("history/", history_views.history_list, name="history"),
    path("history/<int:pk>/", history_views.history_session, name="history_session"),
    path("history/export.csv", history_views.history_export_csv, name="history_export_csv"),
    path("history/export.pdf", history_views.history_export_pdf, name="history_export_pdf"),
    path("history/signed-meter-values.csv", history_views.history_signed_values_csv, name="history_signed_values_csv"),
    path(
        "history/<int:pk>/signed-meter-values.csv",
        history_views.history_session_signed_values_csv,
        name="history_session_signed_values_csv",
    ),
]

"""driver endpoints of sessions_app."""

urlpatterns = []

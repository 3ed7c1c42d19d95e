"""operator endpoints of sessions_app."""

urlpatterns = []

"""operator endpoints of billing."""

urlpatterns = []

"""operator endpoints of reporting."""

urlpatterns = []

"""driver endpoints of reporting."""

urlpatterns = []

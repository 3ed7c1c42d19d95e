"""driver endpoints of billing."""

urlpatterns = []

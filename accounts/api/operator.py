"""operator endpoints of accounts."""

urlpatterns = []

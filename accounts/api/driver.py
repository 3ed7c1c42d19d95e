"""The driver's own profile and cards, for the app."""

from django.urls import path
from rest_framework import generics, serializers

from accounts.models import User
from chargeportal.api import IsDriver


class ProfileSerializer(serializers.ModelSerializer):
    customer_account = serializers.CharField(source="customer_account.name", read_only=True)
    operator = serializers.CharField(source="customer_account.organization.name", read_only=True)

    class Meta:
        model = User
        fields = ["id", "email", "first_name", "last_name", "language", "customer_account", "operator"]
        read_only_fields = ["id", "email"]


class ProfileView(generics.RetrieveUpdateAPIView):
    """The logged-in driver: name and language can be changed; the email through allauth."""

    serializer_class = ProfileSerializer
    permission_classes = [IsDriver]
    http_method_names = ["get", "patch", "head", "options"]

    def get_object(self) -> User:
        return self.request.user


urlpatterns = [
    path("me/", ProfileView.as_view(), name="profile"),
]

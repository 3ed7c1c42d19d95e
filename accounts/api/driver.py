"""The driver's own profile and cards, for the app; ``error_response`` documents an error answer."""

from typing import cast

from django.shortcuts import get_object_or_404
from django.urls import path
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from accounts.models import IdTag, Organization, User
from accounts.selectors import id_tags_for_driver
from accounts.services import id_tag_mark_lost
from core.api import IsDriver


def error_response(description: str) -> OpenApiResponse:
    """A documented error answer in the API's one error body (the ``Error`` component of the schema hook)."""
    return OpenApiResponse({"$ref": "#/components/schemas/Error"}, description=description)


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
        return cast(User, self.request.user)  # IsDriver lets only a logged-in driver in


class CardSerializer(serializers.ModelSerializer):
    customer_account = serializers.CharField(source="customer_account.name", read_only=True)

    class Meta:
        model = IdTag
        fields = ["id", "uid", "kind", "label", "status", "customer_account", "expires_at", "issued_at", "blocked_at"]
        read_only_fields = fields


class CardListView(generics.ListAPIView):
    """The cards issued to the logged-in driver by name; filter by ``status``, order by uid, label, status, dates."""

    serializer_class = CardSerializer
    permission_classes = [IsDriver]
    filterset_fields = ["status"]
    ordering_fields = ["uid", "label", "status", "issued_at", "expires_at"]
    ordering = ["status", "uid"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return IdTag.objects.none()
        return id_tags_for_driver(user=self.request.user).select_related("customer_account")


class CardMarkLostView(generics.GenericAPIView):
    """Report one of one's own cards lost: it is blocked at once and can never charge again."""

    serializer_class = CardSerializer
    permission_classes = [IsDriver]

    @extend_schema(request=None, responses={200: CardSerializer, 404: error_response("Not one of your cards.")})
    def post(self, request, pk: int):
        card = get_object_or_404(id_tags_for_driver(user=request.user), pk=pk)
        card = id_tag_mark_lost(id_tag=card, user=request.user)
        return Response(CardSerializer(card).data)


class OperatorSerializer(serializers.ModelSerializer):
    class Meta:
        model = Organization
        fields = ["id", "name", "city", "country", "currency"]


class SignupOperatorListView(generics.ListAPIView):
    """The operators a driver can sign up with (the ``organization`` of allauth's headless sign-up)."""

    serializer_class = OperatorSerializer
    permission_classes = [AllowAny]
    authentication_classes = []
    filter_backends = []

    def get_queryset(self):
        return Organization.objects.filter(accepts_signups=True).order_by("name", "pk")


urlpatterns = [
    path("operators/", SignupOperatorListView.as_view(), name="signup_operators"),
    path("me/", ProfileView.as_view(), name="profile"),
    path("me/cards/", CardListView.as_view(), name="card_list"),
    path("me/cards/<int:pk>/lost/", CardMarkLostView.as_view(), name="card_mark_lost"),
]

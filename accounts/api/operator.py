"""Operators' systems: their cards (list, issue, block, unblock, mark lost, import a CSV file).

Also what every ``<app>/api/operator.py`` shares (accounts is the lowest app, so each may import it):
``OperatorAPIView`` (operator staff, by login or API token, with the admin's model permissions),
``organization_of`` and ``Conflict`` (409: the object's state does not allow the change).

Every object is looked up inside ``request.user.organization``: another operator's id is a 404.
"""

from collections.abc import Callable
from typing import Any, cast

from django import forms
from django.db.models import QuerySet
from django.http import Http404
from django.urls import path
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django_filters import fields as filter_fields
from django_filters import rest_framework as filters
from django_filters import widgets as filter_widgets
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import exceptions, generics, permissions, serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from accounts.models import CustomerAccount, IdTag, Organization, User
from accounts.services import id_tag_block, id_tag_issue, id_tag_unblock, id_tags_import_csv
from core.api import IsOperatorStaff
from core.moments import validate_moment_in_range

# --- shared by the operator endpoints of every app ---------------------------------------------------


class HasModelPermissions(permissions.BasePermission):
    """The Django model permissions the admin asks for the same work: ``view.required_permissions[method]``.

    HEAD and OPTIONS need what GET needs; a method the view does not list is refused.
    """

    message = "Your operator role does not allow this."

    def has_permission(self, request, view) -> bool:
        method = "GET" if request.method in ("HEAD", "OPTIONS") else request.method
        wanted = getattr(view, "required_permissions", {}).get(method)
        return wanted is not None and request.user.has_perms(wanted)


def organization_of(request) -> Organization | None:
    """The one operator a request works for: the staff user's (an API token's user is checked against it).

    None only while the schema is generated (no user): every query is then empty.
    """
    return getattr(request.user, "organization", None)


#: The largest id the databases hold (bigint); a larger one in a query would be a server error.
MAX_ID = 2**63 - 1


def related_field(**kwargs) -> serializers.PrimaryKeyRelatedField:
    """An input naming an object by id (its queryset limited to the operator's); an out-of-range id is a 400."""
    return serializers.PrimaryKeyRelatedField(
        pk_field=serializers.IntegerField(min_value=1, max_value=MAX_ID), **kwargs
    )


def related_limit(field: serializers.Field, queryset: QuerySet[Any]) -> None:
    """Limit a ``related_field`` input to ``queryset``: the objects of the operator a request works for."""
    # The stubs type RelatedField.queryset with Manager, which mypy then takes for a descriptor (django-stubs#3666).
    cast(serializers.RelatedField, field).queryset = queryset  # type: ignore[arg-type]


def moment_field(**kwargs) -> serializers.DateTimeField:
    """An input date-time (ISO 8601 with an offset, or UTC), in the years 2000 to 2199."""
    return serializers.DateTimeField(validators=[validate_moment_in_range], **kwargs)


class MomentField(filter_fields.IsoDateTimeField):
    """A filter's date-time, in the years 2000 to 2199 (far ones would overflow in the database)."""

    def validate(self, value):
        super().validate(value)
        validate_moment_in_range(value)


class MomentRangeField(filter_fields.RangeField):
    widget = filter_widgets.DateRangeWidget

    def __init__(self, *args, **kwargs):
        super().__init__((MomentField(), MomentField()), *args, **kwargs)


class MomentFilter(filters.IsoDateTimeFilter):
    field_class = MomentField


class MomentRangeFilter(filters.IsoDateTimeFromToRangeFilter):
    """``<name>_after`` and ``<name>_before`` (both inclusive), ISO 8601 date-times."""

    field_class = MomentRangeField  # type: ignore[assignment]  # django-filter takes any RangeField; the stubs don't


class IdFilter(filters.NumberFilter):
    """Objects related to this id (a whole number the database can hold)."""

    field_class = forms.IntegerField  # type: ignore[assignment]  # any number field will do; the stubs want Decimal

    def __init__(self, *args, **kwargs):
        super().__init__(*args, min_value=1, max_value=MAX_ID, **kwargs)


class OperatorAPIView(generics.GenericAPIView):
    """Base of every operator endpoint: staff of one operator, with the model permissions listed per method."""

    permission_classes = [IsOperatorStaff, HasModelPermissions]
    required_permissions: dict[str, tuple[str, ...]] = {}

    @property
    def organization(self) -> Organization | None:
        return organization_of(self.request)

    def get_object(self):
        """The object by id, inside the operator's queryset: another operator's, or no such id, is a 404."""
        if not 0 < int(self.kwargs[self.lookup_url_kwarg or self.lookup_field]) <= MAX_ID:
            raise Http404
        return super().get_object()


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The object's state does not allow this."
    default_code = "conflict"


# --- cards -------------------------------------------------------------------------------------------


class OperatorCardSerializer(serializers.ModelSerializer):
    customer_account_name = serializers.CharField(source="customer_account.name", read_only=True)
    owner_email = serializers.EmailField(source="owner.email", read_only=True, allow_null=True, default=None)
    parent_uid = serializers.CharField(source="parent.uid", read_only=True, allow_null=True, default=None)

    class Meta:
        model = IdTag
        fields = [
            "id",
            "uid",
            "kind",
            "label",
            "status",
            "customer_account",
            "customer_account_name",
            "owner",
            "owner_email",
            "parent",
            "parent_uid",
            "expires_at",
            "max_concurrent_sessions",
            "issued_at",
            "blocked_at",
        ]
        read_only_fields = fields


class OperatorCardCreateSerializer(serializers.Serializer):
    uid = serializers.CharField(
        max_length=60,
        help_text="For kind rfid: hex, 4, 7 or 10 bytes; separators and case are ignored. Any other kind: 1 to 20 "
        "printable ASCII characters (OCPP CiString20), stored as given and matched regardless of case.",
    )
    kind = serializers.ChoiceField(choices=IdTag.Kind.choices, required=False, default=IdTag.Kind.RFID)
    # Declared fields, which DRF's metaclass takes out of the class; the stubs see Field.label and .parent overridden.
    label = serializers.CharField(max_length=100, required=False, default="", allow_blank=True)  # type: ignore[assignment]
    customer_account = related_field(queryset=CustomerAccount.objects.none())
    owner = related_field(
        queryset=User.objects.none(),
        required=False,
        allow_null=True,
        default=None,
        help_text="A driver of the customer account.",
    )
    parent = related_field(
        queryset=IdTag.objects.none(),
        required=False,
        allow_null=True,
        default=None,  # type: ignore[assignment]
        help_text="A fleet's group card.",
    )
    expires_at = moment_field(required=False, allow_null=True, default=None)
    max_concurrent_sessions = serializers.IntegerField(min_value=1, max_value=32767, required=False, default=1)

    def __init__(self, *args, organization: Organization | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        related_limit(self.fields["customer_account"], CustomerAccount.objects.filter(organization=organization))
        related_limit(self.fields["owner"], User.objects.filter(customer_account__organization=organization))
        related_limit(self.fields["parent"], IdTag.objects.filter(customer_account__organization=organization))


class CardFilter(filters.FilterSet):
    uid = filters.CharFilter(lookup_expr="icontains")
    label = filters.CharFilter(lookup_expr="icontains")
    status = filters.ChoiceFilter(choices=IdTag.Status.choices)
    kind = filters.ChoiceFilter(choices=IdTag.Kind.choices)
    customer_account = IdFilter(field_name="customer_account_id")
    owner = IdFilter(field_name="owner_id")
    issued = MomentRangeFilter(field_name="issued_at")

    class Meta:
        model = IdTag
        fields = ["uid", "kind", "label", "status", "customer_account", "owner", "issued"]


class CardsMixin:
    def get_queryset(self):
        return IdTag.objects.filter(customer_account__organization=self.organization).select_related(
            "customer_account", "owner", "parent"
        )


class CardListCreateView(CardsMixin, OperatorAPIView, generics.ListAPIView):
    """The operator's cards (GET), or issue a new card (POST)."""

    serializer_class = OperatorCardSerializer
    filterset_class = CardFilter
    ordering_fields = ["uid", "label", "status", "issued_at", "expires_at"]
    ordering = ["uid"]
    required_permissions = {"GET": ("accounts.view_idtag",), "POST": ("accounts.add_idtag",)}

    @extend_schema(request=OperatorCardCreateSerializer, responses={201: OperatorCardSerializer})
    def post(self, request):
        data = OperatorCardCreateSerializer(data=request.data, organization=self.organization)
        data.is_valid(raise_exception=True)
        card = id_tag_issue(**data.validated_data)
        return Response(OperatorCardSerializer(card).data, status=status.HTTP_201_CREATED)


class CardDetailView(CardsMixin, OperatorAPIView, generics.RetrieveAPIView):
    serializer_class = OperatorCardSerializer
    required_permissions = {"GET": ("accounts.view_idtag",)}


class _CardChangeView(CardsMixin, OperatorAPIView):
    """POST applies ``change`` (the card service each view names) to one of the operator's cards."""

    serializer_class = OperatorCardSerializer
    required_permissions = {"POST": ("accounts.change_idtag",)}
    change: Callable[[IdTag], IdTag]

    @extend_schema(request=None, responses=OperatorCardSerializer)
    def post(self, request, pk: int):
        card = self.get_object()
        try:
            card = type(self).change(card)
        except ValueError as exc:
            raise Conflict(str(exc)) from exc
        return Response(OperatorCardSerializer(card).data)


class CardBlockView(_CardChangeView):
    """Block a card at once: the next Authorize with it is refused. A lost card stays lost (409)."""

    change = staticmethod(lambda card: id_tag_block(id_tag=card))


class CardMarkLostView(_CardChangeView):
    """Mark a card lost: blocked for good (it may be cloned); issue a new card instead."""

    change = staticmethod(lambda card: id_tag_block(id_tag=card, status=IdTag.Status.LOST))


class CardUnblockView(_CardChangeView):
    """Make a blocked card active again; a lost card cannot be (409)."""

    change = staticmethod(lambda card: id_tag_unblock(id_tag=card))


class OperatorCardImportSerializer(serializers.Serializer):
    MAX_BYTES = 2 * 1024 * 1024

    csv_file = serializers.FileField(
        help_text=(
            "UTF-8 CSV, at most 2 MB; the first line names the columns among uid, label, account_email, owner_email, "
            "expires_at, max_concurrent_sessions, parent_uid (separated by ; or ,)."
        )
    )

    def validate_csv_file(self, csv_file):
        if csv_file.size > self.MAX_BYTES:
            raise serializers.ValidationError(_("The file is larger than 2 MB."))
        return csv_file


class CardImportView(OperatorAPIView):
    """Issue many cards from a CSV file: all of them (201, how many), or none and its problems by line (400:
    the first 50, then how many more)."""

    parser_classes = [MultiPartParser]
    serializer_class = OperatorCardImportSerializer
    required_permissions = {"POST": ("accounts.add_idtag",)}

    @extend_schema(
        request={"multipart/form-data": OperatorCardImportSerializer},
        responses={
            201: inline_serializer(
                "CardImportResult", {"created": serializers.IntegerField(), "lines": serializers.IntegerField()}
            ),
        },
    )
    def post(self, request):
        data = OperatorCardImportSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = id_tags_import_csv(organization=self.organization, csv_file=data.validated_data["csv_file"])
        if not result.ok:
            problems = [
                _("Line %(line)d: %(message)s") % {"line": error.row, "message": error.message}
                if error.row
                else error.message
                for error in result.errors
            ]
            if result.errors_not_shown:
                problems.append(
                    ngettext(
                        "%(count)d more problem is not shown.",
                        "%(count)d more problems are not shown.",
                        result.errors_not_shown,
                    )
                    % {"count": result.errors_not_shown}
                )
            raise serializers.ValidationError({"csv_file": problems})
        return Response({"created": result.created, "lines": result.lines}, status=status.HTTP_201_CREATED)


urlpatterns = [
    path("operator/cards/", CardListCreateView.as_view(), name="operator_cards"),
    path("operator/cards/import/", CardImportView.as_view(), name="operator_cards_import"),
    path("operator/cards/<int:pk>/", CardDetailView.as_view(), name="operator_card"),
    path("operator/cards/<int:pk>/block/", CardBlockView.as_view(), name="operator_card_block"),
    path("operator/cards/<int:pk>/lost/", CardMarkLostView.as_view(), name="operator_card_lost"),
    path("operator/cards/<int:pk>/unblock/", CardUnblockView.as_view(), name="operator_card_unblock"),
]

"""Operators' systems and load management (``sessions_app.load_management``): a site meter's readings.

- ``POST operator/load-groups/<id>/meter/`` ``{"power_kw", "measured_at"}``: what the site's other loads (everything
  but the group's chargers) draw, as the site meter measured it. Kept, and the group's limit is shared again at
  once; a reading older than ``load_management.METER_FRESH`` no longer counts (the group's margin does).
"""

from datetime import timedelta

from django.urls import path
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from accounts.api.operator import OperatorAPIView
from sessions_app.load_management import site_meter_record
from sessions_app.models import LoadGroup, SiteMeterReading


class SiteMeterReadingInput(serializers.Serializer):
    power_kw = serializers.DecimalField(
        max_digits=10, decimal_places=3, help_text="The other loads' power in kW (negative: the site exports)."
    )
    measured_at = serializers.DateTimeField(help_text="When the meter measured it, ISO 8601 with its time zone.")

    def validate_measured_at(self, value):
        if value > timezone.now() + timedelta(minutes=1):
            raise serializers.ValidationError("A reading cannot be measured in the future.")
        return value


class SiteMeterReadingSerializer(serializers.ModelSerializer):
    class Meta:
        model = SiteMeterReading
        fields = ["id", "group", "power_kw", "measured_at", "received_at"]


class LoadGroupMeterView(OperatorAPIView):
    """A site meter's reading for the load group; another operator's group is a 404."""

    serializer_class = SiteMeterReadingSerializer
    required_permissions = {"POST": ("sessions_app.change_loadgroup",)}

    def get_queryset(self):
        return LoadGroup.objects.filter(site__organization=self.organization)

    @extend_schema(request=SiteMeterReadingInput, responses={201: SiteMeterReadingSerializer})
    def post(self, request, pk: int):
        group = self.get_object()
        data = SiteMeterReadingInput(data=request.data)
        data.is_valid(raise_exception=True)
        reading = site_meter_record(group=group, **data.validated_data)
        return Response(SiteMeterReadingSerializer(reading).data, status=status.HTTP_201_CREATED)


urlpatterns = [
    path("operator/load-groups/<int:pk>/meter/", LoadGroupMeterView.as_view(), name="operator_load_group_meter"),
]

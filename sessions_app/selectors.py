"""Reads about charging sessions."""

from django.db.models import QuerySet

from accounts.models import User
from sessions_app.models import ChargingSession


def sessions_for_driver(*, user: User) -> QuerySet[ChargingSession]:
    """The sessions a driver may see: those charged with their own cards, newest first."""
    return (
        ChargingSession.objects.filter(id_tag__owner=user)
        .select_related("charge_point__site", "connector", "id_tag")
        .order_by("-started_at")
    )

"""Driver pages for reservations: reserve a free connector with one's own card, see it with its expiry, cancel it."""

from datetime import datetime
from typing import cast

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.formats import time_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from accounts.models import IdTag, User
from sessions_app import hooks, views
from sessions_app.forms import ConnectorChoiceField
from sessions_app.models import Connector, Reservation
from sessions_app.ocpp import commands
from sessions_app.reservations import (
    ReservationRefused,
    connectors_for_driver_reservation,
    refusal_reason,
    reservation_cancel,
    reservation_create,
    reservations_for_driver,
    reservations_open_for_driver,
)
from sessions_app.selectors import cards_for_charging


class ReserveForm(forms.Form):
    """A free connector at an online station of the driver's operator, their card, and for how long."""

    connector = ConnectorChoiceField(
        label=gettext_lazy("station and connector"), queryset=Connector.objects.none(), empty_label=None
    )
    card = forms.ModelChoiceField(label=gettext_lazy("card"), queryset=IdTag.objects.none(), empty_label=None)

    def __init__(self, *args, user: User, now: datetime, **kwargs):
        super().__init__(*args, **kwargs)
        cast(forms.ModelChoiceField, self.fields["connector"]).queryset = connectors_for_driver_reservation(
            user=user, now=now
        )
        cast(forms.ModelChoiceField, self.fields["card"]).queryset = cards_for_charging(user=user)
        self.fields["minutes"] = forms.IntegerField(
            label=_("minutes"),
            min_value=1,
            max_value=settings.RESERVATION_MAX_MINUTES,
            initial=settings.RESERVATION_MINUTES,
        )


def _local_time(reservation: Reservation) -> str:
    """The reservation's expiry as the clock at its station shows it."""
    site = reservation.charge_point.site
    return time_format(timezone.localtime(reservation.expires_at, site.tzinfo if site else None), "H:i")


@login_required
def reservation_list(request):
    """The driver's open reservations (expiry, Cancel), their recent ended ones, and the form to reserve."""
    now = timezone.now()
    form = ReserveForm(request.POST or None, user=request.user, now=now)
    if request.method == "POST" and form.is_valid():
        connector = form.cleaned_data["connector"]
        try:
            reservation = reservation_create(
                charge_point=connector.charge_point,
                connector=connector,
                id_tag=form.cleaned_data["card"],
                created_by=request.user,
                minutes=form.cleaned_data["minutes"],
                now=now,
                timeout=views.COMMAND_TIMEOUT,
            )
        except ReservationRefused as refused:
            form.add_error(None, refused.message)
        else:
            if reservation.status == Reservation.Status.ACTIVE:
                messages.success(
                    request,
                    _("%(station)s holds connector %(number)s for you until %(time)s.")
                    % {
                        "station": connector.charge_point,
                        "number": connector.number,
                        "time": _local_time(reservation),
                    },
                )
            else:
                messages.error(request, _("Not reserved: %(reason)s") % {"reason": refusal_reason(reservation)})
            return redirect("reservations")
    ended = list(
        reservations_for_driver(user=request.user).exclude(status__in=Reservation.OPEN).order_by("-created_at")[:5]
    )
    fees_charged = hooks.reservation_fees_charged(reservation_ids=[reservation.pk for reservation in ended])
    for reservation in ended:
        reservation.fee_text = fees_charged.get(reservation.pk, "")
        reservation.refusal = refusal_reason(reservation)  # in words: an outcome in commands.outcome_text's
    connectors = list(
        connectors_for_driver_reservation(user=request.user, now=now).select_related("charge_point__site")
    )
    fees = hooks.reservation_fee_offers(user=request.user, connectors=connectors, now=now)
    context = {
        "form": form,
        "open_reservations": reservations_open_for_driver(user=request.user, now=now),
        "ended_reservations": ended,
        "any_fee_charged": bool(fees_charged),
        "reservation_fees": [
            {"connector": connector, "fee": fees[connector.pk]} for connector in connectors if connector.pk in fees
        ],
        "max_minutes": settings.RESERVATION_MAX_MINUTES,
    }
    return render(request, "sessions_app/reservations.html", context)


@login_required
@require_POST
def reservation_cancel_view(request, pk: int):
    reservation = reservations_for_driver(user=request.user).filter(pk=pk).first()
    if reservation is None:
        raise Http404
    try:
        result = reservation_cancel(
            reservation=reservation, now=timezone.now(), timeout=views.COMMAND_TIMEOUT, cancelled_by=request.user
        )
    except ReservationRefused as refused:
        messages.error(request, refused.message)
    else:
        if result.outcome == "answered":
            messages.success(request, _("Your reservation is cancelled."))
        else:
            messages.warning(
                request,
                _("Your reservation is cancelled, but %(outcome)s: it may hold the connector until %(time)s.")
                % {"outcome": commands.outcome_text(result), "time": _local_time(reservation)},
            )
    return redirect("reservations")

"""Drivers' price pages: what charging costs at their operator's stations, and a running session's cost."""

from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.http import require_GET

from billing.price_groups import sites_with_prices_for_driver
from billing.quotes import (
    connector_price_summaries_for_driver,
    money_display,
    session_cost_estimate,
    session_cost_label,
)
from sessions_app.selectors import sessions_for_driver


@login_required
@require_GET
def price_list(request):
    sites = sites_with_prices_for_driver(user=request.user, at=timezone.now())
    return render(request, "billing/prices.html", {"sites": sites})


@login_required
@require_GET
def connector_prices(request):
    summaries = connector_price_summaries_for_driver(user=request.user, at=timezone.now())
    return JsonResponse({"connectors": {str(pk): line for pk, line in summaries.items()}})


@login_required
@require_GET
def session_estimate(request, pk: int):
    session = get_object_or_404(sessions_for_driver(user=request.user), pk=pk)
    estimate = session_cost_estimate(session=session, now=timezone.now())
    if estimate is None:
        return JsonResponse(
            {"id": session.pk, "gross": None, "currency": None, "final": False, "cost_display": "–", "cost_label": None}
        )
    return JsonResponse(
        {
            "id": session.pk,
            "gross": str(estimate["gross"]),
            "currency": estimate["currency"],
            "final": estimate["final"],
            # As the dashboard shows it, in the reader's language and number format.
            "cost_display": money_display(estimate["gross"], estimate["currency"]),
            "cost_label": session_cost_label(estimate),
        }
    )

"""Online card payment: start a Stripe Checkout from the Payments page, come back, and Stripe's webhook.

Only the webhook books money. While Stripe is not configured every view here answers 404: the pages
offer no card payment and there is no endpoint for Stripe to call.
"""

import logging

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse, HttpResponseBadRequest, HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from billing.models import StripeCheckout
from billing.stripe_payments import (
    StripeUnavailable,
    WebhookRejected,
    WebhookTooEarly,
    checkout_start,
    stripe_enabled,
    webhook_handle,
)

logger = logging.getLogger(__name__)


@csrf_exempt
@require_POST
def stripe_webhook(request):
    if not stripe_enabled():
        raise Http404
    try:
        outcome = webhook_handle(payload=request.body, signature=request.META.get("HTTP_STRIPE_SIGNATURE", ""))
    except WebhookRejected as exc:
        logger.warning("Stripe webhook rejected: %s", exc)
        return HttpResponseBadRequest("rejected", content_type="text/plain")
    except WebhookTooEarly as exc:
        return HttpResponse(f"retry later: {exc}", status=503, content_type="text/plain")
    return HttpResponse(outcome, content_type="text/plain")


def _start(request, purpose: str):
    account = request.user.customer_account if request.user.customer_account_id else None
    if not stripe_enabled() or account is None:
        raise Http404
    back = request.build_absolute_uri(reverse("checkout_return"))
    try:
        checkout = checkout_start(
            customer_account=account,
            purpose=purpose,
            amount=request.POST.get("amount"),
            request_key=request.POST.get("request_key", ""),
            user=request.user,
            success_url=f"{back}?result=paid",
            cancel_url=f"{back}?result=cancelled",
        )
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
        return redirect("payments")
    except StripeUnavailable as exc:
        messages.error(request, str(exc))
        return redirect("payments")
    return HttpResponseRedirect(checkout.url, status=303)


@login_required
@require_POST
def wallet_top_up_start(request):
    """Form fields ``amount`` and a one-time ``request_key``; off to Stripe's payment page (303)."""
    return _start(request, StripeCheckout.Purpose.TOP_UP)


@login_required
@require_POST
def balance_pay_start(request):
    """Pays what the account owes now; an optional ``amount`` must equal it (the page may be stale)."""
    return _start(request, StripeCheckout.Purpose.PAY_BALANCE)


@login_required
@require_GET
def checkout_return(request):
    """Where Stripe sends the driver back. It books nothing: the signed webhook does."""
    if request.GET.get("result") == "cancelled":
        messages.info(request, _("The card payment was cancelled. Nothing was charged."))
    else:
        messages.success(request, _("Thank you: your payment was received. It appears here once Stripe confirms it."))
    return redirect("payments")

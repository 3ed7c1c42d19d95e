"""Driver pages about their cards."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.selectors import id_tags_for_driver
from accounts.services import id_tag_mark_lost


@login_required
def card_list(request):
    return render(request, "accounts/card_list.html", {"cards": id_tags_for_driver(user=request.user)})


@login_required
@require_POST
def card_mark_lost(request, pk: int):
    card = get_object_or_404(id_tags_for_driver(user=request.user), pk=pk)
    id_tag_mark_lost(id_tag=card, user=request.user)
    messages.success(request, _("Card %(uid)s is blocked. Nobody can charge with it any more.") % {"uid": card.uid})
    return redirect("card_list")

"""The tariff admin's VAT as a percentage (25 for 25 %; stored as the rate 0.25) and, once a tariff is saved,
the way on to assigning it."""

from decimal import Decimal, InvalidOperation

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

HUNDRED = Decimal(100)


class VatPercentField(forms.DecimalField):
    """VAT in per cent, 0 to 100 with up to two decimals; ``clean`` gives the stored rate (25 -> 0.25)."""

    default_error_messages = {
        "out_of_range": _("Enter the VAT as a percentage between 0 and 100, e.g. 25 for 25 %."),
    }

    def __init__(self, **kwargs):
        kwargs.setdefault("label", _("VAT (%)"))
        kwargs.setdefault("help_text", _("In per cent: 25 for 25 %, 0 for none."))
        # No digit limit here: a number too large is out of range, said in the words below.
        super().__init__(decimal_places=2, **kwargs)
        self.error_messages["max_decimal_places"] = _("Enter the VAT with at most two decimals, e.g. 12.5.")

    def prepare_value(self, value):
        """The stored rate (a Decimal from the tariff) shown as a percentage: 0.2500 -> 25. What the operator
        typed comes as text and is shown as typed."""
        if isinstance(value, Decimal):
            return f"{(value * HUNDRED).normalize():f}"
        return value

    def has_changed(self, initial, data) -> bool:
        try:
            return self.clean(data) != (Decimal(initial) if initial is not None else None)
        except (forms.ValidationError, InvalidOperation, TypeError):
            return True

    def clean(self, value):
        percent = super().clean(value)
        if percent is None:
            return None
        if not Decimal(0) <= percent <= HUNDRED:
            raise forms.ValidationError(self.error_messages["out_of_range"], code="out_of_range")
        return (percent / HUNDRED).quantize(Decimal("0.0001"))


def lead_to_assignment(request: HttpRequest, tariff, *, added: bool) -> HttpResponseRedirect | None:
    """After a plain "Save" of a new tariff: on to the assignment form with the tariff chosen. A saved tariff
    that applies nowhere yet gets a message with the link instead (None: the admin's own redirect stands)."""
    url = f"{reverse('admin:billing_tariffassignment_add')}?tariff={tariff.pk}"
    if added:
        messages.info(request, _("Now choose where the tariff applies: a site, a charger, a connector or everywhere."))
        return HttpResponseRedirect(url)
    if not tariff.assignments.exists():
        messages.warning(
            request,
            format_html(
                '{} <a href="{}" id="assign-tariff">{}</a>',
                _("This tariff is not assigned yet, so no session is priced with it."),
                url,
                _("Assign it"),
            ),
        )
    return None

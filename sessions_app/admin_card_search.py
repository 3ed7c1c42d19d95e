"""The command form's card chosen by search: the admin's autocomplete (select2) over the operator's cards
instead of a drop-down of every card.

The search is the admin's own autocomplete view, through ``ChargingSession.id_tag`` (a foreign key to the
card), so it answers with the cards the card admin shows the user (their organization's) matching its search
fields (UID, label, account, owner); the form still accepts only the operator's active cards.
"""

from typing import cast

from django import forms
from django.contrib import admin
from django.contrib.admin.widgets import AutocompleteSelect
from django.core.exceptions import ValidationError

from accounts.models import IdTag
from sessions_app.models import ChargingSession


class CardSearch(AutocompleteSelect):
    """The admin's autocomplete, which shows back a value that is no card id (typed by hand) as nothing."""

    def optgroups(self, name, value, attr=None):
        kept = []
        for item in value:
            try:
                IdTag._meta.pk.to_python(item)
            except ValidationError:
                continue
            kept.append(item)
        return super().optgroups(name, kept, attr)


def card_search(form: forms.Form, field_name: str = "id_tag") -> None:
    """Replace ``form``'s card drop-down by a search box (its attributes and allowed cards kept)."""
    field = cast(forms.ModelChoiceField, form.fields[field_name])
    widget = CardSearch(ChargingSession._meta.get_field("id_tag"), admin.site, attrs=dict(field.widget.attrs))
    widget.choices = field.choices  # the selected card is shown from the form's own queryset
    field.widget = widget

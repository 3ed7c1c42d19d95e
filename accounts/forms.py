from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.models import Organization


class DriverSignupFields(forms.Form):
    """What a driver gives at sign-up besides email and password, on the portal and in the app.

    allauth's ACCOUNT_SIGNUP_FORM_CLASS: its web form and its headless API both inherit these
    fields (so this module must not import allauth's forms); AccountAdapter.save_user uses them.
    """

    full_name = forms.CharField(label=_("Full name"), max_length=150)
    operator = forms.ModelChoiceField(
        label=_("Charging operator"),
        queryset=Organization.objects.filter(accepts_signups=True),
        empty_label=None,
    )

    def signup(self, request, user) -> None:
        """Nothing more to do: AccountAdapter.save_user has registered the driver."""

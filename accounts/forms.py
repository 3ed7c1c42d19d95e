from allauth.account.forms import SignupForm
from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.models import Organization


class DriverSignupForm(SignupForm):
    full_name = forms.CharField(label=_("Full name"), max_length=150)
    operator = forms.ModelChoiceField(
        label=_("Charging operator"),
        queryset=Organization.objects.filter(accepts_signups=True),
        empty_label=None,
    )

"""How allauth creates drivers: every sign-up gets a person customer account at an operator."""

from allauth.account.adapter import DefaultAccountAdapter

from accounts.services import driver_register


class AccountAdapter(DefaultAccountAdapter):
    def save_user(self, request, user, form, commit=True):
        user = super().save_user(request, user, form, commit=False)
        if commit:
            driver_register(user=user, organization=form.cleaned_data["operator"],
                            full_name=form.cleaned_data["full_name"])
        return user

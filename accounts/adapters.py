"""How allauth creates drivers (a person customer account at an operator each), and where the app's links go."""

from allauth.account.adapter import DefaultAccountAdapter
from allauth.headless.adapter import DefaultHeadlessAdapter

from accounts.services import driver_register


class AccountAdapter(DefaultAccountAdapter):
    def save_user(self, request, user, form, commit=True):
        user = super().save_user(request, user, form, commit=False)
        if commit:
            driver_register(user=user, organization=form.cleaned_data["operator"],
                            full_name=form.cleaned_data["full_name"])
        return user


class HeadlessAdapter(DefaultHeadlessAdapter):
    """Links in emails sent through the app's API open the app (HEADLESS_FRONTEND_URLS); the portal's stay its own."""

    def get_frontend_url(self, urlname: str, **kwargs) -> str | None:
        if getattr(getattr(self.request, "allauth", None), "headless", None) is None:
            return None
        return super().get_frontend_url(urlname, **kwargs)

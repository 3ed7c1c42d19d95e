"""How allauth creates drivers (a person customer account at an operator each), and where the app's links go."""

from allauth.account.adapter import DefaultAccountAdapter
from allauth.headless.adapter import DefaultHeadlessAdapter

from accounts.services import driver_register
from core.client_ip import request_client_address


class AccountAdapter(DefaultAccountAdapter):
    def save_user(self, request, user, form, commit=True):
        user = super().save_user(request, user, form, commit=False)
        if commit:
            driver_register(
                user=user, organization=form.cleaned_data["operator"], full_name=form.cleaned_data["full_name"]
            )
        return user

    def get_client_ip(self, request) -> str:
        """Login and sign-up rate limits count the client: X-Forwarded-For only from TRUSTED_PROXIES."""
        return request_client_address(request) or super().get_client_ip(request)


class HeadlessAdapter(DefaultHeadlessAdapter):
    """Links in emails sent through the app's API open the app (HEADLESS_FRONTEND_URLS); the portal's stay its own."""

    def get_frontend_url(self, urlname: str, **kwargs) -> str | None:
        if getattr(getattr(self.request, "allauth", None), "headless", None) is None:
            return None
        return super().get_frontend_url(urlname, **kwargs)

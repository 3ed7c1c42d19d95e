from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = _("Billing")

    def ready(self) -> None:
        from billing.services import session_price_freeze_by_id
        from sessions_app import hooks

        # A stopped session is priced once its stop has committed (sessions_app may not import billing).
        if session_price_freeze_by_id not in hooks.session_completed_handlers:
            hooks.session_completed_handlers.append(session_price_freeze_by_id)

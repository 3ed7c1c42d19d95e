from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReportingConfig(AppConfig):
    name = "reporting"
    verbose_name = _("Reporting")

    def ready(self) -> None:
        from reporting.rollups import rollups_session_completed
        from sessions_app import hooks

        # A completed session's hours are summed again once its stop has committed. Billing is installed
        # before reporting, so its handler (registered first) has priced the session by then: the revenue
        # is in the rollup.
        if rollups_session_completed not in hooks.session_completed_handlers:
            hooks.session_completed_handlers.append(rollups_session_completed)
        # A charger's alarming security event (tampering, an invalid firmware signature...) is emailed at once.
        from reporting.tasks import security_alert_enqueue

        if security_alert_enqueue not in hooks.security_alert_handlers:
            hooks.security_alert_handlers.append(security_alert_enqueue)

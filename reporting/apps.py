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
        hooks.register(hooks.session_completed_handlers, rollups_session_completed)
        # A charger's alarming security event (tampering, an invalid firmware signature...) is emailed at once.
        from reporting.tasks import security_alert_enqueue

        hooks.register(hooks.security_alert_handlers, security_alert_enqueue)

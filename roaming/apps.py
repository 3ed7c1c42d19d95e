from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RoamingConfig(AppConfig):
    """OCPI 2.2.1 as a charge point operator: partners (eMSPs, hubs) and what they exchange with us."""

    name = "roaming"
    verbose_name = _("Roaming")

    def ready(self) -> None:
        from roaming.push import push_send_due
        from sessions_app import hooks

        # Without a broker the server sends the pushes that are due itself (with one, beat runs roaming.push_sweep).
        hooks.register(hooks.server_sweeps, ("roaming push", push_send_due))
        # An EVSE's status (its connector's, or its charger gone offline or back) is pushed to partners (Locations).
        from roaming.locations import evse_statuses_push

        hooks.register(hooks.connector_status_handlers, evse_statuses_push)

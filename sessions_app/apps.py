import logging

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SessionsAppConfig(AppConfig):
    name = "sessions_app"
    verbose_name = _("Charging")

    def ready(self) -> None:
        from django.core import checks

        from sessions_app.charger_auth import tls_files_check, tls_profiles_check
        from sessions_app.ocpp.certificates import ca_settings_check
        from sessions_app.ocpp.log_redaction import IdTagRedactingFilter

        checks.register(tls_files_check)
        checks.register(tls_profiles_check, checks.Tags.database)
        checks.register(ca_settings_check)  # the CA that signs chargers' certificates (SignCertificate)

        # uvicorn configures its access log before Django starts, with handlers LOGGING does not reach:
        # mask card UIDs in the query strings it writes (a logger's filters see every record it logs).
        access_log = logging.getLogger("uvicorn.access")
        if not any(isinstance(f, IdTagRedactingFilter) for f in access_log.filters):
            access_log.addFilter(IdTagRedactingFilter())

        from accounts import hooks as account_hooks
        from sessions_app.local_list import local_list_cards_changed

        # accounts may not import this app: when cards change, it calls what is registered here (local lists).
        if local_list_cards_changed not in account_hooks.id_tag_changed_handlers:
            account_hooks.id_tag_changed_handlers.append(local_list_cards_changed)

        from sessions_app import admin_board  # noqa: F401 - the live operations board's admin pages and index entry

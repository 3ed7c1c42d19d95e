from django.apps import AppConfig
from django.core import checks


class CoreConfig(AppConfig):
    """The ground floor: what every app shares (money, time, API base, exports, environment); imports no app."""

    name = "core"
    verbose_name = "core"

    def ready(self) -> None:
        from core.money import default_currency_check, stored_currencies_check

        # Money columns hold STORED_DECIMAL_PLACES: a currency with more is refused, never truncated.
        checks.register(default_currency_check)
        checks.register(stored_currencies_check, checks.Tags.database)

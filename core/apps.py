from django.apps import AppConfig


class CoreConfig(AppConfig):
    """The ground floor: what every app shares (money, time, API base, exports, environment); imports no app."""

    name = "core"
    verbose_name = "core"

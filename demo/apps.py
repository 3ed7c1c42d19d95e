from django.apps import AppConfig


class DemoConfig(AppConfig):
    """Tools on top of everything: demo data and the charger simulator (``demo_data``, ``simulate_chargers``)."""

    name = "demo"
    verbose_name = "demo"

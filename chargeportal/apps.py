import logging

from django.apps import AppConfig
from django.conf import settings

logger = logging.getLogger("chargeportal")


class ChargeportalConfig(AppConfig):
    name = "chargeportal"
    verbose_name = "chargeportal"

    def ready(self) -> None:
        if not settings.REDIS_URL:
            logger.warning(
                "REDIS_URL is not set: tasks run inline, the channel layer is in-memory "
                "(one server process only) and the cache lives in the database."
            )

"""The one ASGI application: pages and admin now, the API and OCPP websockets beside them."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chargeportal.settings")

application = get_asgi_application()

from django.urls import re_path

from sessions_app.ocpp.consumer import OcppConsumer

# ws://HOST/ocpp/<charge point id>, or /ocpp/<operator slug>/<id> where the operator auto-registers chargers.
websocket_urlpatterns = [
    re_path(r"^ocpp/(?:(?P<organization_slug>[-a-zA-Z0-9_]+)/)?(?P<ocpp_id>[^/]+)/?$", OcppConsumer.as_asgi()),
]

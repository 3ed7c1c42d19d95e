"""Sessions, CPO sender interface: a partner pulls its drivers' sessions (``GET /ocpi/2.2.1/sessions``)."""

from django.http import HttpRequest
from django.utils import timezone

from roaming.ocpi import Answer, OcpiView, paginated
from roaming.sessions import partner_sessions, session_object


class SessionsView(OcpiView):
    def get(self, request: HttpRequest) -> Answer:
        now = timezone.now()
        return paginated(
            request,
            partner_sessions(self.partner),
            lambda page: [session_object(roaming, now=now) for roaming in page],
        )

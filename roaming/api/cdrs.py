"""CDRs, CPO sender interface: a partner pulls its CDRs (``GET /ocpi/2.2.1/cdrs``), filtered on when they were made."""

from django.http import HttpRequest

from roaming.cdrs import partner_cdrs
from roaming.ocpi import Answer, OcpiView, paginated


class CdrsView(OcpiView):
    def get(self, request: HttpRequest) -> Answer:
        return paginated(
            request, partner_cdrs(self.partner), lambda page: [cdr.data for cdr in page], updated_field="created_at"
        )

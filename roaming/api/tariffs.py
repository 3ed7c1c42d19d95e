"""The Tariffs module, CPO sender: the tariffs the partner's drivers may be priced with, a page at a time."""

from django.http import HttpRequest
from django.utils import timezone

from roaming.ocpi import Answer, OcpiView, paginated
from roaming.tariffs import UPDATED_FIELD, tariffs_for, tariffs_serialize


class TariffsView(OcpiView):
    def get(self, request: HttpRequest) -> Answer:
        return paginated(
            request,
            tariffs_for(partner=self.partner, now=timezone.now()),
            lambda tariffs: tariffs_serialize(tariffs, partner=self.partner),
            updated_field=UPDATED_FIELD,
        )

"""The Locations module, CPO sender: the operator's Locations, a page at a time, and one Location, EVSE or
Connector by its ids."""

from django.http import HttpRequest

from roaming.locations import location_part, locations_for, locations_serialize
from roaming.ocpi import Answer, OcpiError, OcpiView, Status, paginated


class LocationsView(OcpiView):
    def get(
        self,
        request: HttpRequest,
        location_id: str | None = None,
        evse_uid: str | None = None,
        connector_id: str | None = None,
    ) -> Answer:
        if location_id is None:
            return paginated(
                request,
                locations_for(organization=self.partner.organization),
                lambda sites: locations_serialize(sites, partner=self.partner),
            )
        found = location_part(
            partner=self.partner, location_id=location_id, evse_uid=evse_uid, connector_id=connector_id
        )
        if found is None:
            raise OcpiError(Status.UNKNOWN_LOCATION, "Unknown location, EVSE or connector.", 404)
        return Answer(found)

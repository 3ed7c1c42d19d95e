"""A partner's monthly settlement is its customer account's monthly statement (billing's statement machinery: PDF,
CSV, emailed to the partner's settlement address); roaming tells it each session's CDR (``hooks.session_cdrs``,
registered in ``RoamingConfig.ready``)."""

from roaming.models import Cdr
from sessions_app.hooks import SessionCdr


def session_cdrs(session_ids: list[int]) -> dict[int, SessionCdr]:
    """The CDR (not a credit) each of these sessions was last sent as (a credit note makes a new version,
    ``roaming.cdr_credits``): its id and the EVSE id its location names."""
    return {
        session_id: SessionCdr(cdr_id=ocpi_id, evse_id=evse_id or "")
        for session_id, ocpi_id, evse_id in Cdr.objects.filter(session_id__in=session_ids, credit=False)
        .order_by("version")
        .values_list("session_id", "ocpi_id", "data__cdr_location__evse_id")
    }

"""DataTransfer from a charger, the same in OCPP 1.6 and 2.0.1: kept as a charger event, then answered by the
higher app registered for its (vendorId, messageId) (``hooks.data_transfer_handlers``), if any."""

from datetime import datetime

from sessions_app import hooks, services
from sessions_app.models import ChargePoint, ChargerEvent


def data_transfer_receive(
    *, charge_point: ChargePoint, vendor_id: str, message_id: str, data: str | None, now: datetime
) -> hooks.DataTransferAnswer:
    """Keep the DataTransfer and hand it to its handler; without one: UnknownMessageId when a handler knows the
    vendor, else UnknownVendorId."""
    services.charger_event_record(
        charge_point=charge_point,
        kind=ChargerEvent.Kind.DATA_TRANSFER,
        vendor_id=vendor_id,
        message_id=message_id,
        data=data or "",
        at=now,
    )
    handler = hooks.data_transfer_handlers.get((vendor_id, message_id))
    if handler is None:
        known_vendor = any(vendor == vendor_id for vendor, _message in hooks.data_transfer_handlers)
        return hooks.DataTransferAnswer("UnknownMessageId" if known_vendor else "UnknownVendorId")
    return handler(charge_point, data, now)

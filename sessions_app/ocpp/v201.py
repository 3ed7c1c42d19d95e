"""OCPP 2.0.1 (and 2.1): the handler table beside ``v16``, calling the same services.

Handled here: BootNotification (its reason kept), Heartbeat, StatusNotification, Authorize; the mixins among the
bases handle the rest: TransactionEvent and MeterValues (``v201_transactions``), the notifications
(``v201_notifications``), SignCertificate (``v201_security``) and the work after a boot (``v201_boot``). Any
other action a charger sends gets a CALLERROR (NotSupported for one of the version's actions, NotImplemented for
an unknown one) and the connection stays open. Commands reach a 2.x charger translated (``v201_commands``).

OCPP 2.1 keeps 2.0.1's messages, adding optional fields and messages of its own: ``CentralSystem21`` is this
table checked against 2.1's schemas; its new messages are answered NotSupported.

What 2.0.1 says differently, translated here and nowhere below:

- EVSE and connector: 2.0.1 numbers connectors within an EVSE (``evseId`` from 1, ``connectorId`` from 1 within
  it); our ``Connector.number`` is one number per station, as in 1.6. A connector the operator described as
  EVSE e's connector c (``Connector.evse_id``, ``evse_connector_id``) is that one; any other EVSE e is our
  connector number e, its one connector 1; ``evseId`` 0 is the station itself (1.6's connector 0)
  (``sessions_app.evse``, read once per connection). A pair naming no connector of ours (a second connector not
  described) is refused with NotSupported rather than written over another connector.
- Connector status: Available, Reserved, Unavailable and Faulted are 1.6's; Occupied (a vehicle plugged in,
  charging or not: 2.0.1 tells charging through TransactionEvent) is 1.6's Preparing. 2.0.1 sends no error
  code with a status: Faulted is stored with OtherError, the others with NoError.
- Authorize: every IdToken type (ISO14443, ISO15693, eMAID, KeyCode, Central, MacAddress, Local,
  NoAuthorization) is looked up as the one id tag it carries, by ``services.id_tag_authorize``; the verdict's
  status is 2.0.1's own (NoCredit included), a card's expiry is ``cacheExpiryDateTime``, its parent (a fleet's
  group tag) ``groupIdToken``.
- Registration: Accepted, Pending and Rejected on the operator's decision, as in 1.6.
"""

import dataclasses
import logging

from django.utils import timezone
from ocpp import v21
from ocpp.exceptions import NotSupportedError, PropertyConstraintViolationError
from ocpp.routing import on
from ocpp.v201 import ChargePoint as OcppChargePoint
from ocpp.v201 import call_result, datatypes
from ocpp.v201.enums import (
    Action,
    ConnectorStatusEnumType,
    IdTokenEnumType,
    MessageFormatEnumType,
    RegistrationStatusEnumType,
)

from accounts.models import AuthorizationStatus
from accounts.selectors import TagVerdict
from core.timeutil import utc_text
from sessions_app import hooks, services
from sessions_app.evse import EvseNumbering, evse_numbering
from sessions_app.models import ChargePoint, ConnectorStatus, ErrorCode
from sessions_app.ocpp import batching
from sessions_app.ocpp.v16 import connector_number_checked, db, parse_time
from sessions_app.ocpp.v201_boot import AfterBoot201
from sessions_app.ocpp.v201_notifications import NotificationHandlers
from sessions_app.ocpp.v201_security import SignCertificate201
from sessions_app.ocpp.v201_transactions import TransactionHandlers

logger = logging.getLogger(__name__)

SUBPROTOCOL = "ocpp2.0.1"
SUBPROTOCOL_21 = "ocpp2.1"
_REGISTRATION = {
    ChargePoint.RegistrationStatus.ACCEPTED: RegistrationStatusEnumType.accepted,
    ChargePoint.RegistrationStatus.PENDING: RegistrationStatusEnumType.pending,
    ChargePoint.RegistrationStatus.REJECTED: RegistrationStatusEnumType.rejected,
}
CONNECTOR_STATUS = {
    ConnectorStatusEnumType.available: ConnectorStatus.AVAILABLE,
    ConnectorStatusEnumType.occupied: ConnectorStatus.PREPARING,
    ConnectorStatusEnumType.reserved: ConnectorStatus.RESERVED,
    ConnectorStatusEnumType.unavailable: ConnectorStatus.UNAVAILABLE,
    ConnectorStatusEnumType.faulted: ConnectorStatus.FAULTED,
}


def evse_connector_number(numbering: EvseNumbering, evse_id: int, connector_id: int) -> int:
    """Our connector number for a 2.0.1 (evseId, connectorId) by the station's ``numbering``: see the module's
    docstring."""
    if evse_id < 0 or connector_id < 0:
        raise PropertyConstraintViolationError(details={"cause": f"evseId {evse_id}, connectorId {connector_id}"})
    number = numbering.connector_number(evse_id, connector_id)
    if number is None:
        raise NotSupportedError(
            description="No connector here is this EVSE's connector: the operator describes it on the connector "
            "(EVSE, connector on the EVSE)",
            details={"evseId": evse_id, "connectorId": connector_id},
        )
    return connector_number_checked(number)


def id_token_info(verdict: TagVerdict) -> datatypes.IdTokenInfoType:
    """The 2.0.1 idTokenInfo for ``services.id_tag_authorize``'s verdict (the fields 1.6's idTagInfo has)."""
    return datatypes.IdTokenInfoType(
        status=verdict.status,
        cache_expiry_date_time=utc_text(verdict.expiry_date) if verdict.expiry_date else None,
        group_id_token=(
            datatypes.IdTokenType(id_token=verdict.parent_id_tag, type=IdTokenEnumType.central)
            if verdict.parent_id_tag
            else None
        ),
    )


class CentralSystem201(AfterBoot201, TransactionHandlers, SignCertificate201, NotificationHandlers, OcppChargePoint):
    """The server's side of one charger's OCPP 2.0.1 conversation."""

    #: For the handlers of the mixins, which cannot import this module.
    id_token_info = staticmethod(id_token_info)

    def __init__(self, charge_point: ChargePoint, connection):
        super().__init__(charge_point.ocpp_id, connection)
        self.charge_point = charge_point
        self._evse_numbering: EvseNumbering | None = None

    async def route_message(self, raw_msg):
        """Before the first message: the station's described EVSEs read, for ``connector_number``."""
        if self._evse_numbering is None:
            self._evse_numbering = await db(evse_numbering)(charge_point=self.charge_point)
        await super().route_message(raw_msg)

    def connector_number(self, evse_id: int, connector_id: int) -> int:
        """Our connector number for a 2.0.1 (evseId, connectorId) of this station (``evse_connector_number``)."""
        return evse_connector_number(self._evse_numbering or EvseNumbering(), evse_id, connector_id)

    @on(Action.boot_notification)
    async def on_boot_notification(self, charging_station: dict, reason: str, **_optional):
        """As 1.6's boot; the reason (PowerUp, Watchdog, FirmwareUpdate, RemoteReset, ...) is kept too."""
        await db(self.charge_point.refresh_from_db)()  # the operator may have approved it meanwhile
        cp = await db(services.charge_point_boot)(
            charge_point=self.charge_point,
            vendor=charging_station["vendor_name"],
            model=charging_station["model"],
            serial_number=charging_station.get("serial_number", ""),
            firmware_version=charging_station.get("firmware_version", ""),
            at=timezone.now(),
            reason=reason,
        )
        return call_result.BootNotification(
            current_time=utc_text(timezone.now()),
            interval=cp.heartbeat_interval,
            status=_REGISTRATION[cp.registration_status],
        )

    @on(Action.heartbeat)
    async def on_heartbeat(self, **_optional):
        return call_result.Heartbeat(current_time=utc_text(timezone.now()))

    @on(Action.status_notification)
    async def on_status_notification(
        self, timestamp: str, connector_status: str, evse_id: int, connector_id: int, **_optional
    ):
        status = CONNECTOR_STATUS[ConnectorStatusEnumType(connector_status)]
        await batching.submit(
            services.connector_status_record_many,
            services.StatusReport(
                self.charge_point,
                self.connector_number(evse_id, connector_id),
                status,
                ErrorCode.OTHER_ERROR if status == ConnectorStatus.FAULTED else ErrorCode.NO_ERROR,
                parse_time(timestamp),
            ),
        )
        return call_result.StatusNotification()

    @on(Action.authorize)
    async def on_authorize(self, id_token: dict, **_optional):
        """An accepted card's driver is also told the prices here, in the driver's language (``hooks.tariff_message``,
        from billing), as the personal message."""
        verdict = await db(services.id_tag_authorize)(
            charge_point=self.charge_point, raw_uid=id_token["id_token"], at=timezone.now()
        )
        info = id_token_info(verdict)
        if verdict.status == AuthorizationStatus.ACCEPTED and verdict.id_tag is not None:
            message = await db(hooks.tariff_message)(
                charge_point=self.charge_point, id_tag=verdict.id_tag, at=timezone.now()
            )
            if message is not None:
                content = datatypes.MessageContentType(
                    format=MessageFormatEnumType.utf8, content=message.content, language=message.language
                )
                info = dataclasses.replace(info, personal_message=content, language_1=message.language)
        return call_result.Authorize(id_token_info=info)


class CentralSystem21(CentralSystem201):
    """The server's side of an OCPP 2.1 conversation: the 2.0.1 handlers, each message checked as 2.1 has it."""

    _call = v21.call
    _call_result = v21.call_result
    _ocpp_version = "2.1"
